"""translate_bundle: the whole translation, in the order istiod does it.

1. Kubernetes Ingress → generated Istio Gateways and VirtualServices (translate/ingress.py).
2. Service registry and clusters (Services, Endpoints, ServiceEntries, DestinationRules).
3. Gateway servers selected and merged per port (translate/servers.py).
4. For each server, the bound VirtualServices in candidate order → vhosts and routes.
5. Listeners assembled; diagnostics de-duplicated and sorted by file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from meshgate import ir
from meshgate.diag import Diagnostic, make
from meshgate.hostnames import overlaps
from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.istio import Gateway, RouteDestination, VirtualService
from meshgate.translate import binding
from meshgate.translate.destinations import DestinationResolverImpl
from meshgate.translate.http_routes import RouteBatch, translate_http
from meshgate.translate.ingress import convert_ingresses
from meshgate.translate.listeners import build_listeners
from meshgate.translate.matches import MatchContext
from meshgate.translate.naming import resolve_short_name
from meshgate.translate.options import TranslateOptions
from meshgate.translate.result import Translation
from meshgate.translate.servers import ServerPlan, plan_servers
from meshgate.translate.services import ServiceRegistry


@dataclass(slots=True)
class _Run:
    options: TranslateOptions
    registry: ServiceRegistry
    virtual_services: list[VirtualService]
    ingress_semantics: frozenset[tuple[str, str]]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    batches: dict[tuple[str, str, int, str, bool], RouteBatch] = field(default_factory=dict)
    admitted: set[tuple[str, str, str]] = field(default_factory=set)  # (vs ns, vs name, gateway key)
    by_name: dict[tuple[str, str], VirtualService] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {(vs.namespace, vs.name): vs for vs in self.virtual_services}

    def vs_hosts(self, vs: VirtualService) -> list[str]:
        return [resolve_short_name(h, vs.namespace, self.options.domain_suffix) for h in vs.spec.hosts]

    def delegate(self, namespace: str, name: str) -> VirtualService | None:
        return self.by_name.get((namespace, name))

    def context(self, plan: ServerPlan, vs: VirtualService) -> MatchContext:
        return MatchContext(
            server_port=plan.port,
            gateway_key=plan.gateway_key,
            vs_namespace=vs.namespace,
            workload_labels=self.options.workload_labels,
            workload_namespace=self.options.namespace,
            ingress_semantics=(vs.namespace, vs.name) in self.ingress_semantics,
        )

    def resolver(self, vs: VirtualService, plan: ServerPlan, rule_path: str = "") -> DestinationResolverImpl:
        return DestinationResolverImpl(
            self.registry, vs, plan.port, self.options.domain_suffix, self.diagnostics, rule_path
        )

    def http_routes(self, plan: ServerPlan) -> list[tuple[str, list[ir.Route]]]:
        out: list[tuple[str, list[ir.Route]]] = []
        server_hosts = [(h.namespace, h.host) for h in plan.hosts]
        for vs in binding.candidates(self.virtual_services, plan.gateway_key, self.options.namespace):
            domains = binding.vhost_domains(server_hosts, self.vs_hosts(vs), vs.namespace)
            if not domains:
                continue
            self.admitted.add((vs.namespace, vs.name, plan.gateway_key))
            key = (vs.namespace, vs.name, plan.port, plan.gateway_key, plan.tls is not None)
            batch = self.batches.get(key)
            if batch is None:
                batch = translate_http(
                    vs,
                    self.context(plan, vs),
                    partial(self.resolver, plan=plan),
                    plan.tls is not None,
                    self.delegate,
                )
                self.batches[key] = batch
                self.diagnostics.extend(batch.diagnostics)
            if batch.routes:
                out.extend((domain, list(batch.routes)) for domain in domains)
        return out

    def l4_chains(self, plan: ServerPlan) -> list[ir.FilterChain]:
        chains: list[ir.FilterChain] = []
        claimed: set[str] = set()
        for vs in binding.candidates(self.virtual_services, plan.gateway_key, self.options.namespace):
            admitted = [h.host for h in plan.hosts if h.admits(vs.namespace)]
            if not any(overlaps(s, v) for s in admitted for v in self.vs_hosts(vs)):
                continue
            self.admitted.add((vs.namespace, vs.name, plan.gateway_key))
            if plan.kind == "passthrough":
                chains.extend(self._passthrough_chains(plan, vs, claimed))
            elif not chains:
                chains.extend(self._tcp_chain(plan, vs))
        return chains

    def _passthrough_chains(
        self, plan: ServerPlan, vs: VirtualService, claimed: set[str]
    ) -> list[ir.FilterChain]:
        chains = []
        for i, rule in enumerate(vs.spec.tls):
            for j, match in enumerate(rule.match):
                if match.port is not None and match.port != plan.port:
                    continue
                gateways = {binding.resolve_gateway_name(g, vs.namespace) for g in match.gateways}
                if gateways and plan.gateway_key not in gateways:
                    continue
                names = tuple(h.lower() for h in match.sni_hosts)
                at = f"spec.tls[{i}].match[{j}]"
                if not names or not rule.route or set(names) & claimed:
                    if set(names) & claimed:
                        self._dropped(vs, at, "an earlier rule already claims this SNI on the port")
                    continue
                claimed.update(names)
                clusters = self._weighted(vs, plan, rule.route, f"spec.tls[{i}]")
                if clusters:
                    chains.append(
                        ir.FilterChain(
                            name=f"passthrough.{plan.port}.{vs.namespace}.{vs.name}.{i}.{j}",
                            server_names=names,
                            handler=ir.TcpProxy(clusters, name=f"{vs.namespace}/{vs.name} {at}"),
                            tls=plan.tls,
                            transport="tls",
                            source=ir.Source(
                                "VirtualService",
                                vs.namespace,
                                vs.name,
                                vs.origin.file,
                                vs.origin_of(at).line,
                                at,
                            ),
                        )
                    )
        return chains

    def _tcp_chain(self, plan: ServerPlan, vs: VirtualService) -> list[ir.FilterChain]:
        for i, rule in enumerate(vs.spec.tcp):
            usable = not rule.match or any(
                (m.port is None or m.port == plan.port)
                and (
                    not m.gateways
                    or plan.gateway_key in {binding.resolve_gateway_name(g, vs.namespace) for g in m.gateways}
                )
                for m in rule.match
            )
            if not usable or not rule.route:
                continue
            clusters = self._weighted(vs, plan, rule.route, f"spec.tcp[{i}]")
            at = f"spec.tcp[{i}]"
            return [
                ir.FilterChain(
                    name=f"tcp.{plan.port}.{vs.namespace}.{vs.name}",
                    server_names=plan.sni_names if plan.tls else (),
                    handler=ir.TcpProxy(clusters, name=f"{vs.namespace}/{vs.name} {at}"),
                    tls=plan.tls,
                    transport="tls" if plan.tls else "raw",
                    source=ir.Source(
                        "VirtualService", vs.namespace, vs.name, vs.origin.file, vs.origin_of(at).line, at
                    ),
                )
            ]
        return []

    def _weighted(
        self, vs: VirtualService, plan: ServerPlan, routes: list[RouteDestination], at: str
    ) -> tuple[ir.WeightedCluster, ...]:
        resolve = self.resolver(vs, plan, at)
        out = []
        for k, destination in enumerate(routes):
            weight = 100 if len(routes) == 1 else (destination.weight or 0)
            if weight > 0:
                resolved = resolve(destination.destination, f"route[{k}].destination")
                out.append(
                    ir.WeightedCluster(
                        resolved.cluster, weight, service_host=resolved.service_host, port=resolved.port
                    )
                )
        return tuple(out)

    def _dropped(self, vs: VirtualService, at: str, reason: str) -> None:
        self.diagnostics.append(
            make(
                "MG0105",
                origin=vs.origin_of(at),
                resource=vs.ref,
                field_path=at,
                route=at,
                reason=reason,
                fix="Give each SNI host one rule.",
            )
        )


def translate_bundle(bundle: ResourceBundle, options: TranslateOptions) -> Translation:
    conversion = convert_ingresses(bundle, options)
    full = ResourceBundle.build((*bundle.resources, *conversion.gateways, *conversion.virtual_services))
    registry, registry_notes = ServiceRegistry.build(full, options)
    run = _Run(
        options,
        registry,
        sorted(full.of(VirtualService), key=lambda v: v.creation_key()),
        conversion.ingress_semantics,
    )
    run.diagnostics.extend(conversion.diagnostics)
    run.diagnostics.extend(registry_notes)
    plans, server_notes = plan_servers(full, options)
    run.diagnostics.extend(server_notes)
    listeners = build_listeners(plans, run.http_routes, run.l4_chains)
    _binding_notes(run, full, plans)
    config = ir.Config(listeners=listeners, clusters=registry.clusters())
    return Translation(config=config, diagnostics=_unique_sorted(run.diagnostics))


def _binding_notes(run: _Run, bundle: ResourceBundle, plans: list[ServerPlan]) -> None:
    """VirtualServices that bind nothing: mesh-only, unknown gateway, or no admitted host."""
    known = {f"{g.namespace}/{g.name}" for g in bundle.of(Gateway)}
    served = {plan.gateway_key for plan in plans}
    generated = run.ingress_semantics
    for vs in run.virtual_services:
        if not vs.spec.hosts or (vs.namespace, vs.name) in generated:
            continue
        if not vs.spec.gateways:
            run.diagnostics.append(make("MG0103", origin=vs.origin_of("spec"), resource=vs.ref))
            continue
        for i, entry in enumerate(vs.spec.gateways):
            key = binding.resolve_gateway_name(entry, vs.namespace)
            if key == "mesh":
                continue
            path = f"spec.gateways[{i}]"
            if key not in known:
                same_name = sorted(k for k in known if k.split("/")[1] == key.split("/")[1])
                detail = f"; did you mean {' or '.join(same_name)}?" if same_name else ""
                run.diagnostics.append(
                    make(
                        "IST0101",
                        origin=vs.origin_of(path),
                        resource=vs.ref,
                        field_path=path,
                        what="Gateway",
                        name=key,
                        detail=detail,
                        fix="Qualify the gateway with its namespace (namespace/name); a short name is"
                        f" looked up in the VirtualService's namespace {vs.namespace}.",
                    )
                )
            elif key in served and (vs.namespace, vs.name, key) not in run.admitted:
                run.diagnostics.append(
                    make(
                        "IST0132",
                        origin=vs.origin_of("spec.hosts"),
                        resource=vs.ref,
                        field_path="spec.hosts",
                        hosts=", ".join(vs.spec.hosts),
                        gateway=key,
                    )
                )


def _unique_sorted(items: list[Diagnostic]) -> tuple[Diagnostic, ...]:
    seen: dict[Diagnostic, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return tuple(sorted(seen, key=lambda d: d.sort_key()))
