"""`meshgate demo -f examples/seed`: the example topology running on this machine.

Starts one demo backend per Service endpoint on loopback (as listed in the config's Endpoints),
issues a throwaway CA and a certificate for the example hosts and supplies it as the
credentialName Secrets the Gateways and the Ingress name (replacing the seed's truncated Secret), then
runs `meshgate serve` with HTTP on 127.0.0.1:8080 and HTTPS on 127.0.0.1:8443 and prints curl lines.
Ctrl-C stops everything and removes the temporary files.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshgate.cli.common import add_config_arguments
from meshgate.cli.demo_backend import BackendProtocol
from meshgate.resources.core import Endpoints, Service
from meshgate.resources.ingress import Ingress
from meshgate.resources.istio import Gateway
from meshgate.sources import load_paths

DEMO_HOSTS = ("rest.xiaohoucode.com", "*.xiaohoucode.com", "cafe.example.com", "*.example.com")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run the example topology with demo backends on loopback")
    add_config_arguments(parser)
    parser.add_argument("--http", default="127.0.0.1:8080", help="where server port 80 listens")
    parser.add_argument("--https", default="127.0.0.1:8443", help="where server port 443 listens")
    parser.add_argument("--admin", default="127.0.0.1:15000")
    parser.add_argument(
        "--duration", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    load = load_paths(args.paths)
    backends = _loopback_endpoints(load.bundle)
    with tempfile.TemporaryDirectory(prefix="meshgate-demo-") as workdir:
        secrets, ca_file = _write_demo_secrets(Path(workdir), load.bundle)
        command = [
            sys.executable,
            "-m",
            "meshgate",
            "serve",
            *(x for p in args.paths for x in ("-f", p)),
            "-f",
            str(secrets),
            "--bind",
            f"80={args.http}",
            "--bind",
            f"443={args.https}",
            "--admin",
            args.admin,
            "--access-log",
            "text",
            "--workload-labels",
            args.workload_labels,
            "--namespace",
            args.namespace,
        ]
        return asyncio.run(_run(backends, command, args, ca_file))


def _loopback_endpoints(bundle: Any) -> list[tuple[str, str, int]]:
    """(service name, address, port) for every Endpoints address on loopback."""
    names = {(s.namespace, s.name) for s in bundle.of(Service)}
    found: dict[tuple[str, int], str] = {}
    for endpoints in bundle.of(Endpoints):
        if (endpoints.namespace, endpoints.name) not in names:
            continue
        for subset in endpoints.subsets:
            for address in subset.addresses:
                if address.ip.startswith("127."):
                    for port in subset.ports:
                        found.setdefault((address.ip, port.port), endpoints.name)
    return [(name, ip, port) for (ip, port), name in sorted(found.items())]


def _credential_names(bundle: Any) -> set[str]:
    names = {
        server.tls.credential_name
        for gateway in bundle.of(Gateway)
        for server in gateway.spec.servers
        if server.tls and server.tls.credential_name
    }
    names |= {
        tls.secret_name for ingress in bundle.of(Ingress) for tls in ingress.spec.tls if tls.secret_name
    }
    return names


def _write_demo_secrets(workdir: Path, bundle: Any) -> tuple[Path, Path]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "meshgate demo CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in DEMO_HOSTS]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_b64 = base64.b64encode(leaf.public_bytes(serialization.Encoding.PEM)).decode()
    key_b64 = base64.b64encode(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()
    documents = [
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: istio-system}}\n"
        f"type: kubernetes.io/tls\ndata:\n  tls.crt: {cert_b64}\n  tls.key: {key_b64}\n"
        for name in sorted(_credential_names(bundle))
    ]
    secrets = workdir / "demo-secrets.yaml"
    secrets.write_text(
        "# generated by `meshgate demo`: throwaway certificate\n---\n" + "---\n".join(documents)
    )
    secrets.chmod(0o600)
    ca_file = workdir / "demo-ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return secrets, ca_file


async def _run(
    backends: list[tuple[str, str, int]], command: list[str], args: argparse.Namespace, ca_file: Path
) -> int:
    loop = asyncio.get_running_loop()
    servers = []
    for name, ip, port in backends:
        try:
            servers.append(await loop.create_server(partial(BackendProtocol, name), ip, port))
        except OSError as exc:
            print(f"meshgate demo: cannot start backend {name} on {ip}:{port}: {exc}", file=sys.stderr)
            return 1
        print(f"backend {name} on http://{ip}:{port}")
    gateway = subprocess.Popen(command)
    try:
        if not await loop.run_in_executor(None, _wait_ready, args.admin, gateway):
            print("meshgate demo: the gateway did not become ready", file=sys.stderr)
            return 1
        _print_try_lines(args, ca_file)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration or None)
        return 0
    finally:
        gateway.send_signal(signal.SIGINT)  # stop now: no SIGTERM drain delay for a demo
        with contextlib.suppress(subprocess.TimeoutExpired):
            gateway.wait(timeout=10)
        if gateway.poll() is None:
            gateway.kill()
        for server in servers:
            server.close()


def _wait_ready(admin: str, gateway: subprocess.Popen[bytes], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and gateway.poll() is None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://{admin}/healthz/ready", timeout=1) as ok,
        ):
            if ok.status == 200:
                return True
        time.sleep(0.1)
    return False


def _print_try_lines(args: argparse.Namespace, ca_file: Path) -> None:
    http, https = args.http, args.https
    https_port = https.rsplit(":", 1)[1]
    print(
        f"""
meshgate is serving examples on http://{http} and https://{https} (admin http://{args.admin}). Try:

  curl -s http://{http}/tea -H 'Host: cafe.example.com'
  curl -s http://{http}/coffee -H 'Host: cafe.example.com'
  curl -s http://{http}/api/users -H 'Host: rest.xiaohoucode.com'                       # 90/10 split v1/v2
  curl -s http://{http}/api/users -H 'Host: rest.xiaohoucode.com' -H 'x-canary: true'   # always v2
  curl -si http://{http}/docs/intro -H 'Host: rest.xiaohoucode.com'                     # 302 to /help
  curl -si http://{http}/tea/green -H 'Host: cafe.example.com'                          # 404 NR: exact path
  curl -s --cacert {ca_file} --resolve rest.xiaohoucode.com:{https_port}:127.0.0.1 https://rest.xiaohoucode.com:{https_port}/api/x
  curl -s http://{args.admin}/stats/prometheus | grep istio_requests_total
  .venv/bin/meshgate explain -f examples/seed http://cafe.example.com/tea/green

Ctrl-C stops the gateway and the backends.
""",
        flush=True,
    )
