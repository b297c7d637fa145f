"""schema.ObjectNames: object names and namespaces the Kubernetes API server would refuse (IST0106).

Files read by meshgate never went through the API server, so names copied from notes or templates
(`peiyou-****` in the seed) load anyway. A namespace must be a DNS-1123 label; most names a DNS-1123
subdomain; a Service name a DNS-1035 label; an Istio Gateway name a DNS-1123 label (no dots, as
istiod's validation requires: istio-semantics 1.1.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.base import Resource

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def label_problem(value: str) -> str:
    if len(value) > 63:
        return "is longer than 63 characters"
    if not _LABEL.match(value):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric"
        )
    return ""


def subdomain_problem(value: str) -> str:
    if len(value) > 253:
        return "is longer than 253 characters"
    if not all(_LABEL.match(part) for part in value.split(".")):
        return (
            "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', each part starting"
            " and ending alphanumeric"
        )
    return ""


def name_problem(resource: Resource) -> str:
    name = resource.name
    if resource.kind == "Service":
        if len(name) > 63 or not _DNS1035.match(name):
            return (
                "must be a DNS-1035 label: a lower-case letter first, then lower-case letters, digits and '-'"
            )
        return ""
    if resource.kind == "Gateway":
        return label_problem(name)
    return subdomain_problem(name)


class ObjectNames(Analyzer):
    name = "schema.ObjectNames"
    description = "Finds object names and namespaces the Kubernetes API server would reject"
    inputs = (
        "ConfigMap",
        "DestinationRule",
        "EndpointSlice",
        "Endpoints",
        "Gateway",
        "Ingress",
        "IngressClass",
        "Pod",
        "Secret",
        "Service",
        "ServiceEntry",
        "VirtualService",
        "WorkloadEntry",
    )
    codes = ("IST0106",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for resource in context.bundle.resources:
            checks = [("metadata.name", resource.name, name_problem(resource))]
            if resource.NAMESPACED:
                checks.append(("metadata.namespace", resource.namespace, label_problem(resource.namespace)))
            for field, value, problem in checks:
                if problem:
                    yield make(
                        "IST0106",
                        origin=resource.origin_of(field),
                        resource=resource.ref,
                        field_path=field,
                        field=field,
                        reason=f"{value!r} {problem}",
                    )
