"""Shared pieces of the generated configurations the control-plane benchmarks load."""

from __future__ import annotations

GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ["*"]
"""


def services(count: int = 50, namespace: str = "apps") -> list[str]:
    """`svc-0` ... `svc-N` with one HTTP port 80 each."""
    return [
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i}, namespace: {namespace}}}\n"
        f"spec: {{ports: [{{name: http, port: 80}}]}}\n"
        for i in range(count)
    ]
