"""Cost of live operations: metrics and access log on/off, and `--workers 2` vs 1, against nginx
with 1 and 2 workers. Same machine, loopback only, every process stopped on exit.

    .venv/bin/python bench/bench_live.py [--duration 5] [--connections 50] [--repeat 2]

Variants (all `meshgate serve`, same route as bench_proxy.py):
    meshgate-bare      --workers 1 --stats off, no access log
    meshgate-stats     --workers 1 (istio_* counters and histograms on: the default)
    meshgate-stats+log --workers 1 --access-log json (to /dev/null)
    meshgate-w2        --workers 2 (stats on)
    nginx-w1, nginx-w2 nginx reverse proxy with 1 and 2 worker processes
wrk runs interleaved; medians of req/s, p50 and p99 are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, Result, free_port, render, run_wrk, started, wait_http


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-live-") as tmp, started(processes):
        work = Path(tmp)
        upstream_port = free_port()
        values = {"workdir": work, "upstream_port": upstream_port, "proxy_port": 0}
        config = render("meshgate.yaml.tmpl", work / "meshgate.yaml", **values)
        devnull = subprocess.DEVNULL
        upstream_conf = render("upstream.conf.tmpl", work / "upstream.conf", **values)
        processes.append(subprocess.Popen(["nginx", "-p", str(work), "-c", str(upstream_conf)]))
        targets: dict[str, int] = {}
        for workers in (1, 2):
            port = free_port()
            conf = render(
                "proxy.conf.tmpl",
                work / f"proxy{workers}.conf",
                **{**values, "proxy_port": port, "workers": workers, "master": "on"},
            )
            conf.write_text(conf.read_text().replace("/proxy.pid", f"/proxy{workers}.pid"))
            processes.append(subprocess.Popen(["nginx", "-p", str(work), "-c", str(conf)], stderr=devnull))
            targets[f"nginx-w{workers}"] = port
        variants = {
            "meshgate-bare": ["--workers", "1", "--stats", "off"],
            "meshgate-stats": ["--workers", "1"],
            "meshgate-stats+log": ["--workers", "1", "--access-log", "json"],
            "meshgate-w2": ["--workers", "2"],
        }
        for name, extra in variants.items():
            port = free_port()
            command = [sys.executable, "-m", "meshgate", "serve", "-f", str(config), "--no-watch"]
            command += ["--bind", f"80=127.0.0.1:{port}", "--admin", "off", "--drain-delay", "0", *extra]
            with (work / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command,
                        stdout=devnull,
                        stderr=log,
                        cwd=ROOT,
                        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                    )
                )
            targets[name] = port
        for port in (upstream_port, *targets.values()):
            wait_http(port)
        if args.warmup:
            for port in targets.values():
                run_wrk(port, args.warmup, args.connections, args.threads)
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for rep in range(args.repeat):
            for name, port in targets.items():
                result = run_wrk(port, args.duration, args.connections, args.threads)
                results[name].append(result)
                print(
                    f"  run {rep + 1}/{args.repeat} {name:18s} {result.rps:10.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms",
                    flush=True,
                )
    print(
        f"\nmedians of {args.repeat} x {args.duration}s, wrk -t{args.threads} -c{args.connections}, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"{'target':18s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        print(f"{name:18s} {rps:10.0f} {p50:8.2f} {p99:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
