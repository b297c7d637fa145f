"""The README's demo command: `meshgate demo -f examples/seed` serves HTTP and HTTPS on loopback."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from .e2e_helpers import PYTHON, ROOT, env, free_port


def _get(url: str, host: str, context: ssl.SSLContext | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_demo_serves_the_seed_topology_over_http_and_https() -> None:
    http, https, admin = free_port(), free_port(), free_port()
    command = [
        PYTHON,
        "-m",
        "meshgate",
        "demo",
        "-f",
        str(ROOT / "examples" / "seed"),
        "--duration",
        "40",
        "--http",
        f"127.0.0.1:{http}",
        "--https",
        f"127.0.0.1:{https}",
        "--admin",
        f"127.0.0.1:{admin}",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env()
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Ctrl-C stops" in line:
                break
        text = "".join(output)
        assert "Ctrl-C stops" in text, text
        status, body = _get(f"http://127.0.0.1:{http}/tea", "cafe.example.com")
        assert status == 200 and '"name": "tea-svc"' in body
        status, body = _get(f"http://127.0.0.1:{http}/api/x", "rest.xiaohoucode.com")
        assert status == 200 and '"name": "rest-v' in body
        assert _get(f"http://127.0.0.1:{http}/tea/green", "cafe.example.com")[0] == 404
        ca_file = re.search(r"--cacert (\S+)", text)
        assert ca_file is not None
        context = ssl.create_default_context(cafile=ca_file.group(1))
        with (
            socket.create_connection(("127.0.0.1", https), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="rest.xiaohoucode.com") as tls,
        ):
            tls.sendall(b"GET /api/x HTTP/1.1\r\nHost: rest.xiaohoucode.com\r\nConnection: close\r\n\r\n")
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 200") and b'"name": "rest-v' in reply
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output.extend(process.communicate(timeout=15)[0].splitlines(keepends=True))
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0
    temp = re.search(r"--cacert (\S+)/demo-ca.crt", "".join(output))
    assert temp is not None and not Path(temp.group(1)).exists()  # temporary secrets are removed
