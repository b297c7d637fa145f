"""`location` of redirects (istio-semantics.md sec. 3.8 and 1.5), as Envoy computes it.

Rules implemented here (numbers from sec. 3.8):
2. path: `path` replaces the whole path; if it has its own `?query` that replaces the request's,
   otherwise the request's query is kept. `prefix_rewrite` replaces only what the route's path
   match consumed (same helper as route rewrites). Neither: original path and query.
3. host: `host` (authority) replaces the Host *and drops its port*. Without it the request's Host is
   reused as sent; its port is dropped when a port is written (rule 4), or when the scheme
   changes and the old port was the default of the old scheme (`:80` http, `:443` https).
4. port: `port: N` writes `:N`, except `:80` under http and `:443` under https; 0 is the protocol
   default (no port). When a port is set and `scheme` is not, the scheme deciding that elision is
   https on servers with a TLS block (`server_tls`) and http otherwise (istiod's ApplyRedirect);
   the scheme written into the location stays the request's.
   An elided or default port (0) writes nothing and so, as in Envoy (istiod leaves
   `port_redirect` unset then), does not remove the request's port: `Host: a:8080` with
   `derivePort: FROM_PROTOCOL_DEFAULT` keeps `a:8080` unless rule 3's scheme change applies.
5. scheme: `scheme` replaces the request's.
"""

from __future__ import annotations

from meshgate import ir
from meshgate.hostnames import strip_port
from meshgate.routing.request import RequestView
from meshgate.routing.rewrite import replace_matched_prefix

__all__ = ["redirect_location", "split_authority", "tls_redirect_location"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def split_authority(authority: str) -> tuple[str, str]:
    """(host, port) of a Host header; port "" when absent. IPv6 literals keep their brackets."""
    host = strip_port(authority)
    return host, authority[len(host) + 1 :]


def tls_redirect_location(request: RequestView) -> str:
    """httpsRedirect (vhost requires TLS): `https://<Host as sent, port included><path>[?query]`."""
    return f"https://{request.authority}{request.target}"


def redirect_location(redirect: ir.Redirect, path_match: ir.PathMatch | None, request: RequestView) -> str:
    request_scheme = request.scheme
    scheme = redirect.scheme or request_scheme
    port = _port(redirect)
    return f"{scheme}://{_host(redirect, request, scheme, port)}{port}{_path(redirect, path_match, request)}"


def _path(redirect: ir.Redirect, path_match: ir.PathMatch | None, request: RequestView) -> str:
    if redirect.path:
        if "?" in redirect.path:
            path = redirect.path
        else:
            path = f"{redirect.path}?{request.query}" if request.query else redirect.path
    elif redirect.prefix_rewrite is not None:
        path = replace_matched_prefix(path_match, request, redirect.prefix_rewrite)
    else:
        path = request.target
    # Envoy always emits an absolute path.
    return path if path.startswith("/") else "/" + path


def _host(redirect: ir.Redirect, request: RequestView, new_scheme: str, new_port: str) -> str:
    if redirect.host:
        return redirect.host
    authority = request.authority
    host, port = split_authority(authority)
    if not port:
        return authority
    if new_port:
        return host
    old_scheme = request.scheme
    if new_scheme != old_scheme and _DEFAULT_PORTS.get(old_scheme) == port:
        return host
    return authority


def _port(redirect: ir.Redirect) -> str:
    port = redirect.port
    if not port:  # None: keep (inside the Host); 0: protocol default, never written
        return ""
    elision_scheme = redirect.scheme or ("https" if redirect.server_tls else "http")
    if str(port) == _DEFAULT_PORTS.get(elision_scheme):
        return ""
    return f":{port}"
