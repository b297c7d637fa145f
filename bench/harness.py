"""Shared pieces of the nginx/wrk data-plane benchmarks: ports, templates, wrk, CPU placement, processes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "nginx"
ROOT = HERE.parent

# Placeholders of bench/nginx/*.tmpl a caller need not give: one nginx worker without a master process,
# and the upstream's 16 KiB body as 16 lines of 1 KiB (an nginx config token is limited to 4 KiB).
TEMPLATE_DEFAULTS: dict[str, object] = {"workers": 1, "master": "off", "kib_line": "x" * 1023 + "\\n"}


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    socket_errors: int = 0  # wrk's connect + read + write errors
    timeouts: int = 0
    non2xx: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(name: str, dest: Path, **values: object) -> Path:
    merged = {**TEMPLATE_DEFAULTS, **values}
    text = Template((TEMPLATES / name).read_text()).substitute({k: str(v) for k, v in merged.items()})
    dest.write_text(text)
    return dest


def wait_http(port: int, timeout: float = 15.0, scheme: str = "http") -> None:
    """Until 127.0.0.1:`port` answers 200 (https: any certificate, the benches make their own)."""
    context = None
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"{scheme}://127.0.0.1:{port}/", timeout=1, context=context
            ) as response:
                if response.status == 200:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers 200 over {scheme} on 127.0.0.1:{port}: {last}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    port: int,
    duration: int,
    connections: int,
    threads: int,
    cpus: str = "",
    path: str = "/",
    *,
    scheme: str = "http",
    headers: tuple[str, ...] = (),
) -> Result:
    """One wrk run against 127.0.0.1:`port` (wrk pinned to `cpus` when given), parsed."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    command.append(f"{scheme}://127.0.0.1:{port}{path}")
    out = subprocess.run(
        pinned(command, cpus), check=True, capture_output=True, text=True, timeout=duration + 30
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> Result:
    """Req/s, p50, p99 (`--latency`), requests, socket errors, timeouts and non-2xx of wrk's output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    socket_errors = dict(re.findall(r"(connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Result(
        rps,
        p50,
        p99,
        done,
        sum(int(socket_errors.get(kind, 0)) for kind in ("connect", "read", "write")),
        int(socket_errors.get("timeout", 0)),
        int(non2xx.group(1)) if non2xx else 0,
    )


def cpu_placement(tool: str, pin: bool) -> tuple[str, str] | None:
    """(proxy CPUs, wrk + upstream CPUs) for `--pin` — the proxies on the last CPU, the load on the
    others — or ("", "") unpinned; None, after saying why, when nginx, wrk or taskset is missing."""
    missing = [t for t in ("nginx", "wrk", *(("taskset",) if pin else ())) if shutil.which(t) is None]
    if missing:
        print(f"{tool}: missing {', '.join(missing)} (Debian: apt-get install -y nginx wrk)", file=sys.stderr)
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if pin and len(cpus) < 2:
        print(f"{tool}: --pin needs at least two CPUs", file=sys.stderr)
        return None
    return (str(cpus[-1]), ",".join(str(cpu) for cpu in cpus[:-1])) if pin else ("", "")


def pinned(command: list[str], cpus: str) -> list[str]:
    return ["taskset", "-c", cpus, *command] if cpus else command


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def started(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Every process in `processes` is stopped on the way out, also when the benchmark itself is
    stopped with SIGTERM (by default that ends Python without running this `finally`, and nginx,
    wrk and the gateways outlived it)."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def cpu_times() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs so far (/proc/stat); (0, 0) where there is none."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_note(before: tuple[int, int]) -> str:
    """The share of CPU time the hypervisor gave other guests since `before` (cpu_times()): on a
    shared VM this is what makes one run's figures differ from another's; a run with much of it is
    noisy, and its ratios (measured round by round, the contenders interleaved) are the figures to
    read, not its req/s."""
    steal, total = (now - then for now, then in zip(cpu_times(), before, strict=True))
    if total <= 0:
        return "CPU steal: not known"
    return f"CPU steal during the run: {100 * steal / total:.1f} % of CPU time"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children(pid: int) -> list[int]:
    """The child processes of `pid` (every thread's list in /proc/PID/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def serving_rss_kib(pid: int) -> int:
    """RSS of the processes that serve: the children of a supervisor (`serve --workers N`, N > 1)
    summed, or `pid` itself when it has none."""
    workers = children(pid)
    return sum(rss_kib(child) for child in workers) if workers else rss_kib(pid)


def start_upstream(work: Path, cpus: str, processes: list[subprocess.Popen[bytes]]) -> tuple[int, Path]:
    """The nginx upstream of the benchmarks (`return 200`, /16k) on `cpus`, added to `processes`, and
    the meshgate configuration that routes to it: (upstream port, config path)."""
    upstream_port = free_port()
    values = {"workdir": work, "upstream_port": upstream_port, "proxy_port": free_port()}
    upstream_conf = render("upstream.conf.tmpl", work / "upstream.conf", **values)
    config = render("meshgate.yaml.tmpl", work / "meshgate.yaml", **values)
    nginx = pinned(["nginx", "-p", str(work), "-c", str(upstream_conf)], cpus)
    processes.append(subprocess.Popen(nginx, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return upstream_port, config


def start_gateway(
    config: Path,
    port: int,
    cpus: str,
    processes: list[subprocess.Popen[bytes]],
    *options: str,
    stdout: Path | None = None,
    stderr: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`meshgate serve -f CONFIG --admin off --bind 80=127.0.0.1:PORT OPTIONS` from this checkout on
    `cpus`, added to `processes`; its stdout (the access log) and stderr to the files given, else
    nowhere."""
    command = [sys.executable, "-m", "meshgate", "serve", "-f", str(config), "--admin", "off"]
    command += ["--bind", f"80=127.0.0.1:{port}", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with (stdout or Path(os.devnull)).open("ab") as out, (stderr or Path(os.devnull)).open("ab") as err:
        proc = subprocess.Popen(pinned(command, cpus), stdout=out, stderr=err, cwd=ROOT, env=env)
    processes.append(proc)
    return proc
