"""The Python cost of one proxied request, without sockets: µs per request on the hot path.

    .venv/bin/python bench/bench_hotpath.py [--requests 20000] [--repeat 5]

Drives `HttpProtocol` and `UpstreamConnection` with in-memory transports through the same route
as bench_proxy.py (`GET /` as wrk sends it, nginx's `return 200 "ok\\n"` answer): parse the
request, decide, build the upstream head, parse the response, build the client head, stats. No
kernel time and no event-loop wake-ups are included, so it isolates the per-request Python work
that bench_proxy.py measures together with the loopback TCP stack, and it is much steadier than
req/s on a shared machine (compare two trees: `PYTHONPATH=other/src python bench/bench_hotpath.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from string import Template
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.append(str(ROOT / "src"))

import uvloop  # noqa: E402

from meshgate.proxy import ProxyContext  # noqa: E402
from meshgate.proxy.access_log import AccessLog  # noqa: E402
from meshgate.proxy.http1 import HttpProtocol  # noqa: E402
from meshgate.proxy.upstream_conn import UpstreamConnection  # noqa: E402
from meshgate.runtime import SnapshotStore  # noqa: E402
from meshgate.runtime.pipeline import build_snapshot  # noqa: E402

UPSTREAM_PORT = 18081
REQUESTS = {
    "wrk": b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",  # what wrk sends
    "browser": (  # a browser's navigation request: 12 header lines
        b"GET /app/page?id=42 HTTP/1.1\r\nHost: shop.example.com\r\n"
        b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
        b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
        b"Referer: https://shop.example.com/app/\r\nCookie: session=abcdef0123456789; theme=dark\r\n"
        b"Upgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"
        b"Sec-Fetch-Site: same-origin\r\nPriority: u=0, i\r\n\r\n"
    ),
}
RESPONSE = (  # what the nginx upstream of bench_proxy.py answers
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 15:00:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"
)


class FakeTransport:
    """Enough of an asyncio transport for the protocols: writes are counted, not sent."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writelines(self, lines: list[bytes]) -> None:
        for line in lines:
            self.written += len(line)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        raise AssertionError("the benchmark connection must stay open")

    abort = close


async def measure(
    requests: int, repeat: int, access_log: str = "off", stats: bool = True, request: bytes = REQUESTS["wrk"]
) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="meshgate-hotpath-") as tmp:
        text = Template((ROOT / "bench/nginx/meshgate.yaml.tmpl").read_text())
        config = Path(tmp) / "meshgate.yaml"
        config.write_text(text.substitute(upstream_port=UPSTREAM_PORT))
        snapshot, _ = build_snapshot([str(config)])
    assert snapshot is not None
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below, after the measurement
    log = None if access_log == "off" else AccessLog(sink, access_log)
    ctx = ProxyContext(SnapshotStore(snapshot), access_log=log)
    ctx.stats.enabled = stats
    cluster = next(c for c in snapshot.config.clusters if c.endpoints)
    pool = ctx.pools.pick(cluster)
    assert pool is not None
    upstream = UpstreamConnection(pool)
    upstream.connection_made(FakeTransport(("127.0.0.1", UPSTREAM_PORT)))  # type: ignore[arg-type]
    pool.state.connections += 1
    pool.idle.append(upstream)
    client = FakeTransport(("127.0.0.1", 40000))
    proto = HttpProtocol(ctx, 80)
    proto.connection_made(client)  # type: ignore[arg-type]

    def one() -> None:
        proto.data_received(request)
        upstream.data_received(RESPONSE)

    one()
    assert not stats or ctx.stats.total(status=200) == 1, "the warm-up request did not get its 200"
    results = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(requests):
            one()
        results.append((time.perf_counter() - start) / requests * 1e6)
    if stats:
        assert ctx.stats.total(status=200) == 1 + requests * repeat
    proto.connection_lost(None)
    if log is not None:
        log.close()
    sink.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000, help="requests per repetition")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (best and median shown)")
    parser.add_argument("--access-log", choices=("off", "text", "json"), default="off", help="as serve's")
    parser.add_argument("--stats", choices=("on", "off"), default="on", help="as serve's")
    parser.add_argument("--request", choices=sorted(REQUESTS), default="wrk", help="the request sent")
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(
            measure(args.requests, args.repeat, args.access_log, args.stats == "on", REQUESTS[args.request])
        )
    print(
        f"hot path: best {min(results):.1f} µs/request, median {statistics.median(results):.1f} "
        f"µs/request ({args.repeat} x {args.requests} requests, no sockets, access log {args.access_log}, "
        f"stats {args.stats})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
