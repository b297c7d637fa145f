"""`meshgate analyze` at scale: 1,000 VirtualServices, from YAML text to the last analyzer.

    .venv/bin/python bench/bench_analyze.py [--virtual-services 1000] [--per-host 5] [--check]

The VirtualServices share hosts (`--per-host` of them merge into each virtual host), so the shadowing
and overlap analyzers see large merged route lists, not just small independent ones; their rules mix
prefix, exact, header, method and regex matches, and some are shadowed or overlap on purpose.
Prints the time of each stage and the total (target: analysis of 1,000 VirtualServices < 3 s).
`--check` exits 1 when the total misses the target. Not a test: numbers vary by machine.
"""

from __future__ import annotations

import argparse
import collections
import time

from corpus import GATEWAY, services
from meshgate.analysis import analyze
from meshgate.analysis.analyzer import Context
from meshgate.analysis.analyzers import ALL
from meshgate.sources import load_text
from meshgate.translate import TranslateOptions, translate

TARGET_SECONDS = 3.0


def virtual_service(index: int, per_host: int) -> str:
    host = f"host-{index // per_host}.example.com"
    team = index % per_host
    svc = f"svc-{index % 50}"
    rules = [
        f"    - match: [{{uri: {{prefix: /team{team}/api}}, headers: {{x-canary: {{exact: 'true'}}}}}}]\n"
        f"      route: [{{destination: {{host: {svc}}}}}]",
        f"    - match: [{{uri: {{prefix: /team{team}/api}}}}, {{uri: {{exact: /team{team}/health}}}}]\n"
        f"      route: [{{destination: {{host: {svc}}}}}]",
        # Shadowed by the rule above (same VirtualService): IST0131/IST0130 material.
        f"    - match: [{{uri: {{prefix: /team{team}/api/v2}}, method: {{exact: GET}}}}]\n"
        f"      route: [{{destination: {{host: {svc}}}}}]",
        f"    - match: [{{uri: {{regex: '/team{team}/items/[0-9]+'}}}}]\n"
        f"      route: [{{destination: {{host: {svc}}}}}]",
        # Overlaps the next VirtualService's /teamN/api rules on the same host (MG0403 material).
        f"    - match: [{{uri: {{prefix: /team{(team + 1) % per_host}}},"
        f" headers: {{x-user: {{exact: u{team}}}}}}}]\n"
        f"      route: [{{destination: {{host: {svc}}}}}]",
        f"    - route: [{{destination: {{host: {svc}}}}}]",
    ]
    return (
        f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: vs-{index}, namespace: apps}}\nspec:\n  hosts: [{host}]\n"
        f"  gateways: [istio-system/public]\n  http:\n" + "\n".join(rules) + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--virtual-services", type=int, default=1000)
    parser.add_argument("--per-host", type=int, default=5, help="VirtualServices merged into each host")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the total exceeds {TARGET_SECONDS} s"
    )
    args = parser.parse_args()
    count = args.virtual_services
    text = "---\n".join([GATEWAY, *services(), *(virtual_service(i, args.per_host) for i in range(count))])
    options = TranslateOptions()

    t0 = time.perf_counter()
    load = load_text(text, "bench.yaml")
    t1 = time.perf_counter()
    translation = translate(load.bundle, options)
    t2 = time.perf_counter()
    result = analyze(load, translation, options)
    t3 = time.perf_counter()

    # Per-analyzer cost, on a fresh context (shared computations are charged to the first user).
    context = Context(load.bundle, translation, options)
    costs = []
    for analyzer in ALL:
        start = time.perf_counter()
        if analyzer.relevant(context):
            list(analyzer.analyze(context))
        costs.append((time.perf_counter() - start, analyzer.name))

    routes = sum(len(vhost.routes) for _, vhost in context.http_vhosts)
    by_code = collections.Counter(d.code for d in result.diagnostics)
    total = t3 - t0
    print(
        f"input: {count} VirtualServices, {routes} routes in {len(context.http_vhosts)} virtual hosts,"
        f" {len(text) / 1e6:.1f} MB of YAML"
    )
    print(f"load (parse+validate): {t1 - t0:.3f} s")
    print(f"translate:             {t2 - t1:.3f} s")
    print(f"analyze:               {t3 - t2:.3f} s")
    print(f"total:                 {total:.3f} s   (target < {TARGET_SECONDS:.0f} s)")
    print(
        "slowest analyzers:",
        ", ".join(f"{name} {seconds:.3f} s" for seconds, name in sorted(costs)[-3:][::-1]),
    )
    print("messages:", ", ".join(f"{code} x{n}" for code, n in sorted(by_code.items())))
    return 1 if args.check and total > TARGET_SECONDS else 0


if __name__ == "__main__":
    raise SystemExit(main())
