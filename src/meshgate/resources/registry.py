"""The explicit map from (apiVersion, kind) to input model. Nothing registers itself by import."""

from __future__ import annotations

from meshgate.resources.base import Resource
from meshgate.resources.core import ConfigMap, Endpoints, EndpointSlice, Pod, Secret, Service
from meshgate.resources.ingress import Ingress, IngressClass
from meshgate.resources.istio import (
    DestinationRule,
    Gateway,
    ServiceEntry,
    VirtualService,
    WorkloadEntry,
)

MODELS: tuple[type[Resource], ...] = (
    ConfigMap,
    DestinationRule,
    EndpointSlice,
    Endpoints,
    Gateway,
    Ingress,
    IngressClass,
    Pod,
    Secret,
    Service,
    ServiceEntry,
    VirtualService,
    WorkloadEntry,
)

# Old Ingress versions live in another group; they are converted to networking.k8s.io/v1 on load.
LEGACY_INGRESS_VERSIONS = ("extensions/v1beta1", "networking.k8s.io/v1beta1")


def _api_versions(model: type[Resource]) -> list[str]:
    if not model.API_GROUP:
        return list(model.API_VERSIONS)
    return [f"{model.API_GROUP}/{version}" for version in model.API_VERSIONS]


REGISTRY: dict[tuple[str, str], type[Resource]] = {
    (api_version, model.KIND): model for model in MODELS for api_version in _api_versions(model)
}
REGISTRY[("extensions/v1beta1", "Ingress")] = Ingress

KNOWN_KINDS: frozenset[str] = frozenset(model.KIND for model in MODELS)


def model_for(api_version: str, kind: str) -> type[Resource] | None:
    return REGISTRY.get((api_version, kind))
