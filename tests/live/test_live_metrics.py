"""/stats/prometheus parses with prometheus_client's parser and counts what was sent (Done-when 5);
trace headers pass untouched; the admin API never shows key material."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import trustme
from prometheus_client.parser import text_string_to_metric_families

from e2e.e2e_helpers import demo_backend, http_get

from .live_helpers import backends_config, config, gateway, get, write_atomically

BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000]  # fmt: skip


def scrape(admin: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    status, body = http_get(f"http://127.0.0.1:{admin}/stats/prometheus")
    assert status == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def requests_by(samples: dict[str, list[tuple[dict[str, str], float]]]) -> dict[tuple[str, ...], float]:
    return {
        (labels["response_code"], labels["response_flags"], labels["destination_service_name"]): value
        for labels, value in samples["istio_requests_total"]
    }


async def send(port: int, plan: dict[str, int]) -> None:
    for path, n in plan.items():
        for _ in range(n):
            await get(port, path)


def test_prometheus_counts_equal_what_was_sent(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/a": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path) as gw:
            asyncio.run(send(gw.ports[80], {"/a": 7, "/a?status=503": 2, "/nothing": 3}))
            samples = scrape(gw.admin)
            assert requests_by(samples) == {
                ("200", "-", "a"): 7,
                ("503", "-", "a"): 2,
                ("404", "NR", "unknown"): 3,
            }
            labels = next(lbl for lbl, _ in samples["istio_requests_total"] if lbl["response_code"] == "200")
            assert labels["reporter"] == "source"
            assert labels["source_workload"] == "istio-ingressgateway"
            assert labels["destination_service"] == "a.default.svc.cluster.local"
            assert labels["destination_service_namespace"] == "default"
            assert labels["destination_version"] == "unknown" and labels["request_protocol"] == "http"
            assert labels["connection_security_policy"] == "unknown"
            for name in (
                "istio_request_duration_milliseconds",
                "istio_request_bytes",
                "istio_response_bytes",
            ):
                counts = [v for lbl, v in samples[f"{name}_count"] if lbl["response_code"] == "200"]
                assert counts == [7]
                les = [lbl["le"] for lbl, _ in samples[f"{name}_bucket"] if lbl["response_code"] == "200"]
                assert [float(x) for x in les] == [*BUCKETS, float("inf")]
            bodies = [v for lbl, v in samples["istio_response_bytes_sum"] if lbl["response_code"] == "200"]
            assert bodies[0] > 0
            scalars = {name: rows[0][1] for name, rows in samples.items() if not rows[0][0]}
            assert scalars["meshgate_downstream_cx_total"] == 12
            assert scalars["meshgate_config_sequence"] == 1
            reloads = {lbl["outcome"]: v for lbl, v in samples["meshgate_reloads_total"]}
            assert reloads["applied"] == 1


def test_trace_headers_pass_untouched_and_request_id_is_regenerated(tmp_path: Path) -> None:
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        write_atomically(cfg, config({"/": "a"}) + backends_config({"a": port_a}))
        with gateway(cfg, tmp_path) as gw:
            sent = {
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
                "b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
                "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
                "x-b3-spanid": "e457b5a2e4d86bd1",
                "x-b3-sampled": "1",
                "x-request-id": "client-chosen-id",
            }
            headers = "".join(f"{k}: {v}\r\n" for k, v in sent.items())
            response = asyncio.run(get(gw.ports[80], "/", headers))
            echoed = json.loads(response.body)["headers"]
            for name, value in sent.items():
                if name != "x-request-id":
                    assert echoed[name] == value, name
            request_id = echoed["x-request-id"]
            assert request_id != "client-chosen-id" and len(request_id) == 36  # edge request: new UUID


def _secret(name: str, cert: trustme.LeafCert) -> str:
    crt = base64.b64encode(cert.cert_chain_pems[0].bytes()).decode()
    key = base64.b64encode(cert.private_key_pem.bytes()).decode()
    return f"""\
---
apiVersion: v1
kind: Secret
type: kubernetes.io/tls
metadata: {{name: {name}, namespace: istio-system}}
data: {{tls.crt: {crt}, tls.key: {key}}}
"""


def test_admin_api_redacts_secrets_everywhere(tmp_path: Path) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("secure.example")
    key_text = leaf.private_key_pem.bytes().decode()
    key_line = key_text.splitlines()[1]
    tls = """\
---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: edge-tls, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: ["secure.example"]
      tls: {mode: SIMPLE, credentialName: secure-cert}
    - port: {number: 443, name: https-missing, protocol: HTTPS}
      hosts: ["other.example"]
      tls: {mode: SIMPLE, credentialName: missing-cert}
"""
    with demo_backend(tmp_path, "a") as port_a:
        cfg = tmp_path / "gw.yaml"
        text = config({"/": "a"}) + backends_config({"a": port_a}) + tls + _secret("secure-cert", leaf)
        write_atomically(cfg, text)
        with gateway(cfg, tmp_path, (80, 443)) as gw:
            for path in ("/config_dump", "/diagnostics", "/clusters", "/reload_history", "/stats",
                         "/stats/prometheus", "/"):  # fmt: skip
                status, body = http_get(f"http://127.0.0.1:{gw.admin}{path}")
                assert status == 200, path
                assert key_line.encode() not in body and b"PRIVATE KEY" not in body, path
                assert base64.b64encode(leaf.private_key_pem.bytes())[:40] not in body, path
            assert asyncio.run(get(gw.ports[80], "/")).status == 200  # a live pool for cluster a
            dump = gw.get_json("/config_dump")
            assert "<redacted>" in json.dumps(dump)
            clusters = gw.get_json("/clusters")["clusters"]
            endpoint = clusters[0]["endpoints"][0]
            assert endpoint["health"] == "healthy"
            assert endpoint["ejected"] is False and endpoint["idle_connections"] >= 0
