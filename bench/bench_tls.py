"""TLS benchmark: meshgate vs nginx terminating HTTPS with the same certificate, loopback only.

    .venv/bin/python bench/bench_tls.py [--duration 10] [--connections 50] [--repeat 3] [--pin]

Two measurements, each against both proxies in interleaved repetitions (medians printed):
- full handshakes: `wrk -H 'Connection: close'`, so every request opens a new TLS connection (wrk
  never resumes sessions; nginx has session tickets and cache off): TLS connections per second;
- keep-alive: plain `wrk` over HTTPS: requests per second on established TLS connections.

Both proxies serve one ECDSA P-256 certificate (generated here, key file 0600 in a private temporary
directory removed on exit), TLS 1.2-1.3 defaults, and forward to the same nginx upstream
(`return 200 "ok\\n"`) with keep-alive. nginx runs one worker, meshgate one process. Needs `nginx`
and `wrk` on PATH. Every process it starts is stopped on exit. `--pin` as in bench_proxy.py.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ROOT,
    Result,
    cpu_placement,
    cpu_times,
    free_port,
    pinned,
    render,
    run_wrk,
    started,
    steal_note,
    wait_http,
)

NGINX_TLS = """\
daemon off;
master_process off;
worker_processes 1;
pid {work}/tls.pid;
error_log {work}/tls.error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {work}/tls_body;
    proxy_temp_path {work}/tls_proxy;
    fastcgi_temp_path {work}/tls_fastcgi;
    uwsgi_temp_path {work}/tls_uwsgi;
    scgi_temp_path {work}/tls_scgi;
    upstream bench_upstream {{
        server 127.0.0.1:{upstream};
        keepalive 1024;  # as bench/nginx/proxy.conf.tmpl: more idle upstream connections than wrk opens
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache off;
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""

MESHGATE = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {{name: bench-gateway, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
    - port: {{number: 443, name: https, protocol: HTTPS}}
      hosts: ["*"]
      tls: {{mode: SIMPLE, serverCertificate: {cert}, privateKey: {key}}}
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: bench, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [istio-system/bench-gateway]
  http:
    - route:
        - destination: {{host: bench-upstream, port: {{number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: bench-upstream, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: {upstream}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: bench-upstream, namespace: default}}
subsets:
  - addresses: [{{ip: 127.0.0.1}}]
    ports: [{{name: http, port: {upstream}}}]
"""


def make_certificate(work: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("bench.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = work / "bench.crt", work / "bench.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


def run_wrk_https(port: int, duration: int, connections: int, threads: int, cpus: str, close: bool) -> Result:
    """harness.run_wrk over https; `Connection: close` makes every request a new handshake."""
    headers = ("Connection: close",) if close else ()
    return run_wrk(port, duration, connections, threads, cpus, scheme="https", headers=headers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per proxy (default 2)")
    parser.add_argument(
        "--pin", action="store_true", help="proxies on the last CPU, wrk + upstream on the others"
    )
    args = parser.parse_args(argv)
    placement = cpu_placement("bench_tls", args.pin)
    if placement is None:
        return 2
    proxy_cpus, other_cpus = placement
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-tls-") as tmp, started(processes):
        work = Path(tmp)
        cert, key = make_certificate(work)
        upstream, nginx_port, meshgate_port = free_port(), free_port(), free_port()
        upstream_conf = render(
            "upstream.conf.tmpl", work / "upstream.conf", workdir=work, upstream_port=upstream
        )
        tls_conf = work / "tls.conf"
        tls_conf.write_text(
            NGINX_TLS.format(work=work, upstream=upstream, port=nginx_port, cert=cert, key=key)
        )
        config = work / "meshgate.yaml"
        config.write_text(MESHGATE.format(cert=cert, key=key, upstream=upstream))
        devnull = subprocess.DEVNULL
        for conf, where in ((upstream_conf, other_cpus), (tls_conf, proxy_cpus)):
            processes.append(
                subprocess.Popen(
                    pinned(["nginx", "-p", str(work), "-c", str(conf)], where), stdout=devnull, stderr=devnull
                )
            )
        meshgate = [sys.executable, "-m", "meshgate", "serve", "-f", str(config)]
        # one worker like nginx (`serve` defaults to one per core: two processes sharing the pinned CPU)
        meshgate += ["--bind", f"443=127.0.0.1:{meshgate_port}", "--admin", "off", "--workers", "1"]
        with (work / "meshgate.log").open("wb") as log:
            processes.append(
                subprocess.Popen(
                    pinned(meshgate, proxy_cpus),
                    stdout=devnull,
                    stderr=log,
                    cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                )
            )
        wait_http(upstream)
        for port in (nginx_port, meshgate_port):
            wait_http(port, scheme="https")
        targets = {"nginx": nginx_port, "meshgate": meshgate_port}
        kinds = {"handshakes": True, "keep-alive": False}
        if args.warmup:
            for port in targets.values():
                run_wrk_https(port, args.warmup, args.connections, args.threads, other_cpus, False)
        results: dict[tuple[str, str], list[Result]] = {}
        before = cpu_times()
        for rep in range(args.repeat):
            for kind, close in kinds.items():
                for name, port in targets.items():
                    result = run_wrk_https(
                        port, args.duration, args.connections, args.threads, other_cpus, close
                    )
                    results.setdefault((kind, name), []).append(result)
                    unit = "conn/s" if close else "req/s"
                    print(
                        f"  run {rep + 1}/{args.repeat} {kind:10s} {name:8s} {result.rps:10.0f} {unit}  "
                        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms",
                        flush=True,
                    )
    medians = {
        key: Result(
            statistics.median(r.rps for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
        )
        for key, runs in results.items()
    }
    placement = f"proxies on CPU {proxy_cpus}, wrk + upstream on CPU {other_cpus}" if args.pin else "unpinned"
    print(
        f"\nmedians of {args.repeat} x {args.duration}s, wrk -t{args.threads} -c{args.connections}, "
        f"{os.cpu_count()} CPUs, {placement}"
    )
    print(f"{'measure':24s} {'nginx':>10s} {'meshgate':>10s} {'ratio':>7s}  p99 nginx/meshgate ms")
    for kind, close in kinds.items():
        unit = "TLS connections/s" if close else "keep-alive req/s"
        n, m = medians[(kind, "nginx")], medians[(kind, "meshgate")]
        print(f"{unit:24s} {n.rps:10.0f} {m.rps:10.0f} {m.rps / n.rps:7.2f}  {n.p99_ms:.2f} / {m.p99_ms:.2f}")
    print(steal_note(before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
