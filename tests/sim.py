"""Traffic simulation without sockets: YAML + requests → what the gateway would do.

The whole pipeline runs (load → translate → compile → decide), so these tests exercise exactly the
code `serve` uses. Only the fields an expectation names are compared (`expect`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from meshgate.routing import LocalReply, RequestView, RouteDecision, compile_config, decide
from meshgate.sources import load_text
from meshgate.translate import TranslateOptions, translate


def build_table(yaml_text: str, options: TranslateOptions | None = None) -> Any:
    load = load_text(yaml_text, "sim.yaml")
    result = translate(load.bundle, options or TranslateOptions())
    return compile_config(result.config), (*load.diagnostics, *result.diagnostics)


def request_view(call: Mapping[str, Any]) -> RequestView:
    target = call.get("path", "/")
    path, _, query = target.partition("?")
    headers = {k.lower(): v for k, v in (call.get("headers") or {}).items()}
    return RequestView(
        port=call.get("port", 80),
        authority=call.get("host", "example.com"),
        path=path,
        query=query,
        method=call.get("method", "GET"),
        scheme=call.get("scheme", "https" if call.get("sni") is not None else "http"),
        headers=headers,
        sni=call.get("sni"),
    )


def outcome(decision: RouteDecision | LocalReply) -> dict[str, Any]:
    if isinstance(decision, RouteDecision):
        return {
            "status": 200,
            "cluster": decision.cluster.name,
            "route": decision.route.name,
            "vhost": decision.virtual_host.name,
            "chain": decision.chain.name,
            "flags": "",
        }
    headers = dict(decision.headers)
    return {
        "status": decision.status,
        "cluster": None,
        "route": decision.route.name if decision.route else None,
        "vhost": decision.virtual_host.name if decision.virtual_host else None,
        "chain": decision.chain.name if decision.chain else None,
        "flags": decision.flags,
        "details": decision.details,
        "location": headers.get("location"),
        "body": decision.body,
    }


def simulate(
    yaml_text: str,
    requests: Sequence[Mapping[str, Any]],
    options: TranslateOptions | None = None,
    seed: int = 1,
) -> list[dict[str, Any]]:
    table, _ = build_table(yaml_text, options)
    rng = random.Random(seed).random
    return [outcome(decide(table, request_view(call), rng)) for call in requests]


def expect(actual: Mapping[str, Any], **wanted: Any) -> None:
    """Compare only the named fields, with a message that shows the whole outcome."""
    mismatched = {k: (actual.get(k), v) for k, v in wanted.items() if actual.get(k) != v}
    assert not mismatched, f"mismatch (actual, expected): {mismatched}; full outcome: {dict(actual)}"
