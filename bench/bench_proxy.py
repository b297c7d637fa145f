"""Data-plane benchmark: meshgate vs nginx as a reverse proxy, same machine, loopback only.

    .venv/bin/python bench/bench_proxy.py [--duration 10] [--connections 50] [--repeat 3]

Starts an nginx upstream (`return 200 "ok\\n"`), nginx as a reverse proxy (1 worker, upstream
keep-alive) and `meshgate serve` (one process) with the same route, runs `wrk` against both proxies
in interleaved repetitions and prints the medians of req/s, p50 and p99, and the ratio. Installs
nothing: it needs `nginx` and `wrk` on PATH (Debian: `apt-get install -y nginx wrk`). Every process
it starts is stopped on exit. Target: meshgate >= 35% of nginx req/s with p99 < 10 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "nginx"
ROOT = HERE.parent


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render(name: str, dest: Path, **values: object) -> Path:
    text = Template((TEMPLATES / name).read_text()).substitute({k: str(v) for k, v in values.items()})
    dest.write_text(text)
    return dest


def wait_http(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                if response.status == 200:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"nothing answers 200 on 127.0.0.1:{port}: {last}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(port: int, duration: int, connections: int, threads: int, cpus: str = "") -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    command.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(
        pinned(command, cpus), check=True, capture_output=True, text=True, timeout=duration + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx responses on port {port}", file=sys.stderr)
    return Result(rps, p50, p99)


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


@contextlib.contextmanager
def started(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


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
        "--pin",
        action="store_true",
        help="pin both proxies to the last CPU, wrk and the upstream to the others (the same "
        "placement for nginx and meshgate; steadier numbers on small machines)",
    )
    args = parser.parse_args(argv)

    placement = cpu_placement("bench_proxy", args.pin)
    if placement is None:
        return 2
    proxy_cpus, other_cpus = placement
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-") as tmp, started(processes):
        work = Path(tmp)
        upstream_port, nginx_port, meshgate_port = free_port(), free_port(), free_port()
        values = {"workdir": work, "upstream_port": upstream_port, "proxy_port": nginx_port}
        upstream_conf = render("upstream.conf.tmpl", work / "upstream.conf", **values)
        proxy_conf = render("proxy.conf.tmpl", work / "proxy.conf", **values)
        config = render("meshgate.yaml.tmpl", work / "meshgate.yaml", **values)
        devnull = subprocess.DEVNULL
        for conf, where in ((upstream_conf, other_cpus), (proxy_conf, proxy_cpus)):
            command = pinned(["nginx", "-p", str(work), "-c", str(conf)], where)
            processes.append(subprocess.Popen(command, stdout=devnull, stderr=devnull))
        meshgate = [sys.executable, "-m", "meshgate", "serve", "-f", str(config)]
        meshgate += ["--bind", f"80=127.0.0.1:{meshgate_port}", "--admin", "off", "--workers", "1"]
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
        for port in (upstream_port, nginx_port, meshgate_port):
            wait_http(port)
        targets = {"nginx": nginx_port, "meshgate": meshgate_port}
        if args.warmup:
            for port in targets.values():
                run_wrk(port, args.warmup, args.connections, args.threads, other_cpus)
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for rep in range(args.repeat):
            for name, port in targets.items():
                result = run_wrk(port, args.duration, args.connections, args.threads, other_cpus)
                results[name].append(result)
                print(
                    f"  run {rep + 1}/{args.repeat} {name:8s} {result.rps:10.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms",
                    flush=True,
                )
        medians = {
            name: Result(
                statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs),
            )
            for name, runs in results.items()
        }
    ratio = medians["meshgate"].rps / medians["nginx"].rps
    placement = f"proxies on CPU {proxy_cpus}, wrk + upstream on CPU {other_cpus}" if args.pin else "unpinned"
    print(
        f"\nmedians of {args.repeat} x {args.duration}s, wrk -t{args.threads} -c{args.connections}, "
        f"{os.cpu_count()} CPUs, {placement}"
    )
    print(f"{'proxy':10s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, result in medians.items():
        print(f"{name:10s} {result.rps:10.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f}")
    ok = ratio >= 0.35 and medians["meshgate"].p99_ms < 10.0
    verdict = "PASS" if ok else "FAIL"
    print(f"meshgate/nginx req/s ratio: {ratio:.2f} (target >= 0.35, p99 < 10 ms): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
