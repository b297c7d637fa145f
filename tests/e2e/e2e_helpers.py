"""End-to-end helpers: YAML configs with ports chosen at test time, and `meshgate serve` /
`meshgate demo-backend` run as subprocesses that are always stopped (by pid) and bounded in time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

GATEWAY = """\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
"""


def service(name: str, port: int, namespace: str = "default") -> str:
    """A Service (port 80 → `port`) and its Endpoints on 127.0.0.1."""
    return f"""\
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  ports: [{{name: http, port: 80, targetPort: {port}}}]
---
apiVersion: v1
kind: Endpoints
metadata: {{name: {name}, namespace: {namespace}}}
subsets:
  - addresses: [{{ip: 127.0.0.1}}]
    ports: [{{name: http, port: {port}}}]
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1"}


def http_get(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


@contextlib.contextmanager
def process(args: Sequence[str], tmp: Path, name: str) -> Iterator[Proc]:
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            [PYTHON, "-m", "meshgate", *args], stdout=stdout, stderr=stderr, env=env(), cwd=ROOT
        )
    proc = Proc(popen, out, err)
    try:
        yield proc
    finally:
        proc.stop()


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def ready(admin_port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{admin_port}/healthz/ready", timeout=0.5)[0] == 200
    except OSError:
        return False


def listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def serve(config: Path, tmp: Path, *extra: str) -> Iterator[tuple[Proc, int, int]]:
    """`meshgate serve` on a free port (server port 80) with the admin API on another."""
    port, admin = free_port(), free_port()
    args = [
        "serve",
        "-f",
        str(config),
        "--bind",
        f"80=127.0.0.1:{port}",
        "--admin",
        f"127.0.0.1:{admin}",
        "--workers",
        "1",
        "--drain-delay",
        "0",
        *extra,
    ]
    with process(args, tmp, "gateway") as proc:
        if not wait_until(lambda: ready(admin) or proc.popen.poll() is not None):
            raise AssertionError(f"gateway not ready: {proc.stderr()}")
        assert proc.popen.poll() is None, proc.stderr()
        yield proc, port, admin


@contextlib.contextmanager
def demo_backend(tmp: Path, name: str) -> Iterator[int]:
    port = free_port()
    with process(
        ["demo-backend", "--listen", f"127.0.0.1:{port}", "--name", name], tmp, f"backend-{name}"
    ) as proc:
        assert wait_until(lambda: listening(port) or proc.popen.poll() is not None), proc.stderr()
        yield port


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
