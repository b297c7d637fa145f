"""One `UpstreamConnection` protocol per backend socket (pools are in upstream.py).

While a request is in flight the connection's `sink` is its exchange, and the response parser
(httptools) calls into the sink. httptools checks the response head but is given no per-header
callback: when the head is complete, `wire.response_fields` reads it from the received bytes in one
call (C when built): the header lines pre-rendered ("name: value\r\n") minus what the gateway owns,
so the common response head is one join, and the framing fields.

Where the head starts: a response begins at the first byte after the previous one. That is the
start of a read, or, after a 1xx head, that head's end; httptools does not report offsets, so
those are the two places tracked (`_head_start`). A response that begins after a final response
in the same read was sent before the backend could have seen our next request: the head cannot be
placed, and the connection is failed as a protocol error (Envoy treats such excess data the same).

The common response skips httptools: a read that starts with a whole head in the strict reading
`wire.lone_response` checks, framed by Content-Length and followed by no more than its body, is
taken directly (`_lone`), and so is the rest of that body in later reads (`_lone_left`): what
llhttp's callbacks would do, in the same order. llhttp, which never saw those bytes, stays at the
start of a message (`_mid` says when it is not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from meshgate.proxy.errors import UpstreamProtocol
from meshgate.proxy.wire import LoneResponse, lone_response, response_fields

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange
    from meshgate.proxy.upstream import EndpointPool

# While a request is in flight the connection reports to its `forward.Exchange` (the "sink":
# on_response_head/body/end, on_upstream_lost/error/upgrade, upstream_write_paused, flush). The
# concrete class, not a Protocol: compiled with mypyc, those become direct native calls.


class RawSink(Protocol):
    """After an Upgrade, bytes go to a tunnel instead (tunnel.py)."""

    def from_upstream(self, data: bytes) -> None: ...
    def upstream_lost(self) -> None: ...
    def upstream_write_paused(self, paused: bool) -> None: ...


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "_chunk",
        "_detached",
        "_ended_in_read",
        "_feed",
        "_head_buf",
        "_head_start",
        "_in_head",
        "_informational",
        "_lone_left",
        "_mid",
        "_next_start",
        "_write",
        "_writelines",
        "chunked",
        "closed",
        "connection",
        "has_date",
        "head_only",
        "idle_since",
        "length",
        "lines",
        "local_address",
        "out",
        "parser",
        "pool",
        "read_paused",
        "requests",
        "reusable",
        "sink",
        "sni",
        "transport",
        "tunnel",
        "upgrade",
    )

    transport: asyncio.Transport

    def __init__(self, pool: EndpointPool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        # bound methods held (as in http1): plain calls instead of method lookups by name
        self._feed: Callable[[bytes], None] = self.parser.feed_data
        self.sink: Exchange | None = None
        self.tunnel: RawSink | None = None
        self.out: list[bytes] = []
        self.requests = 0
        self.sni = ""
        self.reusable = True
        self.closed = False
        self.read_paused = False
        self.head_only = False  # the request in flight is HEAD: the response has no body
        self.idle_since = 0.0
        self.local_address = ""
        # the response head being received (read by the sink in on_response_head)
        self.lines = b""  # "name: value\r\n" lines forwarded as received
        self.length = b""  # content-length as sent, b"" when absent
        self.connection = b""  # Connection value when it names fields to drop
        self.upgrade = b""
        self.chunked = self.has_date = False
        self._informational = self._detached = False
        # where the head being received starts (module docstring)
        self._chunk = b""  # the read being parsed
        self._head_buf = b""  # the head's bytes from earlier reads
        self._head_start = 0  # its offset in _head_buf + _chunk; -1: unknown
        self._next_start = -1  # where a message following the one just ended starts; -1: unknown
        self._in_head = self._ended_in_read = False
        self._mid = False  # llhttp is inside a message (between on_message_begin and _complete)
        self._lone_left = 0  # body bytes still due of a response taken without llhttp

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self._write: Callable[[bytes], None] = self.transport.write
        self._writelines: Callable[[list[bytes]], None] = self.transport.writelines
        limits = self.pool.pools.limits
        self.transport.set_write_buffer_limits(high=limits.high_water, low=limits.low_water)
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.local_address = f"{sockname[0]}:{sockname[1]}"
        self.pool.pools.stats.upstream_cx_active += 1
        self.pool.pools.stats.upstream_cx_total += 1

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.from_upstream(data)
            return
        sink = self.sink
        if sink is None:  # bytes on an idle connection: not HTTP we understand, drop the socket
            self.reusable = False
            self.transport.close()
            return
        self._chunk = data
        self._ended_in_read = False
        try:
            if self._lone_left:
                self._lone_body(data)
            else:
                fields = None if self._mid or self.head_only else lone_response(data)
                if fields is not None and fields[0] <= self.pool.pools.limits.max_response_head:
                    self._lone(data, fields)
                else:
                    self._feed(data)
        except httptools.HttpParserUpgrade as exc:
            sink.on_upstream_upgrade(data[exc.args[0] :])
        except httptools.HttpParserError as exc:
            # raised from a callback (the head checks in on_headers_complete): that error's words
            self._fail_protocol(sink, str(exc.__context__ or exc))
        else:
            if self._in_head:  # the head continues in the next read
                start = self._head_start
                if start < 0:  # a response after a complete one in the same read: doomed already
                    self._fail_protocol(sink, "bytes after a complete response")
                elif len(self._head_buf) + len(data) - start > self.pool.pools.limits.max_response_head:
                    self._fail_protocol(sink, "response head too large")
                else:
                    self._head_buf += data[start:] if start > 0 else data
                    self._head_start = 0
        self._chunk = b""
        self._detached = False
        sink.flush()

    def _fail_protocol(self, sink: Exchange, why: str) -> None:
        self.reusable = False
        self._in_head = False
        self._head_buf = b""
        self.transport.abort()
        sink.on_upstream_error(UpstreamProtocol(why))

    def new_parser(self) -> None:
        """A fresh parser, for a connection whose parser was left inside a message (HEAD)."""
        self.parser = httptools.HttpResponseParser(self)
        self._feed = self.parser.feed_data
        self._mid = False

    def _lone(self, data: bytes, fields: LoneResponse) -> None:
        """`data` starts with a whole response head framed by Content-Length and holds no more
        than its body (lone_response): llhttp's on_headers_complete, on_body and, when the body
        is all here, on_message_complete, without llhttp."""
        end, status = fields[0], fields[1]
        self.lines, self.length, self.connection = fields[3], fields[4], fields[6]
        self.chunked, self.has_date, self.upgrade = False, fields[7], b""
        self._deliver_head(status)
        left = fields[9] - (len(data) - end)
        if len(data) > end:
            self.on_body(data[end:])
        if left:
            self._lone_left = left
        else:
            self.on_message_complete()

    def _lone_body(self, data: bytes) -> None:
        """More of a lone response's body (`_lone`)."""
        left = self._lone_left
        if len(data) <= left:
            self._lone_left = left - len(data)
            self.on_body(data)
            if len(data) == left:
                self.on_message_complete()
        else:  # the response ends; what follows goes to llhttp, at the start of a message as it
            # would be had it read the response: empty lines are skipped, anything else is excess
            # (on_message_begin places it nowhere: data_received fails the connection)
            self._lone_left = 0
            self.on_body(data[:left])
            self.on_message_complete()
            self._feed(data[left:])

    def begin(self, sink: Exchange, head_only: bool) -> None:
        """A request was sent on this connection: its response comes next."""
        self.sink = sink
        self.head_only = head_only

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.pools.on_closed(self)
        if self.tunnel is not None:
            self.tunnel.upstream_lost()
            return
        sink = self.sink
        if sink is not None:
            self.sink = None
            sink.on_upstream_lost(exc)
            sink.flush()

    def pause_writing(self) -> None:
        target = self.tunnel or self.sink
        if target is not None:
            target.upstream_write_paused(True)

    def resume_writing(self) -> None:
        target = self.tunnel or self.sink
        if target is not None:
            target.upstream_write_paused(False)

    # --- httptools callbacks ---------------------------------------------------------------
    # No on_header: httptools then makes no per-header Python call; the head is read in one go
    # by wire.response_fields when it is complete.

    def on_message_begin(self) -> None:
        self._in_head = self._mid = True
        self._head_buf = b""
        self._head_start = self._next_start if self._ended_in_read else 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        head_buf, start = self._head_buf, self._head_start
        fields = None
        if start >= 0:
            fields = response_fields(head_buf + self._chunk if head_buf else self._chunk, start)
        self._head_buf = b""
        if fields is None:
            # unplaceable (excess data after a response) or not the shape llhttp accepts
            raise httptools.HttpParserError("response head not placeable")
        if fields[0] - start > self.pool.pools.limits.max_response_head:
            raise httptools.HttpParserError("response head too large")
        (
            end,
            status,
            http11,
            self.lines,
            self.length,
            self.chunked,
            self.connection,
            self.has_date,
            self.upgrade,
        ) = fields
        if 100 <= status < 200 and status != 101:
            self._informational = True  # 100 Continue & co: the final response follows
            self._next_start = end - len(head_buf)  # a 1xx has no body: the next head starts here
            return
        if not http11 or not self.parser.should_keep_alive():
            self.reusable = False
        self._deliver_head(status)

    def _deliver_head(self, status: int) -> None:
        sink = self.sink
        if sink is not None:
            head_only = self.head_only
            sink.on_response_head(self, status)
            if head_only and self.sink is sink:
                # A HEAD response ends at its head, but httptools would wait for the advertised
                # body: whatever this parser still reports in this feed belongs to nobody, and
                # `release` gives the connection a fresh parser.
                self._detached = True
                sink.on_response_end()

    def on_body(self, body: bytes) -> None:
        sink = self.sink
        if sink is not None and not self._detached:
            sink.on_response_body(body)

    def on_message_complete(self) -> None:
        self._ended_in_read = True
        self._mid = False
        if self._informational:
            self._informational = False
            return
        self._next_start = -1  # anything after a final response in this read is excess
        sink = self.sink
        if sink is not None and not self._detached:
            sink.on_response_end()

    # --- used by the exchange --------------------------------------------------------------

    def flush(self) -> None:
        out = self.out
        if out:
            if not self.closed:
                if len(out) == 1:
                    self._write(out[0])
                else:
                    self._writelines(out)
            out.clear()

    def pause_reading(self) -> None:
        if not self.read_paused and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def abort(self) -> None:
        self.reusable = False
        self.sink = None
        self.out.clear()  # nothing of an abandoned request leaves
        if not self.closed:
            self.transport.abort()
