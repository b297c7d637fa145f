"""Control-plane scale: 5,000 VirtualService routes over 1,000 hosts, from YAML text to decisions.

    .venv/bin/python bench/bench_translate.py [--hosts 1000] [--routes-per-host 5] [--requests 100000]

Prints the time to load (parse + validate), translate and compile, and the per-request cost of
decide() on the resulting table (targets: translate < 2 s, decide < 20 us). Not a test: numbers vary
by machine; the closing notes and bench/results/ record measured figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from corpus import GATEWAY, services
from meshgate.routing import RequestView, compile_config, decide
from meshgate.sources import load_text
from meshgate.translate import translate


def virtual_service(index: int, routes: int) -> str:
    rules = []
    for r in range(routes - 1):
        kind = r % 3
        if kind == 0:
            match = f"[{{uri: {{prefix: /api/v{r}}}}}]"
        elif kind == 1:
            match = f"[{{uri: {{exact: /static/{r}/index.html}}}}]"
        else:
            match = f"[{{uri: {{regex: '/items/[0-9]+/{r}'}}, headers: {{x-tenant: {{exact: t{r}}}}}}}]"
        rules.append(
            f"    - name: r{r}\n      match: {match}\n"
            f"      route: [{{destination: {{host: svc-{index % 50}, port: {{number: 80}}}}}}]"
        )
    rules.append(
        "    - name: default\n"
        f"      route: [{{destination: {{host: svc-{index % 50}, port: {{number: 80}}}}}}]"
    )
    return (
        f"apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: vs-{index}, namespace: apps}}\nspec:\n  hosts: [host-{index}.example.com]\n"
        f"  gateways: [istio-system/public]\n  http:\n" + "\n".join(rules) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--routes-per-host", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    text = "---\n".join(
        [GATEWAY, *services(), *(virtual_service(i, args.routes_per_host) for i in range(args.hosts))]
    )

    t0 = time.perf_counter()
    load = load_text(text, "bench.yaml")
    t1 = time.perf_counter()
    result = translate(load.bundle)
    t2 = time.perf_counter()
    table = compile_config(result.config)
    t3 = time.perf_counter()
    routes = sum(
        len(v.routes)
        for listener in result.config.listeners
        for chain in listener.chains
        for v in getattr(chain.handler, "virtual_hosts", ())
    )
    print(f"input: {args.hosts} hosts, {routes} routes, {len(text) / 1e6:.1f} MB of YAML")
    print(f"load (parse+validate): {t1 - t0:.3f} s")
    print(f"translate:             {t2 - t1:.3f} s")
    print(f"compile:               {t3 - t2:.3f} s")
    print(f"translate+compile:     {t3 - t1:.3f} s   (target < 2 s)")

    rng = random.Random(7)
    paths = ["/api/v0/users", "/static/1/index.html", "/items/42/2", "/", "/api/v3/x", "/nothing"]
    requests = [
        RequestView(
            port=80,
            authority=f"host-{rng.randrange(args.hosts)}.example.com",
            path=rng.choice(paths),
            headers={"x-tenant": "t2", "user-agent": "bench"},
        )
        for _ in range(1000)
    ]
    pick = random.Random(1).random
    samples = []
    batch = 1000
    for _ in range(max(1, args.requests // batch)):
        start = time.perf_counter()
        for request in requests:
            decide(table, request, pick)
        samples.append((time.perf_counter() - start) / batch * 1e6)
    print(
        f"decide: median {statistics.median(samples):.2f} us, mean {statistics.fmean(samples):.2f} us,"
        f" max batch mean {max(samples):.2f} us over {len(samples) * batch} requests   (target < 20 us)"
    )


if __name__ == "__main__":
    main()
