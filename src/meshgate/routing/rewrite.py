"""What is sent upstream: path rewrites and authority (istio-semantics.md sec. 3.10).

`rewrite.uri` is Envoy's `prefix_rewrite`: the part of the path that the route's *path match*
consumed is replaced and everything after it, query included, is kept:

| path match            | part replaced                                                       |
|-----------------------|---------------------------------------------------------------------|
| prefix P              | the first len(P) characters (case-insensitively equal under ignore) |
| segment prefix P      | P without its trailing "/" ("" or "/" behave like no condition)     |
| exact / regex         | the whole path; the query is appended unchanged                     |
| none                  | only the leading "/"                                                |

`uriRegexRewrite` is an RE2 replace-all on the path without the query (`\\1`..`\\9` are groups,
`\\0` the whole match); an empty result leaves the path untouched; the query is re-appended.
Redirects with `prefixRewrite` use the same prefix replacement (`redirect.py`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2

from meshgate import ir
from meshgate.routing.primitives import compile_regex, fold
from meshgate.routing.request import RequestView

__all__ = ["replace_matched_prefix", "upstream_authority", "upstream_target"]


def replace_matched_prefix(path_match: ir.PathMatch | None, request: RequestView, replacement: str) -> str:
    """Envoy prefix_rewrite: replace what the route's path match consumed; keep the rest and query."""
    target = request.target
    if path_match is None:
        return _replace_leading_slash(target, replacement)
    kind = path_match.kind
    if kind is ir.PathMatchKind.PREFIX:
        return _replace_prefix(target, path_match.value, path_match.ignore_case, replacement)
    if kind is ir.PathMatchKind.SEGMENT_PREFIX:
        base = path_match.value.removesuffix("/")
        if not base:
            return _replace_leading_slash(target, replacement)
        return _replace_prefix(target, base, path_match.ignore_case, replacement)
    # exact and regex consume the whole path (never the query).
    return _with_query(replacement, request.query)


def _replace_leading_slash(target: str, replacement: str) -> str:
    return replacement + target[1:] if target.startswith("/") else replacement + target


def _replace_prefix(target: str, prefix: str, ignore_case: bool, replacement: str) -> str:
    head = target[: len(prefix)]
    held = fold(head) == fold(prefix) if ignore_case else head == prefix
    # Called for a request the route did not match: nothing was consumed, so nothing is replaced.
    return replacement + target[len(prefix) :] if held else target


def _with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


@functools.lru_cache(maxsize=4096)
def _substitution(template: str) -> Callable[[Any], str]:
    """Compile an Envoy/RE2 substitution (`\\0`-`\\9` groups, `\\\\` a backslash) into a callable.

    Python's own template syntax differs (`\\0` is an octal escape there), so it is parsed here.
    """
    parts: list[str | int] = []
    literal: list[str] = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "\\" and i + 1 < len(template):
            nxt = template[i + 1]
            if nxt.isdigit():
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(int(nxt))
                i += 2
                continue
            if nxt == "\\":
                literal.append("\\")
                i += 2
                continue
        literal.append(ch)
        i += 1
    if literal:
        parts.append("".join(literal))
    frozen = tuple(parts)

    def expand(match: Any) -> str:
        out: list[str] = []
        for part in frozen:
            if isinstance(part, int):
                out.append((match.group(part) or "") if part <= match.re.groups else "")
            else:
                out.append(part)
        return "".join(out)

    return expand


def regex_rewrite(path: str, pattern: str, substitution: str) -> str:
    """RE2 replace-all on `path`; an invalid pattern or an empty result leaves `path` untouched."""
    try:
        compiled = compile_regex(pattern)  # cached: compiled when the table was compiled
    except re2.error:
        return path
    rewritten: str = compiled.sub(_substitution(substitution), path)
    return rewritten or path


def prepare(rewrite: ir.Rewrite) -> None:
    """Warm the regex and substitution caches at compile time so no request compiles a regex."""
    if rewrite.regex is not None:
        try:
            compile_regex(rewrite.regex)
        except re2.error:
            return
        _substitution(rewrite.regex_substitution)


def upstream_target(route: ir.Route, request: RequestView) -> str:
    """The path and query to send upstream for `request` forwarded by `route`."""
    action = route.action
    if not isinstance(action, ir.Forward) or action.rewrite is None:
        return request.target
    rewrite = action.rewrite
    if rewrite.regex is not None:  # Istio checks uriRegexRewrite before uri
        path = regex_rewrite(request.path, rewrite.regex, rewrite.regex_substitution)
        return _with_query(path, request.query)
    if rewrite.uri:
        return replace_matched_prefix(route.match.path, request, rewrite.uri)
    return request.target


def upstream_authority(route: ir.Route, destination: ir.WeightedCluster, request: RequestView) -> str:
    """Host/`:authority` towards the upstream.

    A route-level rewrite wins for a single-destination route (Istio puts it on the route and only
    uses a destination's own `host` header when the route has none); with several destinations each
    destination's own authority wins, falling back to the route's.
    """
    action = route.action
    route_authority = ""
    single = True
    if isinstance(action, ir.Forward):
        single = len(action.clusters) <= 1
        if action.rewrite is not None:
            route_authority = action.rewrite.authority
    if single:
        return route_authority or destination.authority or request.authority
    return destination.authority or route_authority or request.authority
