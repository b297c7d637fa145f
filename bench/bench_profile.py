"""Where the gateway's CPU goes under load: a py-spy flame graph of `meshgate serve` and its top frames.

    .venv/bin/python bench/bench_profile.py [--seconds 10] [--rate 499] [--connections 50]
        [--access-log text] [--out bench/results/profile-NAME]

Starts an nginx upstream and `meshgate serve` with the headline setup of bench_proxy.py (access log
to a file, stats on) as one process (`--workers 1`: no supervisor), pinned as there (gateway on the
last CPU, wrk + upstream on the others), drives wrk at it and samples it with `py-spy record --native`
(C frames too: the data plane is compiled, so most of its frames are mypyc's C functions
`CPyDef_<module>___<Class>___<method>` and the C helpers of _wire.c/_request_wire.c). Writes
OUT.svg (the flame graph) and OUT.txt (the 30 frames with the most samples inclusive and self, as
shares of the event-loop thread's samples, from a second recording of the same load). Needs py-spy
(requirements-dev.txt) and permission to ptrace a child process (the default on Debian). Loopback
only; stops every process it starts.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import (
    ROOT,
    cpu_placement,
    free_port,
    pinned,
    run_wrk,
    start_gateway,
    start_upstream,
    started,
    wait_http,
)

PY_SPY = Path(sys.executable).parent / "py-spy"


def shares(collapsed: Path, thread: str = "MainThread", top: int = 30) -> str:
    """The frames with the most samples in py-spy's collapsed stacks, inclusive and self, as a
    share of `thread`'s samples (other threads: the access log's writer, idle pools)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    callers: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or thread not in frames[0]:
            continue
        count = int(count_text)
        total += count
        names = [frame.split(" (")[0] for frame in frames[1:]]
        for name in set(names):
            inclusive[name] += count
        if names:
            own[names[-1]] += count
            # the nearest caller that is not an anonymous address or refcount helper
            named = [n for n in names[:-1] if not n.startswith("0x") and "DECREF" not in n]
            callers[names[-1]][named[-1] if named else "-"] += count
    if total == 0:
        return f"no samples of {thread}\n"
    lines = [
        f"{total} samples of {thread}",
        "",
        "inclusive %  frame (those under 95 %: not the loop's own frames)",
    ]
    below = [(name, n) for name, n in inclusive.most_common() if n < 0.95 * total]
    lines += [f"{n / total * 100:10.1f}   {name}" for name, n in below[:top]]
    lines += ["", "     self %  frame  <-  its most frequent named caller"]
    lines += [
        f"{n / total * 100:10.1f}   {name}  <-  {callers[name].most_common(1)[0][0]}"
        for name, n in own.most_common(top)
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per recording (there are two)")
    parser.add_argument("--rate", type=int, default=499, help="samples per second")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--access-log", choices=("text", "json", "off"), default="text")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/profile")
    parser.add_argument("--keep-stacks", action="store_true", help="also write py-spy's stacks to OUT.stacks")
    args = parser.parse_args()
    if not PY_SPY.exists() or shutil.which("wrk") is None or shutil.which("nginx") is None:
        print("bench_profile: needs py-spy (requirements-dev.txt), wrk and nginx", file=sys.stderr)
        return 2
    placement = cpu_placement("bench_profile", True)
    if placement is None:
        return 2
    gateway_cpus, other_cpus = placement
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-profile-") as tmp, started(processes):
        work = Path(tmp)
        upstream_port, config = start_upstream(work, other_cpus, processes)
        gateway_port = free_port()
        quiet = subprocess.DEVNULL
        options = ("--workers", "1", "--access-log", args.access_log)
        gateway = start_gateway(
            config, gateway_port, gateway_cpus, processes, *options, stdout=work / "access.log"
        )
        wait_http(upstream_port)
        wait_http(gateway_port)
        url = f"http://127.0.0.1:{gateway_port}/"
        run_wrk(gateway_port, 3, args.connections, 2, other_cpus)  # warm-up
        load = subprocess.Popen(
            pinned(["wrk", "-t2", f"-c{args.connections}", f"-d{2 * args.seconds + 4}s", url], other_cpus),
            stdout=subprocess.PIPE,
            stderr=quiet,
        )
        processes.append(load)
        time.sleep(1.0)
        # py-spy writes either collapsed stacks or a flame graph: two recordings of the same load, one
        # after the other (one tracer at a time; --native pauses the gateway for each sample)
        collapsed, svg = work / "stacks.txt", args.out.with_suffix(".svg")
        svg.parent.mkdir(parents=True, exist_ok=True)
        record = [str(PY_SPY), "record", "--native", "--threads", "--pid", str(gateway.pid)]
        record += ["--rate", str(args.rate), "--duration", str(args.seconds)]
        for fmt, path in (("raw", collapsed), ("flamegraph", svg)):
            spy = subprocess.run(
                [*record, "--format", fmt, "--output", str(path)], capture_output=True, text=True, check=False
            )
            if spy.returncode != 0 or not path.exists():
                print(f"bench_profile: py-spy failed: {spy.stderr.strip()}", file=sys.stderr)
                return 1
        wrk_out, _ = load.communicate(timeout=2 * args.seconds + 30)
        summary = shares(collapsed)
        rate = next((line.strip() for line in wrk_out.decode().splitlines() if "Requests/sec" in line), "")
        header = (
            f"meshgate serve (access log {args.access_log}, stats on), wrk -t2 -c{args.connections}, "
            f"gateway on CPU {gateway_cpus}; py-spy --native {args.rate} Hz, 2 x {args.seconds} s; "
            f"wrk over both: {rate}\n\n"
        )
        args.out.with_suffix(".txt").write_text(header + summary)
        if args.keep_stacks:
            shutil.copy(collapsed, args.out.with_suffix(".stacks"))
        print(header + summary)
        print(f"wrote {svg} {args.out.with_suffix('.txt')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
