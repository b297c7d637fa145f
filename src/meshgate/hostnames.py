"""Host name rules shared by translation and routing (pure string functions).

Wildcards are Istio/Envoy style: `*` matches everything, `*.example.com` matches any name ending in
`.example.com` with at least one more character (so never `example.com` itself), across any
number of labels.
"""

from __future__ import annotations

import ipaddress


def is_wildcard(host: str) -> bool:
    return host.startswith("*")


def covers(pattern: str, host: str) -> bool:
    """Istio's `host.Name.Matches`-style 'host is covered by pattern' (both may be wildcards)."""
    if pattern == "*":
        return True
    if not is_wildcard(pattern):
        return not is_wildcard(host) and pattern == host
    suffix = pattern[1:]
    if is_wildcard(host):
        if host == "*":
            return False
        return len(host) >= len(pattern) and host[1:].endswith(suffix)
    return len(host) > len(suffix) and host.endswith(suffix)


def intersect(server_host: str, vs_host: str) -> str | None:
    """The vhost domain produced by a server host and a VirtualService host, or None (sec. 3.4)."""
    if covers(server_host, vs_host):
        return vs_host
    if covers(vs_host, server_host):
        return server_host
    return None


def overlaps(a: str, b: str) -> bool:
    return covers(a, b) or covers(b, a)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def strip_port(authority: str) -> str:
    """Host header without port; handles IPv6 literals (`[::1]:8080`)."""
    if authority.startswith("["):
        end = authority.find("]")
        return authority[: end + 1] if end != -1 else authority
    colon = authority.rfind(":")
    if colon != -1 and authority[colon + 1 :].isdigit():
        return authority[:colon]
    return authority
