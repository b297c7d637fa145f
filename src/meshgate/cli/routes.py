"""`meshgate routes -f PATH [--json]`: the computed route table per listener and filter chain."""

from __future__ import annotations

import argparse
import json
from typing import Any

from meshgate import ir
from meshgate.cli.common import add_config_arguments, load_and_translate, print_diagnostics
from meshgate.diag import Level
from meshgate.ir import describe
from meshgate.ir.dump import to_plain
from meshgate.tlsinfo import certificate_summary


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("routes", help="show the route table computed from the configuration")
    add_config_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the listeners and clusters as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print warnings")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = load_and_translate(args)
    config = loaded.translation.config
    if args.json:
        payload = {
            "listeners": to_plain(config.listeners),
            "clusters": to_plain(config.clusters),
            "diagnostics": [d.as_dict() for d in loaded.diagnostics],
        }
        print(json.dumps(payload, indent=2, sort_keys=True))
        return 0
    print_diagnostics(loaded.diagnostics, minimum=Level.INFO if not args.quiet else Level.ERROR)
    print(render(config))
    return 0


def render(config: ir.Config) -> str:
    lines: list[str] = []
    clusters = {c.name: c for c in config.clusters}
    if not config.listeners:
        lines.append("no listeners: no Gateway server or Ingress is served by this workload")
    for listener in config.listeners:
        listen = f" (listens on {listener.effective_listen_port})" if listener.listen_port else ""
        lines.append(f"listener {listener.bind}:{listener.port} {listener.protocol}{listen}")
        for chain in listener.chains:
            lines.append(f"  {describe.chain_title(chain)}")
            if chain.tls:
                for cert in chain.tls.certificates:
                    lines.append(f"    certificate: {certificate_summary(cert)}")
            match chain.handler:
                case ir.HttpHandler(virtual_hosts=vhosts):
                    for vhost in vhosts:
                        tls = " [httpsRedirect]" if vhost.require_tls else ""
                        lines.append(f"    vhost {', '.join(vhost.domains)}{tls}")
                        if not vhost.routes:
                            lines.append(
                                "      (no routes: 404 NR)"
                                if not vhost.require_tls
                                else "      (no routes: 301 to https)"
                            )
                        for index, route in enumerate(vhost.routes, start=1):
                            lines.append(f"      {index}. {describe.route_line(route)}")
                            lines.extend(_missing(route, clusters))
                case ir.TcpProxy(clusters=targets):
                    for target in targets:
                        lines.append(f"    -> {target.cluster} ({target.weight})")
    return "\n".join(lines)


def _missing(route: ir.Route, clusters: dict[str, ir.Cluster]) -> list[str]:
    if not isinstance(route.action, ir.Forward):
        return []
    out = []
    for target in route.action.clusters:
        cluster = clusters.get(target.cluster)
        if cluster is None:
            out.append(f"         ! {target.cluster} does not exist: requests get 503 NC")
        elif not any(e.ready for e in cluster.endpoints) and cluster.discovery == "STATIC":
            out.append(f"         ! {target.cluster} has no ready endpoint: requests get 503 UH")
    return out
