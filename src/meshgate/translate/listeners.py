"""Assemble listeners from server plans: shared `http.<port>` tables for plaintext HTTP servers, one
SNI filter chain (and route table) per terminating HTTPS server, L4 chains for passthrough and TCP.

Route order inside a vhost: VirtualServices in candidate order (sec. 3.3), each VS's routes in rule
order, then catch-all routes moved to the end with a stable partition (sec. 4.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from meshgate import ir
from meshgate.translate.servers import ServerPlan

# (plan) -> list of (domain, routes) in VS order
RoutesForServer = Callable[[ServerPlan], list[tuple[str, list[ir.Route]]]]
# (plan) -> chains for passthrough/TCP servers
L4ChainsForServer = Callable[[ServerPlan], list[ir.FilterChain]]


@dataclass(slots=True)
class _Table:
    name: str
    port: int
    domains: dict[str, list[ir.Route]] = field(default_factory=dict)
    require_tls: set[str] = field(default_factory=set)

    def add(self, domain: str, routes: list[ir.Route], require_tls: bool) -> None:
        self.domains.setdefault(domain, []).extend(routes)
        if require_tls:
            self.require_tls.add(domain)

    def freeze(self) -> tuple[ir.VirtualHost, ...]:
        if not self.domains:
            # No VirtualService at all: one '*' vhost without routes, so every request gets 404 NR.
            return (ir.VirtualHost(name=f"blackhole:{self.port}", domains=("*",)),)
        hosts = []
        for domain, routes in self.domains.items():
            ordered = [r for r in routes if not r.match.is_catch_all] + [
                r for r in routes if r.match.is_catch_all
            ]
            hosts.append(
                ir.VirtualHost(
                    name=f"{domain}:{self.port}",
                    domains=(domain,),
                    routes=tuple(ordered),
                    require_tls=domain in self.require_tls,
                )
            )
        return tuple(hosts)


def _fill(table: _Table, plan: ServerPlan, routes_for: RoutesForServer) -> None:
    produced = routes_for(plan)
    for domain, routes in produced:
        table.add(domain, routes, plan.https_redirect)
    if plan.https_redirect:
        # Hosts with no VirtualService still get a redirect-only vhost (sec. 1.5.2); ns-qualified
        # hosts are skipped, as Istio keys these by the host string as written.
        seen = {domain for domain, _ in produced}
        for host in plan.hosts:
            if host.namespace == "*" and host.host not in seen:
                table.add(host.host, [], True)


def build_listeners(
    plans: list[ServerPlan], routes_for: RoutesForServer, l4_chains_for: L4ChainsForServer
) -> tuple[ir.Listener, ...]:
    groups: dict[tuple[int, str], list[ServerPlan]] = {}
    for plan in plans:
        groups.setdefault((plan.port, plan.bind), []).append(plan)
    listeners: list[ir.Listener] = []
    for (port, bind), members in sorted(groups.items()):
        chains: list[ir.FilterChain] = []
        http_table: _Table | None = None
        http_position = 0
        for plan in members:
            if plan.kind == "http":
                if http_table is None:
                    http_table = _Table(plan.route_table, port)
                    http_position = len(chains)
                _fill(http_table, plan, routes_for)
            elif plan.kind == "https":
                table = _Table(plan.route_table, port)
                _fill(table, plan, routes_for)
                chains.append(
                    ir.FilterChain(
                        name=plan.route_table,
                        server_names=plan.sni_names,
                        handler=ir.HttpHandler(plan.route_table, table.freeze()),
                        tls=plan.tls,
                        transport="tls",
                        source=plan.source,
                        disabled=plan.disabled,
                    )
                )
            else:
                chains.extend(l4_chains_for(plan))
        if http_table is not None:
            chains.insert(
                http_position,
                ir.FilterChain(
                    name=http_table.name,
                    server_names=(),
                    handler=ir.HttpHandler(http_table.name, http_table.freeze()),
                    source=members[0].source if members[0].kind == "http" else None,
                ),
            )
        if not chains:
            continue  # a non-HTTP listener with no usable route is not created (sec. 1.9.4)
        listeners.append(
            ir.Listener(
                name=f"{bind}_{port}",
                port=port,
                bind=bind,
                listen_port=members[0].listen_port,
                protocol=members[0].protocol,
                chains=tuple(chains),
            )
        )
    return tuple(listeners)
