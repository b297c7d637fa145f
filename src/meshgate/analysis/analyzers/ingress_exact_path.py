"""ingress.ExactPath: ImplementationSpecific paths that Istio matches exactly although they look like
prefixes.

Istio reads an ImplementationSpecific path (the only kind `extensions/v1beta1` has, since it has no
pathType) as an exact match unless it ends in `/*` or `.*` (istio-semantics 7.6). The seed's cafe
Ingress routes `/tea`: `/tea/green` gets 404 behind Istio, while ingress-nginx would route it.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.ingress import Ingress
from meshgate.translate.ingress_class import class_decision
from meshgate.translate.ingress_paths import (
    IMPLEMENTATION_SPECIFIC,
    PathCondition,
    UriKind,
    convert_path,
    has_regex_characters,
    normalize_path_type,
)


class ExactPath(Analyzer):
    name = "ingress.ExactPath"
    description = "Finds ImplementationSpecific Ingress paths that Istio matches exactly, not as prefixes"
    inputs = ("Ingress",)
    codes = ("MG0409",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for ingress in context.bundle.of(Ingress):
            if not class_decision(ingress, context.bundle, context.options).handled:
                continue
            yield from self._paths(ingress)

    @staticmethod
    def _paths(ingress: Ingress) -> Iterator[Diagnostic]:
        for i, rule in enumerate(ingress.spec.rules):
            if rule.http is None:
                continue
            for j, path in enumerate(rule.http.paths):
                if normalize_path_type(path.path_type) != IMPLEMENTATION_SPECIFIC:
                    continue
                condition = convert_path(path.path, path.path_type)
                if not isinstance(condition, PathCondition) or condition.kind is not UriKind.EXACT:
                    continue
                if has_regex_characters(path.path, path.path_type):
                    continue  # MG0206 (translation) says it is matched literally
                at = f"spec.rules[{i}].http.paths[{j}].path"
                shown = path.path_type or "(none: ImplementationSpecific)"
                yield make(
                    "MG0409",
                    origin=ingress.origin_of(at),
                    resource=ingress.ref,
                    field_path=at,
                    path=path.path,
                    path_type=shown,
                    example=f"{path.path.rstrip('/')}/green",
                    star=f"{path.path.rstrip('/')}/*",
                )
