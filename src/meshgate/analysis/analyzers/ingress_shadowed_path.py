"""ingress.ShadowedPath: Ingress paths that can never match because an earlier route takes them.

Istio orders the paths of one host, across all Ingresses, longest first (istio-semantics 7.7), so
shadowing among Ingress paths comes from duplicates in effect: `/foo` and `/foo/` (both Prefix), a
Prefix and an ImplementationSpecific `/foo/*`, the same path in two Ingresses, several catch-alls.
Detection runs on the translated virtual hosts (`analysis.shadowing`); each generated route is
traced back to its Ingress path through the source line translation recorded for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from meshgate import ir
from meshgate.analysis import sources
from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.analysis.shadowing import Shadowing
from meshgate.diag import Diagnostic, make
from meshgate.resources.ingress import Ingress
from meshgate.translate.ingress import DEFAULT_ROUTE_NAME


@dataclass(frozen=True, slots=True)
class IngressPath:
    ingress: Ingress
    field_path: str  # spec.rules[i].http.paths[j]
    path: str
    path_type: str
    host: str

    def label(self) -> str:
        kind = self.path_type or "ImplementationSpecific"
        return (
            f"path {self.path or '(empty)'} ({kind}) of Ingress {self.ingress.namespace}/{self.ingress.name}"
            f" at {self.ingress.origin_of(self.field_path)}"
        )


def ingress_paths(context: Context) -> dict[tuple[str, int], IngressPath]:
    """(file, line) of each Ingress path (its item and its `path:` line) → the path."""
    out: dict[tuple[str, int], IngressPath] = {}
    for ingress in context.bundle.of(Ingress):
        for i, rule in enumerate(ingress.spec.rules):
            if rule.http is None:
                continue
            for j, item in enumerate(rule.http.paths):
                at = f"spec.rules[{i}].http.paths[{j}]"
                entry = IngressPath(ingress, at, item.path, item.path_type, rule.host or "*")
                for field in (at, f"{at}.path"):
                    found = ingress.origin_of(field)
                    out.setdefault((found.file, found.line), entry)
    return out


class ShadowedPath(Analyzer):
    name = "ingress.ShadowedPath"
    description = "Finds Ingress paths that an earlier route of the same host always takes first"
    inputs = ("Ingress",)
    codes = ("MG0410",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        shadowing = context.shared("shadowing", Shadowing)
        paths = ingress_paths(context)
        seen: set[tuple[object, ...]] = set()
        for shadow in shadowing.shadows:
            route, by = shadow.route, shadow.by
            source = route.source
            if (
                by is None
                or source is None
                or not context.is_generated(source.kind, source.namespace, source.name)
            ):
                continue
            if route.name == DEFAULT_ROUTE_NAME:
                continue  # an unreachable defaultBackend is MG0210 (translation)
            mine = paths.get((source.file, source.line))
            other = self._label(by, paths)
            key = (source, other)
            if key in seen:
                continue
            seen.add(key)
            if mine is None:
                yield make(
                    "MG0410",
                    origin=sources.origin(source),
                    resource=sources.ref(source),
                    field_path=source.detail,
                    path=_path_text(route),
                    path_type="generated route",
                    host=", ".join(shadow.vhost.domains),
                    other=other,
                )
                continue
            at = f"{mine.field_path}.path"
            yield make(
                "MG0410",
                origin=mine.ingress.origin_of(at),
                resource=mine.ingress.ref,
                field_path=at,
                path=mine.path or "(empty)",
                path_type=mine.path_type or "ImplementationSpecific",
                host=mine.host,
                other=other,
            )

    @staticmethod
    def _label(route: ir.Route, paths: dict[tuple[str, int], IngressPath]) -> str:
        source = route.source
        if source is not None:
            found = paths.get((source.file, source.line))
            if found is not None:
                return found.label()
        return sources.route_label(route)


def _path_text(route: ir.Route) -> str:
    path = route.match.path
    return path.value if path is not None else "(any)"
