"""The seed's manifests, analysed: the broken Secret and everything else real, with file:line."""

from __future__ import annotations

from pathlib import Path

from meshgate.analysis import analyze_paths

ROOT = Path(__file__).parents[2]
NOTES = "tests/translate/testdata/seed-notes.in.yaml"


def _found(paths: list[str]) -> set[tuple[str, str]]:
    result = analyze_paths([str(ROOT / p) for p in paths])
    return {(d.code, f"{Path(d.origin.file).name}:{d.origin.line}") for d in result.diagnostics if d.origin}


def test_seed_notes_verbatim() -> None:
    found = _found([NOTES])
    name = Path(NOTES).name
    expected = {
        ("MG0008", f"{name}:8"),  # non-breaking-space indentation, read anyway
        ("IST0002", f"{name}:5"),  # extensions/v1beta1 Ingress
        ("IST0101", f"{name}:13"),  # cafe-secret is not in istio-system
        ("MG0409", f"{name}:18"),  # /tea is an exact match behind Istio
        ("MG0409", f"{name}:22"),  # /coffee too
        ("IST0106", f"{name}:31"),  # namespace peiyou-**** is not a valid name
        ("IST0161", f"{name}:49"),  # the broken Secret (data shortened in the notes)
        ("IST0145", f"{name}:67"),  # three Gateways claim host * on 443: only the first is served
        ("MG0414", f"{name}:76"),  # /etc/istio/ingressgateway-certs/tls.crt is not on this machine
        ("IST0145", f"{name}:119"),
        ("IST0161", f"{name}:126"),  # the same broken Secret, from the second abtest-gateway
        ("IST0138", f"{name}:126"),  # two Gateways share istio-ingressgateway-certs (HTTP/2 coalescing)
    }
    assert expected <= found, sorted(expected - found)


def test_examples_seed() -> None:
    found = _found(["examples/seed"])
    assert {
        ("IST0161", "20-abtest-gateway.yaml:25"),
        ("IST0101", "10-cafe-ingress.yaml:12"),
        ("MG0409", "10-cafe-ingress.yaml:17"),
        ("MG0409", "10-cafe-ingress.yaml:21"),
        ("IST0002", "10-cafe-ingress.yaml:4"),
    } <= found
    # The rest VirtualService is well ordered (canary before /api): no shadowing or conflicts.
    assert not {code for code, _ in found} & {"IST0130", "IST0131", "MG0401", "MG0403"}


def test_references_from_translation_are_included() -> None:
    result = analyze_paths([str(ROOT / "tests/analysis/cases/references.yaml")])
    messages = [d.message for d in result.diagnostics]
    assert any("Secret shop-cert not found" in m and "exists in namespace shop" in m for m in messages)
    assert any("Gateway shop/public not found; did you mean istio-system/public?" in m for m in messages)
    assert any("host:port shop.shop.svc.cluster.local:8080" in m for m in messages)
    assert any("subset shop.shop.svc.cluster.local/v2" in m for m in messages)
    assert any("host nowhere.shop.svc.cluster.local not found" in m for m in messages)
    assert any(d.code == "MG0202" and "no port named 'grpc'" in d.message for d in result.diagnostics)


def test_checks_translation_already_makes_are_reported() -> None:
    result = analyze_paths([str(ROOT / "tests/analysis/cases/translation.yaml")])
    codes = {d.code for d in result.diagnostics}
    assert {
        "IST0133",  # httpsRedirect on a server that terminates TLS
        "MG0106",  # tls without mode: PASSTHROUGH
        "IST0106",  # invalid regex
        "MG0104",  # weights not summing to 100
        "MG0107",  # catch-all rule before others
        "MG0201",  # ingress class not handled
        "MG0204",  # defaultBackend differs from Istio
        "MG0206",  # regex characters in an ImplementationSpecific path
    } <= codes
    for diagnostic in result.diagnostics:
        assert diagnostic.origin is not None and diagnostic.origin.line > 0, diagnostic.render()
