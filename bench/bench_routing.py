"""Routing micro-benchmark: compile a 1,000-host config and time `decide()`.

    .venv/bin/python bench/bench_routing.py [--hosts 1000] [--requests 200000] [--seed 1]

Builds the IR in code (1,000 hosts x 5 routes: exact, regex, header, prefix and catch-all prefix
routes; a few wildcard hosts; one plaintext HTTP listener on port 80), compiles it, then times
`decide()` once per request over a pre-built list of requests spread over all hosts. Prints compile
time and decide() latency (p50, p99, mean in microseconds). Target: decide() < 20 us.
Not a test: numbers depend on the machine; compare before/after a change on the same one.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter

from meshgate import ir
from meshgate.routing import LocalReply, RequestView, RouteDecision, compile_config, decide

S, K, P = ir.StringMatch, ir.MatchKind, ir.PathMatchKind


def _forward(service: str) -> ir.Forward:
    return ir.Forward((ir.WeightedCluster(f"outbound|80||{service}", 100, service_host=service, port=80),))


def build_config(hosts: int) -> ir.Config:
    vhosts: list[ir.VirtualHost] = []
    clusters: list[ir.Cluster] = []
    for i in range(hosts):
        svc = f"svc-{i}.ns.svc.cluster.local"
        clusters.append(ir.Cluster(name=f"outbound|80||{svc}", service_host=svc, port=80))
        routes = (
            ir.Route("login", ir.RouteMatch(path=ir.PathMatch(P.EXACT, "/login")), _forward(svc)),
            ir.Route(
                "users",
                ir.RouteMatch(path=ir.PathMatch(P.REGEX, r"/api/v[0-9]+/users/[^/]+")),
                _forward(svc),
            ),
            ir.Route(
                "canary",
                ir.RouteMatch(
                    path=ir.PathMatch(P.PREFIX, "/api"),
                    headers=(ir.HeaderMatch("x-canary", S(K.EXACT, "true")),),
                ),
                _forward(svc),
            ),
            ir.Route(
                "api",
                ir.RouteMatch(path=ir.PathMatch(P.PREFIX, "/api"), method=S(K.EXACT, "GET")),
                _forward(svc),
            ),
            ir.Route("default", ir.RouteMatch(path=ir.PathMatch(P.PREFIX, "/")), _forward(svc)),
        )
        # Every 50th host is a wildcard domain, so the suffix index is exercised too.
        domain = f"*.w{i}.example.com" if i % 50 == 0 else f"host-{i}.example.com"
        vhosts.append(ir.VirtualHost(name=f"vh-{i}", domains=(domain,), routes=routes))
    chain = ir.FilterChain(name="http", server_names=(), handler=ir.HttpHandler("http.80", tuple(vhosts)))
    listener = ir.Listener(name="0.0.0.0_80", port=80, chains=(chain,))
    return ir.Config(listeners=(listener,), clusters=tuple(clusters))


def build_requests(hosts: int, count: int, seed: int) -> list[RequestView]:
    rnd = random.Random(seed)
    shapes = [
        ("/login", "GET", {}),
        ("/api/v2/users/alice", "GET", {}),
        ("/api/orders", "POST", {"x-canary": "true"}),
        ("/api/orders", "GET", {"user-agent": "bench"}),
        ("/static/app.js", "GET", {"accept": "*/*"}),
        ("/api/orders", "DELETE", {}),
    ]
    requests = []
    for _ in range(count):
        i = rnd.randrange(hosts)
        host = f"a.w{i}.example.com" if i % 50 == 0 else f"host-{i}.example.com"
        path, method, headers = rnd.choice(shapes)
        authority = f"{host}:80" if rnd.random() < 0.3 else host
        requests.append(RequestView(port=80, authority=authority, path=path, method=method, headers=headers))
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    config = build_config(args.hosts)
    started = time.perf_counter()
    table = compile_config(config)
    compile_ms = (time.perf_counter() - started) * 1e3
    requests = build_requests(args.hosts, args.requests, args.seed)
    rng = random.Random(args.seed).random

    for request in requests[:2000]:  # warm-up
        decide(table, request, rng)

    clock = time.perf_counter
    samples: list[float] = []
    outcomes: Counter[str] = Counter()
    total_started = clock()
    for request in requests:
        t0 = clock()
        answer = decide(table, request, rng)
        samples.append(clock() - t0)
        if isinstance(answer, RouteDecision):
            outcomes[answer.route.name] += 1
        elif isinstance(answer, LocalReply):
            outcomes[f"{answer.status} {answer.flags}"] += 1
    wall = clock() - total_started

    samples.sort()
    us = 1e6
    print(f"hosts={args.hosts} routes={args.hosts * 5} requests={len(requests)}")
    print(f"compile_config: {compile_ms:.1f} ms")
    print(
        f"decide(): p50 {samples[len(samples) // 2] * us:.2f} us, "
        f"p99 {samples[int(len(samples) * 0.99)] * us:.2f} us, "
        f"mean {statistics.fmean(samples) * us:.2f} us "
        f"(loop incl. timing overhead {wall / len(requests) * us:.2f} us/request)"
    )
    print("outcomes:", ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))


if __name__ == "__main__":
    main()
