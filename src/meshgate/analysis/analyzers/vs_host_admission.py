"""virtualservice.HostAdmission: VirtualService hosts that no server of their bound Gateways admits.

A host binds to a server when the two host names intersect *and* the server host's namespace part
admits the VirtualService's namespace (`team-a/*` admits only VirtualServices in team-a), and only
if the VirtualService is exported to the gateway's namespace (istio-semantics 1.3, 3.2-3.4).
Translation reports IST0132 when no host of a VirtualService binds at all; this analyzer names each
host that does not bind when others do, and says why whenever a namespace rule is the reason.
"""

from __future__ import annotations

from collections.abc import Iterator

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.hostnames import overlaps
from meshgate.resources.istio import VirtualService
from meshgate.translate import binding
from meshgate.translate.naming import resolve_short_name
from meshgate.translate.servers import ServerPlan


class HostAdmission(Analyzer):
    name = "virtualservice.HostAdmission"
    description = "Finds VirtualService hosts that no server of the bound Gateways admits, and why"
    inputs = ("VirtualService",)
    codes = ("MG0408",)

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        plans: dict[str, list[ServerPlan]] = {}
        for plan in context.plans:
            plans.setdefault(plan.gateway_key, []).append(plan)
        for vs in context.virtual_services:
            keys = sorted(
                k
                for k in (binding.resolve_gateway_name(g, vs.namespace) for g in vs.spec.gateways)
                if k in plans
            )
            if keys:
                yield from self._check(context, vs, keys, plans)

    def _check(
        self, context: Context, vs: VirtualService, keys: list[str], plans: dict[str, list[ServerPlan]]
    ) -> Iterator[Diagnostic]:
        suffix = context.options.domain_suffix
        hosts = [resolve_short_name(h, vs.namespace, suffix) for h in vs.spec.hosts]
        gateways = ", ".join(keys)
        hidden = binding.export_group(vs.spec.export_to, vs.namespace, context.options.namespace) is None
        admitted: dict[str, bool] = {}
        for host in hosts:
            server_hosts = [(h.namespace, h.host) for k in keys for p in plans[k] for h in p.hosts]
            admitted[host] = not hidden and bool(binding.vhost_domains(server_hosts, [host], vs.namespace))
        none_admitted = not any(admitted.values())
        for index, host in enumerate(hosts):
            if admitted[host]:
                continue
            at = f"spec.hosts[{index}]"
            if hidden:
                reason = (
                    f"spec.exportTo {vs.spec.export_to} hides the VirtualService from the gateway's"
                    f" namespace {context.options.namespace}"
                )
                fix = f"Add {context.options.namespace} (or '*') to spec.exportTo."
            else:
                restricted = [
                    f"{h.namespace}/{h.host} ({p.label})"
                    for k in keys
                    for p in plans[k]
                    for h in p.hosts
                    if not h.admits(vs.namespace) and overlaps(h.host, host.lower())
                ]
                if restricted:
                    reason = (
                        f"server host(s) {', '.join(restricted)} admit only VirtualServices in their"
                        f" namespace, and this one is in {vs.namespace}"
                    )
                    fix = (
                        f"Move the VirtualService to that namespace, or add {vs.namespace}/{host}"
                        f" (or */{host}) to the server's hosts."
                    )
                elif none_admitted:
                    continue  # IST0132 (translation) already says no host binds
                else:
                    names = sorted(
                        {f"{h.namespace}/{h.host}" for k in keys for p in plans[k] for h in p.hosts}
                    )
                    reason = f"no server host matches it (server hosts: {', '.join(names)})"
                    fix = "Add the host to a server of the Gateway, or remove it from the VirtualService."
            yield make(
                "MG0408",
                origin=vs.origin_of(at),
                resource=vs.ref,
                field_path=at,
                host=host,
                gateway=gateways,
                reason=reason,
                fix=fix,
            )
