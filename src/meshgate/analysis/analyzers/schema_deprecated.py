"""schema.Deprecated: API versions and fields that still load but are deprecated or removed (IST0002).

* Ingress `extensions/v1beta1` and `networking.k8s.io/v1beta1` (the seed's cafe Ingress) were removed
  in Kubernetes 1.22, and istiod reads only `networking.k8s.io/v1` since 1.18 (istio-semantics 7.2);
  meshgate still converts them the way older Istio did.
* VirtualService `mirrorPercent` (use `mirrorPercentage`) and `fault.delay.percent` (use
  `percentage`), as Istio's deprecation analyzer reports.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.ingress import Ingress
from meshgate.resources.istio import VirtualService
from meshgate.resources.registry import LEGACY_INGRESS_VERSIONS


class Deprecated(Analyzer):
    name = "schema.Deprecated"
    description = "Finds deprecated or removed API versions and fields"
    inputs = ("Ingress", "VirtualService")
    codes = ("IST0002",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for ingress in context.bundle.of(Ingress):
            if ingress.api_version in LEGACY_INGRESS_VERSIONS:
                yield make(
                    "IST0002",
                    origin=ingress.origin_of("apiVersion"),
                    resource=ingress.ref,
                    field_path="apiVersion",
                    what=f"Ingress apiVersion {ingress.api_version}",
                    reason="removed in Kubernetes 1.22, and istiod reads only networking.k8s.io/v1 since"
                    " Istio 1.18 (meshgate converts it as older Istio did)",
                    fix="Use apiVersion networking.k8s.io/v1: backend.service.name and .port.number,"
                    " spec.defaultBackend, and a pathType on every path.",
                )
        for vs in context.virtual_services:
            yield from self._virtual_service(vs)

    @staticmethod
    def _virtual_service(vs: VirtualService) -> Iterator[Diagnostic]:
        for i, rule in enumerate(vs.spec.http):
            at = f"spec.http[{i}]"
            if rule.mirror_percent is not None:
                yield make(
                    "IST0002",
                    origin=vs.origin_of(f"{at}.mirrorPercent"),
                    resource=vs.ref,
                    field_path=f"{at}.mirrorPercent",
                    what="mirrorPercent",
                    reason="replaced by mirrorPercentage",
                    fix="Write mirrorPercentage: {value: N}.",
                )
            delay = rule.fault.delay if rule.fault is not None else None
            if delay is not None and delay.percent is not None:
                path = f"{at}.fault.delay.percent"
                yield make(
                    "IST0002",
                    origin=vs.origin_of(path),
                    resource=vs.ref,
                    field_path=path,
                    what="fault.delay.percent",
                    reason="replaced by fault.delay.percentage",
                    fix="Write percentage: {value: N}.",
                )
