"""Point 3: mirroring (istio-semantics 3.14): the copy arrives with the Host unchanged, and a slow
or dead mirror changes neither the latency nor the status of the primary."""

from __future__ import annotations

import asyncio
import time

from meshgate import ir
from proxy.gw import Client, build_request, cluster, config, free_port, gateway, route, run

from .traffic_helpers import Script


async def _eventually(predicate: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:  # type: ignore[operator]
        await asyncio.sleep(0.02)


def test_mirror_receives_a_copy_with_the_same_host_and_body() -> None:
    async def main() -> None:
        primary, shadow = Script("primary"), Script("shadow")
        async with primary.backend() as p, shadow.backend() as s:
            main_svc, mirror_svc = cluster("primary", p.port), cluster("shadow", s.port)
            r = route("r", main_svc, mirrors=(ir.Mirror(mirror_svc.name, 100.0),))
            async with gateway(config([r], [main_svc, mirror_svc])) as gw, Client(gw.port) as client:
                client.send(build_request("POST", "/orders?id=1", host="shop.example", body=b"payload"))
                (response,) = await client.read_responses(1)
                await _eventually(lambda: shadow.seen)
        assert response.status == 200 and response.json()["name"] == "primary"
        (copy,) = shadow.seen
        assert copy.headers["host"] == "shop.example"  # no -shadow suffix (Istio >= 1.28)
        assert (copy.method, copy.path, copy.body) == ("POST", "/orders?id=1", b"payload")

    run(main())


def test_mirror_percentage_zero_sends_nothing() -> None:
    async def main() -> None:
        primary, shadow = Script("primary"), Script("shadow")
        async with primary.backend() as p, shadow.backend() as s:
            main_svc, mirror_svc = cluster("primary", p.port), cluster("shadow", s.port)
            r = route("r", main_svc, mirrors=(ir.Mirror(mirror_svc.name, 0.0),))
            async with gateway(config([r], [main_svc, mirror_svc])) as gw, Client(gw.port) as client:
                for _ in range(5):
                    assert (await client.get("/")).status == 200
                await asyncio.sleep(0.1)
        assert not shadow.seen

    run(main())


def test_slow_or_dead_mirror_does_not_change_the_primary() -> None:
    async def main() -> None:
        primary = Script("primary")
        slow = Script("slow", answer=lambda n, seen: (500, 3.0))
        async with primary.backend() as p, slow.backend() as s:
            main_svc, slow_svc = cluster("primary", p.port), cluster("slow", s.port)
            dead_svc = cluster("dead", free_port())
            mirrors = (ir.Mirror(slow_svc.name), ir.Mirror(dead_svc.name), ir.Mirror("outbound|80||missing"))
            r = route("r", main_svc, mirrors=mirrors, retries=ir.NO_RETRIES)
            cfg = config([r], [main_svc, slow_svc, dead_svc])
            async with gateway(cfg) as gw, Client(gw.port) as client:
                began = time.monotonic()
                statuses = [(await client.get("/")).status for _ in range(10)]
                elapsed = time.monotonic() - began
        assert statuses == [200] * 10
        assert elapsed < 1.5  # the slow mirror answers after 3 s; nothing waits for it
        assert len(primary.seen) == 10

    run(main())
