"""`meshgate serve` on the seed topology (plus a valid cafe-secret): the truncated Secret's chain is
reported on stderr and refuses its connections, cafe.example.com is served on the same port."""

from __future__ import annotations

import shutil
import socket
import ssl
from pathlib import Path

import trustme

from e2e.e2e_helpers import free_port, serve

from .tlshelp import client_context, tls_secret

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"


def _handshake(port: int, sni: str, ca: trustme.CA) -> str | None:
    """The served certificate's first DNS SAN, or None when the gateway refused."""
    context = client_context(ca)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            tls.sendall(f"GET /tea HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
            if not tls.recv(100).startswith(b"HTTP/1.1 "):
                return None
            peer = tls.getpeercert()
            return next(value for kind, value in peer["subjectAltName"] if kind == "DNS")  # type: ignore[index]
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return None


def test_serve_reports_and_refuses_the_broken_secret(tmp_path: Path) -> None:
    ca = trustme.CA()
    config = tmp_path / "seed"
    shutil.copytree(SEED, config)
    (config / "90-cafe-secret.yaml").write_text(tls_secret("cafe-secret", ca.issue_cert("cafe.example.com")))
    tls_port = free_port()
    with serve(config, tmp_path, "--bind", f"443=127.0.0.1:{tls_port}") as (proc, _, _):
        assert _handshake(tls_port, "cafe.example.com", ca) == "cafe.example.com"
        assert _handshake(tls_port, "rest.xiaohoucode.com", ca) is None
        stderr = proc.stderr()
        assert "IST0161" in stderr and "istio-ingressgateway-certs" in stderr
        assert "closes its connections" in stderr, stderr
