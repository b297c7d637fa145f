"""virtualservice.ConflictingRoutes: routes of different VirtualServices for one host that overlap.

Istio merges every VirtualService bound to a gateway into one route list per host, in creation
order (istio-semantics sec. 4), without conflict detection. When a route of one VirtualService and
a route of another both match some request, which one answers depends on which object was created
first: re-applying the files in another order changes routing. Routes fully shadowed are reported
by virtualservice.ShadowedRoutes instead; catch-all routes (moved last on purpose) are not conflicts.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis import sources
from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.shadowing import Shadowing
from meshgate.diag import Diagnostic, make
from meshgate.routing.request import RequestView


def _example(request: RequestView) -> str:
    parts = [f"{request.method} {request.target}"]
    parts += [f"{name}: {value}" for name, value in sorted(request.headers.items())]
    return "'" + "; ".join(parts) + "'"


class ConflictingRoutes(Analyzer):
    name = "virtualservice.ConflictingRoutes"
    description = "Finds routes of different VirtualServices for one host that match the same requests"
    inputs = ("VirtualService",)
    codes = ("MG0403",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        shadowing = context.shared("shadowing", Shadowing)
        seen: set[tuple[str, str, str, str, str]] = set()
        for found in shadowing.overlaps:
            later, earlier = found.route.source, found.earlier.source
            if later is None or earlier is None:
                continue
            host = ", ".join(found.vhost.domains)
            key = (later.namespace, later.name, earlier.namespace, earlier.name, host)
            if key in seen:
                continue
            seen.add(key)
            yield make(
                "MG0403",
                origin=sources.origin(later),
                resource=sources.ref(later),
                field_path=later.detail,
                host=host,
                route=sources.route_label(found.route),
                other=sources.route_label(found.earlier),
                example=_example(found.example),
                winner=f"{earlier.kind} {earlier.namespace}/{earlier.name}",
            )
