"""Kubernetes Ingress (networking.k8s.io/v1, v1beta1 and extensions/v1beta1) and IngressClass.

The two beta versions are converted to the v1 shape before validation, as the API server does:
`backend.serviceName`/`servicePort` become `backend.service.name`/`.port.number|name`, and
`spec.backend` becomes `spec.defaultBackend`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from meshgate.resources.base import Model, Resource


class ServiceBackendPort(Model):
    number: int | None = None
    name: str = ""


class IngressServiceBackend(Model):
    name: str
    port: ServiceBackendPort = Field(default_factory=ServiceBackendPort)


class IngressBackend(Model):
    service: IngressServiceBackend | None = None
    resource: dict[str, Any] | None = None


class HTTPIngressPath(Model):
    path: str = ""
    path_type: str = ""
    backend: IngressBackend


class HTTPIngressRuleValue(Model):
    paths: list[HTTPIngressPath] = Field(default_factory=list)


class IngressRule(Model):
    host: str = ""
    http: HTTPIngressRuleValue | None = None


class IngressTLS(Model):
    hosts: list[str] = Field(default_factory=list)
    secret_name: str = ""


class IngressSpec(Model):
    ingress_class_name: str = ""
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] = Field(default_factory=list)
    rules: list[IngressRule] = Field(default_factory=list)


class Ingress(Resource):
    API_GROUP: ClassVar[str] = "networking.k8s.io"
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1", "v1beta1")
    KIND: ClassVar[str] = "Ingress"
    spec: IngressSpec = Field(default_factory=IngressSpec)


class IngressClassSpec(Model):
    controller: str = ""
    parameters: dict[str, Any] | None = None


class IngressClass(Resource):
    API_GROUP: ClassVar[str] = "networking.k8s.io"
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1", "v1beta1")
    KIND: ClassVar[str] = "IngressClass"
    NAMESPACED: ClassVar[bool] = False
    spec: IngressClassSpec = Field(default_factory=IngressClassSpec)


def _convert_beta_backend(backend: Any) -> Any:
    if not isinstance(backend, dict) or "serviceName" not in backend:
        return backend
    converted = {k: v for k, v in backend.items() if k not in ("serviceName", "servicePort")}
    port = backend.get("servicePort")
    port_obj: dict[str, Any] = {}
    if isinstance(port, int) and not isinstance(port, bool):
        port_obj["number"] = port
    elif isinstance(port, str):
        port_obj = {"number": int(port)} if port.isdigit() else {"name": port}
    converted["service"] = {"name": backend["serviceName"], "port": port_obj}
    return converted


def convert_beta_ingress(doc: dict[str, Any], lines: dict[str, int]) -> dict[str, Any]:
    """Rewrite a v1beta1 Ingress document into the v1 shape (and keep field lines pointing home)."""
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return doc
    spec = dict(spec)
    if "backend" in spec:
        spec["defaultBackend"] = _convert_beta_backend(spec.pop("backend"))
        if "spec.backend" in lines:
            lines["spec.defaultBackend"] = lines["spec.backend"]
    rules = spec.get("rules")
    if isinstance(rules, list):
        new_rules = []
        for rule in rules:
            if isinstance(rule, dict) and isinstance(rule.get("http"), dict):
                http = dict(rule["http"])
                paths = http.get("paths")
                if isinstance(paths, list):
                    http["paths"] = [
                        {**p, "backend": _convert_beta_backend(p.get("backend"))}
                        if isinstance(p, dict)
                        else p
                        for p in paths
                    ]
                rule = {**rule, "http": http}
            new_rules.append(rule)
        spec["rules"] = new_rules
    return {**doc, "spec": spec}
