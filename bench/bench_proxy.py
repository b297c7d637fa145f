"""Data-plane benchmark (issue #8): meshgate vs nginx as a reverse proxy, same machine, loopback only.

    .venv/bin/python bench/bench_proxy.py [--pin] [--duration 5] [--repeat 3] [--connections 50,200]
        [--bodies 3,16384] [--workers 1,2] [--minimal] [--no-lean] [--out FILE.md]

One nginx upstream answers `return 200` with "ok\\n" (3 bytes) on / and 16 KiB on /16k. For each
`--workers` count N, in turn, it starts the contenders, all with the same route (every path unchanged
to that upstream):
    nginx          reverse proxy, N worker processes, upstream keep-alive
    meshgate       `meshgate serve --workers N`, everything on: access log (`--access-log text`, stdout
                   to a file in the temporary directory, truncated between runs), `--stats on`, request ids
    meshgate-lean  the same with `--access-log off --stats off` (`--no-lean` leaves it out)
    minimal        with `--minimal`: bench/minimal_forwarder.py (N copies on SO_REUSEPORT), the least a
                   Python forwarder can do, the reference point issue #8 cites
and runs wrk against each at every (body, connections) cell, `--repeat` times interleaved (the order
of the contenders alternates), then prints per cell the medians of req/s, p50 and p99, wrk's socket
errors / timeouts / non-2xx responses summed over the runs, the ratio to nginx (median of the per-round
ratios, so a change of CPU speed between rounds cancels out) and the issue #8 targets: >= 0.55x nginx
req/s with a 3 B body, >= 0.80x with 16 KiB, p99 <= 2x nginx's, no errors. The RSS of the meshgate
processes (the workers summed when N > 1) is read before the first and after the last run.

`--pin` puts the proxies on the last CPU and wrk + upstream on the others when that leaves the load at
least one CPU: with N = 1 on two cores, yes; with N = 2 on two cores nothing can be pinned apart, so
that group runs unpinned and says so. `--out` writes the tables as markdown too. The defaults take
about 7 minutes on two cores (9 with `--minimal`); a smoke test:
`--duration 2 --repeat 1 --connections 50 --bodies 3 --workers 1`.

Installs nothing: it needs `nginx` and `wrk` on PATH (Debian: `apt-get install -y nginx wrk`). Every
process it starts is stopped on exit. Exit status 1 when the headline meshgate misses a target.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    HERE,
    ROOT,
    Result,
    _ms,
    cpu_placement,
    cpu_times,
    free_port,
    pinned,
    render,
    run_wrk,
    serving_rss_kib,
    start_gateway,
    started,
    steal_note,
    wait_http,
)

# bench_tls imports these from here (they used to live in this file)
__all__ = ["ROOT", "Result", "_ms", "cpu_placement", "free_port", "pinned", "render", "started", "wait_http"]

PATHS = {3: "/", 16384: "/16k"}
TARGET_RATIO = {3: 0.55, 16384: 0.80}
HEADLINE = "meshgate"


@dataclass
class Contender:
    name: str
    port: int
    pid: int = 0  # meshgate: the process whose RSS is read (its workers' when it supervises)
    log: Path | None = None  # meshgate: the access log file


@dataclass
class Group:
    """Everything measured for one `--workers` count."""

    workers: int
    placement: str
    runs: dict[tuple[int, int, str], list[Result]] = field(default_factory=dict)  # (body, conns, name)
    rss: dict[str, tuple[int, int]] = field(default_factory=dict)  # name → KiB before, after
    log_bytes: int = 0


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def placement_for(workers: int, pin: bool) -> tuple[str, str, str]:
    """(proxy CPUs, wrk + upstream CPUs, description) for `workers` processes a proxy: with `--pin`,
    the proxies on the last `workers` CPUs and the load on the others (for one worker the placement of
    harness.cpu_placement), unpinned when that leaves the load no CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if pin and len(cpus) > workers:
        mine, rest = (",".join(map(str, part)) for part in (cpus[-workers:], cpus[:-workers]))
        return mine, rest, f"proxies pinned to CPU {mine}, wrk + upstream on CPU {rest}"
    why = f": {len(cpus)} CPUs cannot hold {workers} proxy workers apart from wrk + upstream" if pin else ""
    return "", "", f"unpinned{why}"


def start_contenders(
    args: argparse.Namespace,
    work: Path,
    workers: int,
    cpus: tuple[str, str],
    processes: list[subprocess.Popen[bytes]],
) -> list[Contender]:
    proxy_cpus, other_cpus = cpus
    devnull = subprocess.DEVNULL
    upstream_port, nginx_port = free_port(), free_port()
    values = {"workdir": work, "upstream_port": upstream_port, "proxy_port": nginx_port}
    values |= {"workers": workers, "master": "on" if workers > 1 else "off"}
    upstream_conf = render("upstream.conf.tmpl", work / "upstream.conf", **values)
    proxy_conf = render("proxy.conf.tmpl", work / "proxy.conf", **values)
    config = render("meshgate.yaml.tmpl", work / "meshgate.yaml", **values)
    for conf, where in ((upstream_conf, other_cpus), (proxy_conf, proxy_cpus)):
        command = pinned(["nginx", "-p", str(work), "-c", str(conf)], where)
        processes.append(subprocess.Popen(command, stdout=devnull, stderr=devnull))
    contenders = [Contender("nginx", nginx_port)]
    variants = {HEADLINE: ["--access-log", "text", "--stats", "on"]}
    if args.lean:
        variants["meshgate-lean"] = ["--access-log", "off", "--stats", "off"]
    for name, extra in variants.items():
        port = free_port()
        log = work / f"{name}.access.log" if "text" in extra else None
        options = ("--workers", str(workers), "--drain-delay", "0", *extra)
        proc = start_gateway(
            config, port, proxy_cpus, processes, *options, stdout=log, stderr=work / f"{name}.stderr"
        )
        contenders.append(Contender(name, port, proc.pid, log))
    if args.minimal:
        port = free_port()
        command = [sys.executable, str(HERE / "minimal_forwarder.py"), "--listen", f"127.0.0.1:{port}"]
        command += ["--upstream", f"127.0.0.1:{upstream_port}", *(["--reuse-port"] if workers > 1 else [])]
        for _ in range(workers):
            processes.append(subprocess.Popen(pinned(command, proxy_cpus), stdout=devnull))
        contenders.append(Contender("minimal", port))
    for port in (upstream_port, *(c.port for c in contenders)):
        wait_http(port)
    return contenders


def run_group(args: argparse.Namespace, workers: int) -> Group:
    proxy_cpus, other_cpus, where = placement_for(workers, args.pin)
    group = Group(workers, where)
    print(f"\n--workers {workers}: {where}", flush=True)
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="meshgate-bench-") as tmp, started(processes):
        contenders = start_contenders(args, Path(tmp), workers, (proxy_cpus, other_cpus), processes)
        measured = [c for c in contenders if c.pid]
        before = {c.name: serving_rss_kib(c.pid) for c in measured}
        cells = [(body, conns) for body in args.bodies for conns in args.connections]
        if args.warmup:
            for contender in contenders:
                for body in args.bodies:
                    run_wrk(
                        contender.port,
                        args.warmup,
                        max(args.connections),
                        args.threads,
                        other_cpus,
                        PATHS[body],
                    )
        for contender in contenders:
            if contender.log is not None:
                os.truncate(contender.log, 0)  # the warm-up's lines
        for rep in range(args.repeat):
            order = contenders if rep % 2 == 0 else contenders[::-1]
            for body, conns in cells:
                for contender in order:
                    result = run_wrk(
                        contender.port, args.duration, conns, args.threads, other_cpus, PATHS[body]
                    )
                    group.runs.setdefault((body, conns, contender.name), []).append(result)
                    if contender.log is not None:
                        group.log_bytes += contender.log.stat().st_size
                        os.truncate(contender.log, 0)
                    print(
                        f"  run {rep + 1}/{args.repeat} w{workers} {body:>5d} B c{conns:<3d} "
                        f"{contender.name:13s} "
                        f"{result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
                        f"errors {errors(result)}",
                        flush=True,
                    )
        time.sleep(1.0)  # the client connections gone
        group.rss = {c.name: (before[c.name], serving_rss_kib(c.pid)) for c in measured}
    return group


def errors(*results: Result) -> str:
    """wrk's socket errors (connect + read + write) / timeouts / non-2xx responses, summed."""
    return "/".join(str(sum(getattr(r, k) for r in results)) for k in ("socket_errors", "timeouts", "non2xx"))


def cell_rows(group: Group, body: int, conns: int) -> tuple[list[list[str]], bool]:
    """Rows of one cell's table, and whether the headline meshgate meets every target there."""
    names = [name for (b, c, name) in group.runs if (b, c) == (body, conns)]
    base = group.runs[(body, conns, "nginx")]
    base_p99 = statistics.median(r.p99_ms for r in base)
    rows, headline_ok = [], True
    for name in names:
        runs = group.runs[(body, conns, name)]
        ratio = statistics.median(r.rps / n.rps for r, n in zip(runs, base, strict=True))
        p99 = statistics.median(r.p99_ms for r in runs)
        misses = []
        if ratio < TARGET_RATIO[body]:
            misses.append(f"ratio < {TARGET_RATIO[body]:.2f}")
        if p99 > 2 * base_p99:
            misses.append(f"p99 {p99 / base_p99:.1f}x nginx")
        if errors(*runs) != "0/0/0":
            misses.append("errors")
        verdict = "" if name == "nginx" else ("PASS" if not misses else "FAIL: " + ", ".join(misses))
        if name == HEADLINE:
            headline_ok = not misses
        rps = statistics.median(r.rps for r in runs)
        p50 = statistics.median(r.p50_ms for r in runs)
        rows.append([name, f"{rps:,.0f}", f"{p50:.2f}", f"{p99:.2f}", errors(*runs), f"{ratio:.2f}", verdict])
    return rows, headline_ok


HEADER = ["contender", "req/s", "p50 ms", "p99 ms", "errors s/t/n", "ratio", "issue #8 target"]
WIDTHS = [14, 9, 7, 7, 13, 6, 0]


def report(args: argparse.Namespace, groups: list[Group]) -> tuple[list[str], list[str], bool]:
    """(text lines, markdown lines, every headline cell passes)."""
    text: list[str] = []
    md: list[str] = []
    ok = True
    for group in groups:
        for body in args.bodies:
            for conns in args.connections:
                rows, cell_ok = cell_rows(group, body, conns)
                ok = ok and cell_ok
                title = (
                    f"{group.workers} worker{'s' if group.workers > 1 else ''}, {body} B body, "
                    f"wrk -t{args.threads} -c{conns}, medians of {args.repeat} x {args.duration} s, "
                    f"{group.placement}"
                )
                target = f"target: >= {TARGET_RATIO[body]:.2f}x nginx req/s, p99 <= 2x nginx's, no errors"
                text += ["", f"== {title}", f"   {target}"]
                for row in [HEADER, *rows]:
                    text.append(
                        " ".join(
                            f"{cell:>{w}s}" if i else f"{cell:{w}s}"
                            for i, (cell, w) in enumerate(zip(row, WIDTHS, strict=True))
                        ).rstrip()
                    )
                md += ["", f"**{title}** ({target})", "", "| " + " | ".join(HEADER) + " |"]
                md += ["|" + "---|" * len(HEADER)] + ["| " + " | ".join(row) + " |" for row in rows]
    rss_lines = ["contender", *(f"{g.workers} worker{'s' if g.workers > 1 else ''}" for g in groups)]
    names = sorted({name for g in groups for name in g.rss}, key=lambda n: (n != HEADLINE, n))
    table = [
        [name]
        + [
            f"{g.rss[name][0] / 1024:.1f} -> {g.rss[name][1] / 1024:.1f}" if name in g.rss else ""
            for g in groups
        ]
        for name in names
    ]
    text += ["", "RSS of the serving meshgate processes (MiB, before the first run -> after the last;"]
    text += ["workers summed, the supervisor not counted)"]
    text += ["  ".join(f"{cell:22s}" for cell in row).rstrip() for row in [rss_lines, *table]]
    md += [
        "",
        "RSS of the serving meshgate processes, MiB, before the first run → after the last (workers summed):",
    ]
    md += ["", "| " + " | ".join(rss_lines) + " |", "|" + "---|" * len(rss_lines)]
    md += ["| " + " | ".join(row) + " |" for row in table]
    logged = ", ".join(f"{g.workers} w: {g.log_bytes / 2**20:.0f} MiB" for g in groups)
    text += ["", f"access log written by the headline meshgate: {logged}"]
    md += [
        "",
        f"Access log written by the headline meshgate: {logged}. errors s/t/n = wrk socket errors "
        "(connect+read+write) / timeouts / non-2xx responses, summed over the runs.",
    ]
    return text, md, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (default 5)")
    parser.add_argument(
        "--connections",
        type=int_list,
        default=[50, 200],
        help="wrk connections, comma-separated (default 50,200)",
    )
    parser.add_argument(
        "--bodies",
        type=int_list,
        default=[3, 16384],
        help="response body sizes: 3 and/or 16384 (default both)",
    )
    parser.add_argument("--workers", type=int_list, default=[1, 2], help="proxy worker counts (default 1,2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="seconds of warm-up per proxy and body (default 1)"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the proxies to the last CPU(s), wrk and the upstream to the others (the same "
        "placement for every contender; steadier numbers on small machines)",
    )
    parser.add_argument(
        "--minimal", action="store_true", help="add bench/minimal_forwarder.py as a contender"
    )
    parser.add_argument(
        "--lean", action=argparse.BooleanOptionalAction, default=True, help="add meshgate-lean (default on)"
    )
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    if unknown := [b for b in args.bodies if b not in PATHS]:
        parser.error(f"--bodies: {unknown} not among {sorted(PATHS)}")
    if cpu_placement("bench_proxy", args.pin) is None:  # nginx, wrk or taskset missing
        return 2
    started_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    before = cpu_times()
    groups = [run_group(args, workers) for workers in args.workers]
    steal = steal_note(before)
    text, md, ok = report(args, groups)
    print("\n".join([*text, "", steal]))
    print(f"\nheadline meshgate meets every issue #8 target: {'PASS' if ok else 'FAIL'}")
    if args.out:
        command = " ".join(["bench/bench_proxy.py", *(argv if argv is not None else sys.argv[1:])])
        head = [f"`{command}` — {started_at}, {os.cpu_count()} CPUs, nginx upstream on loopback. {steal}."]
        args.out.write_text("\n".join([*head, *md]) + "\n")
        print(f"markdown: {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
