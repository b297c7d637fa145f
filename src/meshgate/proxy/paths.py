"""Request-target handling before routing (istio-semantics 8.5, meshConfig pathNormalization DEFAULT).

- origin-form `/p?q` and absolute-form `http://host/p?q` (RFC 9112 §3.2) are accepted; the
  authority of an absolute-form target replaces `Host`;
- a `#fragment` is stripped (istiod turns Envoy's reject-on-fragment off);
- dot-segments are resolved (RFC 3986 §5.2.4), `%2e` counting as `.`; climbing above the root
  stays at the root;
- slashes are not merged and `%2F`/`%5C` are kept as sent;
- anything else that is not a path (empty, or not starting with `/`) is unnormalizable → 400.
"""

from __future__ import annotations

from meshgate.proxy.errors import DownstreamError

_DOT_SEGMENTS = frozenset({".", ".."})


class BadPath(DownstreamError):
    details = "path_normalization_failed"


def split_target(target: str) -> tuple[str, str, str]:
    """Return (authority from absolute-form or "", normalized path, query)."""
    authority = ""
    hash_at = target.find("#")
    if hash_at >= 0:
        target = target[:hash_at]
    if not target.startswith("/"):
        lowered = target[:8].lower()
        if lowered.startswith(("http://", "https://")):
            rest = target[target.index("//") + 2 :]
            cut = len(rest)
            for sep in "/?":
                at = rest.find(sep)
                if 0 <= at < cut:
                    cut = at
            authority, target = rest[:cut], rest[cut:]
            if not authority:
                raise BadPath("absolute-form target without authority")
            if not target.startswith("/"):
                target = "/" + target
        elif target == "*":
            return "", "*", ""
        else:
            raise BadPath("request target is not a path")
    query_at = target.find("?")
    if query_at >= 0:
        path, query = target[:query_at], target[query_at + 1 :]
    else:
        path, query = target, ""
    return authority, normalize_path(path), query


def normalize_path(path: str) -> str:
    # Fast path: nothing that could form a dot-segment.
    if "/." not in path and "%2" not in path:
        return path
    segments = path.split("/")
    if not any(_is_dot(s) for s in segments):
        return path
    out: list[str] = []
    last = len(segments) - 1
    for index, segment in enumerate(segments[1:], start=1):
        dot = _dot_kind(segment)
        if dot == ".":
            if index == last:
                out.append("")  # "/a/." → "/a/"
        elif dot == "..":
            if out:
                out.pop()
            if index == last:
                out.append("")  # "/a/b/.." → "/a/"
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _is_dot(segment: str) -> bool:
    return _dot_kind(segment) != ""


def _dot_kind(segment: str) -> str:
    if segment in _DOT_SEGMENTS:
        return segment
    if len(segment) < 3 or "%" not in segment:
        return ""
    decoded = segment.replace("%2e", ".").replace("%2E", ".")
    return decoded if decoded in _DOT_SEGMENTS else ""
