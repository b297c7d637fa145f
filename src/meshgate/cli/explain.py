"""`meshgate explain -f PATH URL [-X METHOD] [-H 'Name: value']... [--sni NAME] [--json]`

Shows which listener, filter chain, virtual host and route a request would take, the cluster and
endpoints it would reach and the path sent upstream; or, when nothing matches, why, with the status
the client would get. It runs the same routing code as `serve` (routing.explain wraps decide).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from meshgate import ir
from meshgate.cli.common import add_config_arguments, load_and_translate, print_diagnostics
from meshgate.diag import Level
from meshgate.routing import (
    RequestView,
    RouteDecision,
    RoutingTable,
    compile_config,
    explain,
    select_chain,
    select_listener,
    upstream_authority,
    upstream_target,
)
from meshgate.tlsinfo import certificate_summary

DEFAULT_PORTS = {"http": 80, "https": 443}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain", help="explain how a request would be routed, or why it would not"
    )
    add_config_arguments(parser)
    parser.add_argument(
        "url", help="e.g. http://cafe.example.com/tea or https://shop.example.com:443/api?x=1"
    )
    parser.add_argument("-X", "--request", dest="method", default="GET", help="HTTP method")
    parser.add_argument(
        "-H", "--header", dest="headers", action="append", default=[], metavar="'Name: value'"
    )
    parser.add_argument("--sni", help="TLS server name (default: the URL host for https URLs)")
    parser.add_argument("--port", type=int, help="gateway server port (default: from the URL)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def build_request(args: argparse.Namespace, config: ir.Config) -> RequestView | str:
    parts = urlsplit(args.url if "://" in args.url else f"http://{args.url}")
    if parts.scheme not in DEFAULT_PORTS:
        return f"unsupported URL scheme {parts.scheme!r}: use http or https"
    headers: dict[str, str] = {}
    for raw in args.headers:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            return f"-H {raw!r}: use 'Name: value'"
        key = name.strip().lower()
        headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
    authority = headers.pop("host", parts.netloc)
    port = args.port or _server_port(parts.port or DEFAULT_PORTS[parts.scheme], config)
    sni = args.sni if args.sni is not None else (parts.hostname if parts.scheme == "https" else None)
    return RequestView(
        port=port,
        authority=authority,
        path=parts.path or "/",
        query=parts.query,
        method=args.method.upper(),
        scheme=parts.scheme,
        headers=headers,
        sni=sni,
        client_address="127.0.0.1",
    )


def _server_port(url_port: int, config: ir.Config) -> int:
    """A URL port is where a client connects: map a listen port (e.g. 8080 for server port 80) back."""
    if any(listener.port == url_port for listener in config.listeners):
        return url_port
    for listener in config.listeners:
        if listener.effective_listen_port == url_port:
            return listener.port
    return url_port


def run(args: argparse.Namespace) -> int:
    loaded = load_and_translate(args)
    config = loaded.translation.config
    request = build_request(args, config)
    if isinstance(request, str):
        print(f"meshgate explain: {request}", file=sys.stderr)
        return 2
    table = compile_config(config)
    explanation = explain(table, request)
    decision = explanation.decision
    extra = _upstream_details(decision, request, config)
    extra_tls = _chain_tls(table, request)
    if args.json:
        payload = explanation.to_dict()
        payload["upstream"] = extra
        payload["tls"] = extra_tls
        payload["diagnostics"] = [d.as_dict() for d in loaded.diagnostics if d.level >= Level.WARNING]
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
        return 0
    print_diagnostics(loaded.diagnostics, minimum=Level.ERROR)
    print(explanation.render_text())
    for line in _render_extra(extra):
        print(line)
    for line in extra_tls:
        print(line)
    return 0


def _chain_tls(table: RoutingTable, request: RequestView) -> list[str]:
    """What the chain the SNI selects does with TLS: the certificate it serves (Secret or file,
    read now), or why it closes connections."""
    listener = select_listener(table, request.port, request.bind)
    match = select_chain(table, listener, request.sni) if listener is not None else None
    if match is None:
        return []  # explain already says the connection is closed
    chain = match.chain
    if chain.tls is None:
        return []
    lines = [
        f"tls       {chain.tls.mode.value}"
        + (" (bytes proxied, not terminated)" if chain.tls.mode is ir.TlsMode.PASSTHROUGH else "")
    ]
    if chain.disabled:
        lines.append(f"tls       chain disabled, connections are closed: {chain.disabled}")
    lines += [f"certificate: {certificate_summary(c)}" for c in chain.tls.certificates]
    if chain.tls.ca_source:
        lines.append(f"client CA: {chain.tls.ca_source}")
    return lines


def _upstream_details(decision: object, request: RequestView, config: ir.Config) -> dict[str, Any]:
    if not isinstance(decision, RouteDecision):
        return {}
    cluster = decision.cluster
    out: dict[str, Any] = {
        "cluster": cluster.name,
        "path": upstream_target(decision.route, request),
        "authority": upstream_authority(decision.route, decision.destination, request),
        "endpoints": [
            {"address": f"{e.address}:{e.port}", "ready": e.ready, "labels": dict(e.labels)}
            for e in cluster.endpoints
        ],
    }
    if not any(e.ready for e in cluster.endpoints) and cluster.discovery in ("STATIC", ""):
        out["warning"] = "no ready endpoint: the request would get 503 UH (no healthy upstream)"
    return out


def _render_extra(extra: dict[str, Any]) -> list[str]:
    if not extra:
        return []
    lines = []
    if extra["endpoints"]:
        lines.append(
            "endpoints: "
            + ", ".join(e["address"] + ("" if e["ready"] else " (not ready)") for e in extra["endpoints"])
        )
    if "warning" in extra:
        lines.append(f"warning: {extra['warning']}")
    return lines
