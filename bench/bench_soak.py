"""Soak: RSS and open file descriptors of `meshgate serve` across a long run (default 1M requests).

    .venv/bin/python bench/bench_soak.py [--requests 1000000] [--chunk 10] [--connections 50] [--pin]
                                         [--access-log text|json|off]

Starts an nginx upstream and one `meshgate serve` process (as bench_proxy.py's headline: access log
to a file in the work directory, by its writer thread, and stats on), warms up, then
drives wrk in chunks of `--chunk` seconds until `--requests` have been answered, sampling the gateway's
VmRSS and fd count after each chunk. Passes when RSS stays within ±10 % of the post-warm-up sample and
the fd count does not grow after the first chunk (the upstream pool grows to the peak concurrency
once). Loopback only; every process it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from harness import (
    cpu_placement,
    free_port,
    rss_kib,
    run_wrk,
    start_gateway,
    start_upstream,
    started,
    wait_http,
)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wrk_requests(port: int, seconds: int, connections: int, cpus: str) -> tuple[int, int]:
    """(requests answered, socket errors + timeouts + non-2xx) of one wrk run."""
    result = run_wrk(port, seconds, connections, 2, cpus)
    return result.requests, result.socket_errors + result.timeouts + result.non2xx


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--pin", action="store_true", help="gateway on the last CPU, wrk + upstream on the rest"
    )
    parser.add_argument(
        "--access-log", choices=("text", "json", "off"), default="text", help="written to a file"
    )
    args = parser.parse_args()
    placement = cpu_placement("bench_soak", args.pin)
    if placement is None:
        return 2
    gateway_cpus, other_cpus = placement
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-soak-") as tmp, started(processes):
        work = Path(tmp)
        upstream_port, config = start_upstream(work, other_cpus, processes)
        gateway_port = free_port()
        log_path = work / "access.log"
        options = ("--workers", "1", "--access-log", args.access_log)
        gateway = start_gateway(config, gateway_port, gateway_cpus, processes, *options, stdout=log_path)
        wait_http(upstream_port)
        wait_http(gateway_port)
        warm, _ = wrk_requests(gateway_port, 3, args.connections, other_cpus)  # pools, caches, allocator
        time.sleep(1.0)  # every sample is taken with the client connections gone
        base_rss, base_fds = rss_kib(gateway.pid), fd_count(gateway.pid)
        print(f"after warm-up: RSS {base_rss / 1024:.1f} MiB, {base_fds} fds")
        total = failures = 0
        worst = 0.0
        # The fd baseline is taken after the first full chunk: the upstream pool keeps as many idle
        # connections as the peak concurrency seen so far, which the 3 s warm-up may not reach.
        steady_fds = -1
        while total < args.requests:
            done, errors = wrk_requests(gateway_port, args.chunk, args.connections, other_cpus)
            total, failures = total + done, failures + errors
            time.sleep(1.0)  # let the closed client connections go before counting
            rss, fds = rss_kib(gateway.pid), fd_count(gateway.pid)
            drift = (rss - base_rss) / base_rss * 100
            worst = max(worst, abs(drift))
            print(f"{total:>9} requests  RSS {rss / 1024:6.1f} MiB ({drift:+5.1f} %)  fds {fds}", flush=True)
            if steady_fds < 0:
                steady_fds = fds
        final_fds = fd_count(gateway.pid)
        time.sleep(0.5)  # the log's last lines are handed over every 0.2 s
        if args.access_log != "off":
            with log_path.open("rb") as log:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: log.read(1 << 20), b""))
            print(
                f"access log ({args.access_log}, written by its thread): {lines} lines, "
                f"{log_path.stat().st_size / 2**20:.0f} MiB, for {warm + total} requests answered"
            )
    base_fds = steady_fds if steady_fds >= 0 else base_fds
    rss_ok, fds_ok = worst <= 10.0, final_fds <= base_fds
    print(
        f"\n{total} requests, {failures} errors; worst RSS drift {worst:.1f} % (limit 10 %): "
        f"{'PASS' if rss_ok else 'FAIL'}; fds after the first chunk {base_fds} -> at the end {final_fds}: "
        f"{'PASS' if fds_ok else 'FAIL'}"
    )
    return 0 if rss_ok and fds_ok and failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
