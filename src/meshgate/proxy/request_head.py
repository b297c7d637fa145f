"""The heads an exchange writes: the request head sent upstream (rewrite, `x-envoy-original-path`,
gateway headers, header edits in the order of istio-semantics 3.16.5), the response head sent to
the client, and the consistent-hash key of a request (istio-semantics 6.3.3).

The common case (no edits, no `Connection` list) is one `wire.concat`; anything else goes through the
general helpers in headers.py.

`len(value)` where a bytes value is tested for being empty: compiled, that is a field load, where the
truth test of bytes is a generic `PyObject_IsTrue` call (~25 instructions; message.py and forward.py
do the same on the per-request path).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qsl

from meshgate import ir, routing
from meshgate.proxy import local_reply
from meshgate.proxy.exchange_base import CHUNKED, LENGTH, NONE
from meshgate.proxy.headers import ATTEMPT_LINE, downstream_response_head, upstream_request_head
from meshgate.proxy.wire import concat

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange
    from meshgate.proxy.plan import RoutePlan
    from meshgate.proxy.upstream import UpstreamConnection
    from meshgate.routing.decision import RouteDecision
    from meshgate.routing.request import RequestView

_CRLF: Final = b"\r\n"
_CONTENT_LENGTH: Final = b"content-length: "
_CHUNKED_LINE: Final = b"transfer-encoding: chunked\r\n"
# "x-envoy-upstream-service-time" values, rendered once: the common case is under a second
_SERVICE_TIMES: Final = tuple(b"%d\r\n" % millis for millis in range(1000))
_cookie_bits = random.getrandbits  # the module's generator: reseeded after a fork


def _gateway_lines(exchange: Exchange, extra: bytes) -> bytes:
    """The lines the gateway sets on every forwarded request (8.3), then `extra`."""
    proto = exchange.proto
    return concat(  # not bytes %: that parses its format each time (~3x the instructions)
        b"x-forwarded-for: ",
        exchange.xff,
        b"\r\nx-forwarded-proto: ",
        proto.scheme_bytes,
        b"\r\nx-request-id: ",
        exchange.request_id,
        b"\r\nx-envoy-external-address: ",
        proto.client_ip_bytes,
        b"\r\n",
        extra,
    )


def build_request_head(
    exchange: Exchange,
    route: ir.Route,
    view: RequestView,
    authority: str,
    edits: tuple[ir.HeaderEdits, ...] | None,
    plain_target: bool = False,
) -> bytes:
    """`edits` None: the route edits no request header (RoutePlan.plain_request); `plain_target`:
    the route rewrites nothing (RoutePlan.plain_target), the target goes up as received."""
    head = exchange.head
    extra = b""  # gateway lines only some routes add
    if plain_target:
        target_bytes = head.target_bytes  # b"" when normalized or with a query: encoded below
        target = "" if len(target_bytes) > 0 else view.target
    else:
        target_bytes = b""
        target = routing.upstream_target(route, view)
        action = route.action
        if (
            isinstance(action, ir.Forward)
            and action.rewrite is not None
            and target.partition("?")[0] != head.path
        ):
            original = f"{head.path}?{head.query}" if head.query else head.path  # :path as received
            extra = b"x-envoy-original-path: %s\r\n" % original.encode("latin-1")
    if len(target_bytes) == 0:
        target_bytes = target.encode("latin-1")
    # the Host value as received when the authority is the request's own (no rewrite)
    authority_bytes = head.authority_bytes if authority is head.authority else b""
    if len(authority_bytes) == 0:
        authority_bytes = authority.encode("latin-1")
    timeout = route.timeout
    if timeout:
        extra += b"x-envoy-expected-rq-timeout-ms: %d\r\n" % int(timeout * 1000)
    if head.chunked:
        framing = _CHUNKED_LINE
    elif head.content_length is not None:
        framing = b"content-length: %d\r\n" % head.content_length
    else:
        framing = b""
    if len(head.upgrade) > 0:
        framing += b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade
    if len(head.connection) > 0 or edits is not None:
        request_line = b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (head.method_bytes, target_bytes, authority_bytes)
        gateway = _gateway_lines(exchange, extra)
        out = upstream_request_head(request_line, head, gateway, edits or (), framing)
    else:
        out = _plain_request_head(exchange, target_bytes, authority_bytes, extra, framing)
    # both end with the attempt line, the framing lines and the blank line: where a retry finds its
    # line (a client's header value may hold the same text, earlier in the head)
    exchange.attempt_at = len(out) - len(ATTEMPT_LINE) - len(framing) - 2
    return out


def _plain_request_head(
    exchange: Exchange, target_bytes: bytes, authority_bytes: bytes, extra: bytes, framing: bytes
) -> bytes:
    """No Connection list, no header edits: the head is one concat."""
    head = exchange.head
    proto = exchange.proto
    return concat(  # _gateway_lines' lines inside the head's one concat: each copied once
        head.method_bytes,
        b" ",
        target_bytes,
        b" HTTP/1.1\r\nhost: ",
        authority_bytes,
        _CRLF,
        head.lines,
        b"x-forwarded-for: ",
        exchange.xff,
        b"\r\nx-forwarded-proto: ",
        proto.scheme_bytes,
        b"\r\nx-request-id: ",
        exchange.request_id,
        b"\r\nx-envoy-external-address: ",
        proto.client_ip_bytes,
        b"\r\n",
        extra,
        ATTEMPT_LINE,
        framing,
        _CRLF,
    )


def build_response_head(
    exchange: Exchange,
    conn: UpstreamConnection,
    status: int,
    decision: RouteDecision,
    plan: RoutePlan,
) -> tuple[bytes, int, bool]:
    """(head bytes, body framing toward the client, close-delimited backend body)."""
    head = exchange.head
    length = conn.length
    mode, close_delimited = NONE, False
    content_length = b""  # a Content-Length forwarded as is: its line is written as three parts
    if status == 101:
        framing = b"connection: upgrade\r\nupgrade: %s\r\n" % head.upgrade
    else:
        if head.is_head or status in {204, 304}:
            framing = b"content-length: %s\r\n" % length if len(length) > 0 and status != 204 else b""
            if conn.chunked and head.is_head:
                framing = _CHUNKED_LINE
        elif len(length) > 0:
            mode = LENGTH
            framing = b""
            content_length = length
        else:  # chunked, or delimited by the backend closing: chunked toward the client
            mode = CHUNKED
            close_delimited = not conn.chunked
            framing = _CHUNKED_LINE
        proto = exchange.proto
        if exchange.close_after or proto.closing:
            framing += b"connection: close\r\n"
    millis = exchange.service_time
    server_lines = exchange.proto.ctx.server_lines  # up to the service time's value
    service_time = _SERVICE_TIMES[millis] if 0 <= millis < 1000 else b"%d\r\n" % millis
    extra = exchange.response_extra
    if len(conn.connection) > 0 or extra is not None or not plan.plain_response:
        edits = plan.response_edits(decision.route, decision.destination, extra)
        gateway = server_lines + service_time
        if len(content_length) > 0:
            framing = _CONTENT_LENGTH + content_length + _CRLF + framing
        return downstream_response_head(status, conn, gateway, edits, framing), mode, close_delimited
    # the Content-Length line as parts of the one concat (not bytes built first: ~0.15k)
    name = end = b""
    if len(content_length) > 0:
        name, end = _CONTENT_LENGTH, _CRLF
    status_line = local_reply.status_line(status)
    if conn.has_date:
        out = concat(
            status_line, conn.lines, server_lines, service_time, name, content_length, end, framing, _CRLF
        )
    else:
        date = concat(b"date: ", local_reply.date_header(), _CRLF)
        out = concat(
            status_line,
            conn.lines,
            date,
            server_lines,
            service_time,
            name,
            content_length,
            end,
            framing,
            _CRLF,
        )
    return out, mode, close_delimited


def hash_key(exchange: Exchange, policy: ir.HashPolicy, view: RequestView) -> bytes | None:
    """The consistent-hash key; None = no hash (the endpoint is picked as without hashing).
    A missing cookie with a `ttl` is created: its value hashes this request and the response
    sets it (`name="value"; Max-Age=ttl; Path=path; HttpOnly`, Envoy's format)."""
    if policy.header:
        value = view.headers.get(policy.header.lower())
        return value.encode("latin-1") if value else None
    if policy.cookie:
        value = cookie_value(view.headers.get("cookie"), policy.cookie)
        if value:
            return value.encode("latin-1")
        if policy.cookie_ttl is None:
            return None
        value = f"{_cookie_bits(64):016x}"
        attrs = f"; Max-Age={int(policy.cookie_ttl)}" if policy.cookie_ttl else ""
        if policy.cookie_path:
            attrs += f"; Path={policy.cookie_path}"
        cookie = ("set-cookie", f'{policy.cookie}="{value}"{attrs}; HttpOnly')
        extra = exchange.response_extra
        exchange.response_extra = ir.HeaderEdits(
            set=extra.set if extra else (), add=(*(extra.add if extra else ()), cookie)
        )
        return value.encode("latin-1")
    if policy.source_ip:
        return view.client_address.encode("latin-1")
    if policy.query_parameter:
        for name, value in parse_qsl(view.query, keep_blank_values=True):
            if name == policy.query_parameter:
                return value.encode("latin-1")
    return None


def cookie_value(header: str | None, name: str) -> str:
    if not header:
        return ""
    for item in header.split(";"):
        key, sep, value = item.strip().partition("=")
        if sep and key == name:
            return value.strip().strip('"')
    return ""
