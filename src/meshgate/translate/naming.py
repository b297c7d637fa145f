"""Deterministic names derived from the source, Istio style."""

from __future__ import annotations


def cluster_name(port: int, subset: str, fqdn: str) -> str:
    return f"outbound|{port}|{subset}|{fqdn}"


def resolve_short_name(host: str, namespace: str, domain_suffix: str) -> str:
    """A name without a dot becomes `<name>.<namespace>.svc.<suffix>`; `*`, IPs and dotted names stay."""
    if host == "*" or "." in host or ":" in host:
        return host
    return f"{host}.{namespace}.svc.{domain_suffix}"


def http_route_table(port: int) -> str:
    return f"http.{port}"


def https_route_table(port: int, port_name: str, gateway_name: str, gateway_namespace: str) -> str:
    return f"https.{port}.{port_name}.{gateway_name}.{gateway_namespace}"


def listener_name(bind: str, port: int) -> str:
    return f"{bind}_{port}"
