"""The one lazy timer of a downstream HTTP/1 connection (http1.py): the header-read timeout (408 and
close when a request head takes too long) and the keep-alive idle timeout (close).

It is not reset on every request: when it fires it checks how long the connection has been in its
current state and re-arms itself for the time that is left, so a busy connection costs one timer
wake-up per timeout period instead of a cancel and a new timer per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshgate.proxy import local_reply
from meshgate.proxy.errors import HeaderTimeout
from meshgate.proxy.limits import clock

if TYPE_CHECKING:
    from meshgate.proxy.http1 import HttpProtocol


def check(proto: HttpProtocol) -> float | None:
    """Act on an expired timeout; the delay until the next check, or None when the connection
    is closed, tunnelled or has just been closed here."""
    if proto.closed or proto.tunnel is not None:
        return None
    limits = proto.limits
    now = clock()  # the clock the head and idle stamps are read on
    if proto.current is not None or proto.queue or proto.receiving is not None:
        return min(limits.idle_timeout, limits.header_read_timeout)
    if proto.in_head:
        remaining = proto._head_since + limits.header_read_timeout - now
        if remaining <= 0:
            proto._stop_parsing()
            reply = local_reply.for_error(HeaderTimeout(), close=True, server=proto.ctx.server_header)
            proto.out.append(reply)
            proto.close()
            return None
    else:
        remaining = proto._idle_since + limits.idle_timeout - now
        if remaining <= 0:
            proto.close()
            return None
    return remaining
