"""Access log in Istio's default formats (istio-semantics 8.1.2 text, 8.1.3 JSON).

Nothing is formatted unless the log is enabled: the exchange hands itself over only when
`ProxyContext.access_log` is set. Lines are held as UTF-8 bytes and handed over at most every
`flush_interval` seconds (or once FLUSH_LINES are held, and on close) so a busy gateway does not
make one write per request. A writer thread (`log_writer.LogWriter`) writes them, as Envoy's flush
thread does: the event loop never waits on the file (a write() to a file on disk can block for tens
of ms while the page cache is written back, stalling every connection of the worker).

The text line is written by `wire.text_line` straight from the exchange's fields; the JSON line goes
through a `LogRecord` (`record_of`). Building the record and reading its 24 fields back for the text
line cost ~1.3k + ~0.5k instructions per request of the text log's ~5k.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, BinaryIO, Final, TextIO

from meshgate.proxy.log_writer import LogWriter
from meshgate.proxy.wire import format_start_time, text_line, text_line_py

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange
    from meshgate.proxy.message import RequestHead

FORMATS = ("off", "text", "json")


class LogRecord:
    """Fields of one request, named like Istio's JSON keys. Empty strings print as `-`.
    A plain class: compiled with mypyc its constructor is native code (a dataclass's generated
    __init__ would run interpreted, ~12k instructions per request)."""

    __slots__ = (
        "authority",
        "bytes_received",
        "bytes_sent",
        "connection_termination_details",
        "downstream_local_address",
        "downstream_peer_cert",
        "downstream_remote_address",
        "duration",
        "method",
        "path",
        "protocol",
        "request_id",
        "requested_server_name",
        "response_code",
        "response_code_details",
        "response_flags",
        "route_name",
        "start_time",
        "upstream_cluster",
        "upstream_host",
        "upstream_local_address",
        "upstream_service_time",
        "upstream_transport_failure_reason",
        "user_agent",
        "x_forwarded_for",
    )

    def __init__(
        self,
        start_time: float,
        method: str,
        path: str,
        protocol: str,
        response_code: int,
        response_flags: str,
        response_code_details: str,
        connection_termination_details: str,
        upstream_transport_failure_reason: str,
        bytes_received: int,
        bytes_sent: int,
        duration: int,
        upstream_service_time: str,
        x_forwarded_for: str,
        user_agent: str,
        request_id: str,
        authority: str,
        upstream_host: str,
        upstream_cluster: str,
        upstream_local_address: str,
        downstream_local_address: str,
        downstream_remote_address: str,
        requested_server_name: str,
        route_name: str,
        downstream_peer_cert: str = "",
    ) -> None:
        self.start_time = start_time
        self.method = method
        self.path = path
        self.protocol = protocol
        self.response_code = response_code
        self.response_flags = response_flags
        self.response_code_details = response_code_details
        self.connection_termination_details = connection_termination_details
        self.upstream_transport_failure_reason = upstream_transport_failure_reason
        self.bytes_received = bytes_received
        self.bytes_sent = bytes_sent
        self.duration = duration
        self.upstream_service_time = upstream_service_time
        self.x_forwarded_for = x_forwarded_for
        self.user_agent = user_agent
        self.request_id = request_id
        self.authority = authority
        self.upstream_host = upstream_host
        self.upstream_cluster = upstream_cluster
        self.upstream_local_address = upstream_local_address
        self.downstream_local_address = downstream_local_address
        self.downstream_remote_address = downstream_remote_address
        self.requested_server_name = requested_server_name
        self.route_name = route_name
        self.downstream_peer_cert = downstream_peer_cert


_quote: Final = json.encoder.encode_basestring_ascii  # json.dumps' own C string encoder (ensure_ascii)


def _q(text: str) -> str:
    """A JSON string, or null for an empty field (Istio's JSON log leaves absent values null)."""
    return _quote(text) if text else "null"


def format_json(r: LogRecord) -> str:
    """One JSON object per line in the key order of Istio's JSON access log; the same text as
    `json.dumps(fields, separators=(",", ":"))` (tests/proxy/test_proxy_units.py holds it to that),
    written out directly: a dict and json.dumps per request cost ~100k instructions."""
    service_time = r.upstream_service_time
    line = (
        f'{{"start_time":{_quote(format_start_time(r.start_time))},"route_name":{_q(r.route_name)},'
        f'"method":{_q(r.method)},"path":{_q(r.path)},"protocol":{_q(r.protocol)},'
        f'"response_code":{r.response_code},"response_flags":{_q(r.response_flags)},'
        f'"response_code_details":{_q(r.response_code_details)},'
        f'"connection_termination_details":{_q(r.connection_termination_details)},'
        f'"bytes_received":{r.bytes_received},"bytes_sent":{r.bytes_sent},"duration":{r.duration},'
        f'"upstream_service_time":{int(service_time) if service_time else "null"},'
        f'"x_forwarded_for":{_q(r.x_forwarded_for)},"user_agent":{_q(r.user_agent)},'
        f'"request_id":{_q(r.request_id)},"authority":{_q(r.authority)},'
        f'"upstream_host":{_q(r.upstream_host)},"upstream_cluster":{_q(r.upstream_cluster)},'
        f'"upstream_local_address":{_q(r.upstream_local_address)},'
        f'"downstream_local_address":{_q(r.downstream_local_address)},'
        f'"downstream_remote_address":{_q(r.downstream_remote_address)},'
        f'"requested_server_name":{_q(r.requested_server_name)},'
        f'"upstream_transport_failure_reason":{_q(r.upstream_transport_failure_reason)}'
    )
    if r.downstream_peer_cert:
        return f'{line},"downstream_peer_cert":{_quote(r.downstream_peer_cert)}}}\n'
    return line + "}\n"


# Lines kept before they are written even if the flush timer has not fired: at 20k requests a
# second, 0.2 s of lines is ~1 MB held in memory (and joined at once); 256 lines (~50 KB) cost one
# write each.
FLUSH_LINES: Final = 256


class AccessLog:
    """Lines to `stream`, on the binary stream under it (sys.stdout.buffer) so they are never joined
    and encoded as str (~0.25k instructions a line); a text stream without one (io.StringIO) gets
    them decoded. The stream belongs to the log: its writer thread flushes the text layer before
    each write, so nothing else may write to the stream while the log is open (`serve` prints its
    own messages to stderr)."""

    __slots__ = (
        "_binary",
        "_buffer",
        "_flush_handle",
        "_hand_over_at",
        "_json",
        "flush_interval",
        "stream",
        "writer",
    )

    def __init__(self, stream: TextIO, fmt: str = "text", flush_interval: float = 0.2) -> None:
        if fmt not in ("text", "json"):
            raise ValueError(f"unknown access log format {fmt!r}")
        self.stream = stream
        self._binary: BinaryIO | None = getattr(stream, "buffer", None)
        self._json = fmt == "json"
        self._buffer: list[bytes] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self.flush_interval = flush_interval
        self.writer = LogWriter(self._emit)
        self._hand_over_at = FLUSH_LINES  # 1 after close: every line goes out at once (no timer fires)

    def log(self, exchange: Exchange) -> None:
        """The line of a finished exchange, in the log's format."""
        self.write(format_json(record_of(exchange)).encode() if self._json else text_of(exchange))

    def write(self, line: bytes) -> None:
        """One line, UTF-8 with its newline, held until the next hand-over."""
        buffer = self._buffer
        buffer.append(line)
        if len(buffer) >= self._hand_over_at:
            self._hand_over()  # the timer, if armed, stays: it finds less to hand over
        elif self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush_handle = loop.call_later(self.flush_interval, self._on_timer)

    def _on_timer(self) -> None:
        self._flush_handle = None
        self._hand_over()

    def _hand_over(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self.writer.put(data)

    def flush(self) -> None:
        """Hand over the held lines and wait until they are written (blocks: for tests, shutdown
        and callers without a loop, never the data path)."""
        self._hand_over()
        self.writer.wait_written()

    def _emit(self, data: bytes) -> None:
        """Runs on the writer thread; what the stream raises (stdout closed) the writer counts."""
        stream, binary = self.stream, self._binary
        if binary is None:
            stream.write(data.decode("utf-8", "surrogatepass"))
        else:
            stream.flush()  # what print() left in the text layer goes out first
            binary.write(data)
        stream.flush()

    def close(self) -> None:
        """Write everything and stop the writer thread; a later line is written at once, in place."""
        self._hand_over_at = 1
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._hand_over()
        self.writer.close()


def _path(head: RequestHead) -> str:
    return (f"{head.path}?{head.query}" if head.query else head.path) or head.target


def _protocol(version: str) -> str:
    return "HTTP/1.1" if version == "1.1" else f"HTTP/{version}"


def _upstream(exchange: Exchange) -> tuple[str, str]:
    """upstream_host, upstream_cluster"""
    pool = exchange.pool
    if pool is not None:
        return pool.host_port, pool.cluster
    decision = exchange.decision
    return "", decision.cluster.name if decision else ""


def _service_time(millis: int) -> str:
    """upstream_service_time: "" (no answer from a backend) when negative"""
    if 0 <= millis < 1000:
        return _MILLIS_TEXT[millis]
    return str(millis) if millis >= 0 else ""


def text_of(exchange: Exchange) -> bytes:
    """The text line of a finished exchange (the fields of `record_of`, in wire.TEXT_BEFORE's
    order); the header values x-forwarded-for, user-agent and x-request-id go as the bytes they are,
    read as Latin-1 by text_line (three str decodes less)."""
    head = exchange.head
    proto = exchange.proto
    started_at = exchange.started_at
    ended_at = exchange.ended_at
    upstream_host, upstream_cluster = _upstream(exchange)
    return text_line(
        text_line_py,
        started_at + _wall_offset(ended_at),
        head.method,
        _path(head),
        _protocol(head.version),
        exchange.status,
        exchange.flags,
        exchange.details,
        "",
        "",
        exchange.bytes_received,
        exchange.bytes_sent,
        int((ended_at - started_at) * 1000),
        _service_time(exchange.service_time),
        exchange.xff,
        head.user_agent,
        exchange.request_id,
        head.authority,
        upstream_host,
        upstream_cluster,
        exchange.upstream_local,
        proto.local_address,
        proto.remote_address,
        proto.sni or "",
        exchange.route_name,
    )


def record_of(exchange: Exchange) -> LogRecord:
    """The access-log fields of a finished exchange (built only when the JSON log is on)."""
    head = exchange.head
    proto = exchange.proto
    started_at = exchange.started_at
    upstream_host, upstream_cluster = _upstream(exchange)
    xfcc = proto.xfcc
    return LogRecord(
        start_time=started_at + _wall_offset(exchange.ended_at),
        method=head.method,
        path=_path(head),
        protocol=_protocol(head.version),
        response_code=exchange.status,
        response_flags=exchange.flags,
        response_code_details=exchange.details,
        connection_termination_details="",
        upstream_transport_failure_reason="",
        bytes_received=exchange.bytes_received,
        bytes_sent=exchange.bytes_sent,
        duration=int((exchange.ended_at - started_at) * 1000),
        upstream_service_time=_service_time(exchange.service_time),
        x_forwarded_for=exchange.xff.decode("latin-1"),
        user_agent=head.user_agent.decode("latin-1"),
        request_id=exchange.request_id.decode("ascii"),
        authority=head.authority,
        upstream_host=upstream_host,
        upstream_cluster=upstream_cluster,
        upstream_local_address=exchange.upstream_local,
        downstream_local_address=proto.local_address,
        downstream_remote_address=proto.remote_address,
        requested_server_name=proto.sni or "",
        route_name=exchange.route_name,
        downstream_peer_cert=xfcc.decode("ascii") if xfcc else "",
    )


class _WallOffset:
    """Wall-clock time minus loop time, read again once a loop second has passed: the log prints
    milliseconds, and time.time() per request cost ~0.5k instructions."""

    __slots__ = ("offset", "until")

    def __init__(self) -> None:
        self.offset = 0.0
        self.until = -1.0


_offset: Final = _WallOffset()


def _wall_offset(loop_now: float) -> float:
    if loop_now >= _offset.until or loop_now < _offset.until - 1.0:  # also when the loop clock is new
        _offset.offset = time.time() - loop_now
        _offset.until = loop_now + 1.0
    return _offset.offset


_MILLIS_TEXT: Final = tuple(str(millis) for millis in range(1000))  # upstream_service_time, rendered once
