"""virtualservice.Rewrite: `rewrite.uri` combinations that glue or double path segments.

`rewrite.uri` replaces only the part of the path the route's match consumed (Envoy prefix_rewrite,
istio-semantics 3.10): `prefix: /api` rewritten to `/` turns `/api/users` into `//users`; `prefix:
/api/` rewritten to `/v2` turns `/api/users` into `/v2users`, and so does a rewrite on a route
without a uri match (only the leading `/` is consumed). The upstream path is computed with the
router's own rewrite code (`routing.rewrite`) for a sample request.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate import ir
from meshgate.analysis import sources
from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.routing.request import RequestView
from meshgate.routing.rewrite import replace_matched_prefix


def problem(path: ir.PathMatch | None, rewrite: str) -> tuple[str, str, str, str] | None:
    """(match text, example request path, upstream path, fix) when the rewrite glues or doubles
    segments, else None."""
    if path is None:
        match_text, example = "a route without uri match", "/users"
    elif path.kind is ir.PathMatchKind.PREFIX and "?" not in path.value:
        match_text = f"prefix {path.value}"
        example = path.value + ("users" if path.value.endswith("/") else "/users")
    else:
        return None  # exact and regex replace the whole path; segment prefixes are Ingress-only
    result = replace_matched_prefix(
        path, RequestView(port=80, authority="example.com", path=example), rewrite
    )
    tail = result[len(rewrite) :] if result.startswith(rewrite) else ""
    if "//" in result and "//" not in example:
        base = path.value if path is not None else "/"
        fix = (
            f"Match prefix {base.rstrip('/')}/ (rewritten to {rewrite}) and exact {base.rstrip('/')} in"
            f" separate match entries, or drop the trailing '/' of the rewrite."
        )
        return match_text, example, result, fix
    if rewrite and not rewrite.endswith("/") and tail and not tail.startswith("/"):
        fix = f"End the rewrite with '/' ({rewrite}/), since the consumed part ends with '/'."
        return match_text, example, result, fix
    return None


class Rewrite(Analyzer):
    name = "virtualservice.Rewrite"
    description = "Finds uri rewrites that produce '//' or glue path segments together"
    inputs = ("VirtualService",)
    codes = ("MG0406",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        seen: set[ir.Source] = set()
        for slot in context.route_slots():
            route, source = slot.route, slot.route.source
            action = route.action
            if source is None or source in seen or not isinstance(action, ir.Forward):
                continue
            if action.rewrite is None or action.rewrite.uri is None:
                continue
            if context.is_generated(source.kind, source.namespace, source.name):
                continue
            seen.add(source)
            found = problem(route.match.path, action.rewrite.uri)
            if found is None:
                continue
            match_text, example, result, fix = found
            rule, _ = sources.rule_path(source)
            owner = context.resource(source)
            at = f"{rule}.rewrite.uri"
            origin = owner.origin_of(at) if owner is not None else sources.origin(source)
            yield make(
                "MG0406",
                origin=origin,
                resource=sources.ref(source),
                field_path=at,
                rewrite=action.rewrite.uri,
                match=match_text,
                example=example,
                result=result,
                fix=fix,
            )
