"""The data plane: the only package that touches sockets.

server.py     listeners, accept, graceful stop
http1.py      downstream HTTP/1.1 protocol (httptools callbacks, keep-alive, pipelining)
forward.py    one request/response exchange (decide once, stream both ways)
upstream.py   backend connections and per-endpoint pools
tunnel.py     Upgrade/WebSocket byte relay
headers.py    hop-by-hop removal, forwarding headers, header edits
paths.py      request-target split and path normalization
local_reply.py, errors.py, limits.py, access_log.py, stats.py, context.py
"""

from meshgate.proxy.context import ProxyContext
from meshgate.proxy.limits import DEFAULT_LIMITS, Limits
from meshgate.proxy.server import BoundListener, ListenError, ProxyServer

__all__ = ["DEFAULT_LIMITS", "BoundListener", "Limits", "ListenError", "ProxyContext", "ProxyServer"]
