"""Options that change how input is translated. One frozen object, passed explicitly."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class IngressMode(enum.Enum):
    """Istio's meshConfig.ingressControllerMode. meshgate defaults to DEFAULT (Istio: STRICT) so that
    Ingress objects without a class are served, which is what a standalone gateway user expects."""

    DEFAULT = "DEFAULT"
    STRICT = "STRICT"
    OFF = "OFF"


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    # Identity of the gateway workload: which Gateways select us and where credentials live.
    workload_labels: tuple[tuple[str, str], ...] = (
        ("app", "istio-ingressgateway"),
        ("istio", "ingressgateway"),
    )
    namespace: str = "istio-system"
    domain_suffix: str = "cluster.local"
    ingress_mode: IngressMode = IngressMode.DEFAULT
    ingress_class: str = "istio"
    ingress_controller: str = "istio.io/ingress-controller"
    # Serve Ingress spec.defaultBackend (Kubernetes semantics). Istio ignores it.
    ingress_default_backend: bool = True
    # Where generated Ingress Gateways live (Istio's K8S_INGRESS_NS).
    ingress_namespace: str = ""
    extra: tuple[tuple[str, str], ...] = field(default=())

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.workload_labels)

    @property
    def generated_gateway_namespace(self) -> str:
        return self.ingress_namespace or self.namespace

    def selects(self, selector: dict[str, str]) -> bool:
        """A Gateway selector matches when every pair is among our labels (empty matches all)."""
        labels = self.labels
        return all(labels.get(key) == value for key, value in selector.items())
