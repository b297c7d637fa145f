"""`explain(table, request)`: why a request is routed the way it is, for `meshgate explain`.

This is a trace, not a second router: every step calls the function `decide()` calls
(`select_listener`, `select_chain`, `select_vhost`, `tls_redirect`, `match_route`) and the final
answer *is* `decide()`'s. Reasons for routes that did not match come from the compiled
conditions themselves (`describe_failure`, which re-runs `matches`), so the text cannot drift
from the behaviour.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from meshgate.routing.decide import decide, match_route, query_view, tls_redirect
from meshgate.routing.decision import LocalReply, RouteDecision
from meshgate.routing.primitives import quote
from meshgate.routing.request import RequestView
from meshgate.routing.rewrite import upstream_authority, upstream_target
from meshgate.routing.table import (
    CompiledRoute,
    CompiledVirtualHost,
    RoutingTable,
    normalize_host,
    select_chain,
    select_listener,
    select_vhost,
)
from meshgate.routing.weights import Rng

__all__ = ["ChainStep", "Explanation", "ListenerStep", "RouteTrial", "VhostStep", "explain"]


@dataclass(frozen=True, slots=True)
class ListenerStep:
    found: bool
    port: int
    bind: str
    name: str = ""
    available_ports: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ChainStep:
    found: bool
    sni: str | None
    name: str = ""
    rule: str = "none"  # exact | wildcard | default | plaintext | none
    server_name: str = ""
    handler: str = ""  # http | tcp
    available_server_names: tuple[str, ...] = ()
    disabled: str = ""  # why the chain closes every connection (its certificate could not be loaded)


@dataclass(frozen=True, slots=True)
class VhostStep:
    found: bool
    host: str  # the Host used for selection: port stripped, lower-case
    name: str = ""
    domain: str = ""
    rule: str = "none"  # exact | suffix wildcard | prefix wildcard | any | none
    require_tls: bool = False
    available_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteTrial:
    index: int
    name: str
    condition: str  # the whole match, e.g. `path prefix "/tea" and method exact "GET"`
    matched: bool
    failure: str | None  # first failing condition, None when matched
    path_held: bool
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "condition": self.condition,
            "matched": self.matched,
            "failure": self.failure,
            "path_held": self.path_held,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    request: RequestView
    listener: ListenerStep
    chain: ChainStep | None
    vhost: VhostStep | None
    tls_redirect: bool  # answered by httpsRedirect before any route was tried
    tried: tuple[RouteTrial, ...]  # routes before the winner, each with why it did not match
    winner: RouteTrial | None
    closest: tuple[RouteTrial, ...]  # only when no route matched
    decision: RouteDecision | LocalReply
    upstream_target: str | None = None
    upstream_authority: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": _request_dict(self.request),
            "listener": _fields(self.listener),
            "chain": _fields(self.chain) if self.chain else None,
            "virtual_host": _fields(self.vhost) if self.vhost else None,
            "tls_redirect": self.tls_redirect,
            "tried": [t.to_dict() for t in self.tried],
            "winner": self.winner.to_dict() if self.winner else None,
            "closest": [t.to_dict() for t in self.closest],
            "decision": decision_dict(self.decision),
            "upstream_target": self.upstream_target,
            "upstream_authority": self.upstream_authority,
        }

    def render_text(self) -> str:
        return "\n".join(_render(self))


def explain(table: RoutingTable, request: RequestView, rng: Rng = random.random) -> Explanation:
    decision = decide(table, request, rng)
    listener = select_listener(table, request.port, request.bind)
    if listener is None:
        step = ListenerStep(False, request.port, request.bind, available_ports=table.ports)
        return _done(request, decision, step)
    listener_step = ListenerStep(True, request.port, request.bind, listener.listener.name, table.ports)
    chain = select_chain(table, listener, request.sni)
    if chain is None:
        chain_step = ChainStep(False, request.sni, available_server_names=listener.server_names)
        return _done(request, decision, listener_step, chain_step)
    compiled_chain = chain.compiled
    hosts = compiled_chain.hosts
    chain_step = ChainStep(
        True,
        request.sni,
        chain.chain.name,
        chain.rule,
        chain.server_name,
        "tcp" if hosts is None else "http",
        listener.server_names,
        chain.chain.disabled,
    )
    if compiled_chain.closed is not None or hosts is None:
        return _done(request, decision, listener_step, chain_step)
    host = select_vhost(compiled_chain, request.authority)
    normalized = normalize_host(request.authority)
    if host is None:
        missing = VhostStep(False, normalized, available_domains=hosts.domains)
        return _done(request, decision, listener_step, chain_step, missing)
    vhost = host.compiled
    vhost_step = VhostStep(
        True,
        normalized,
        vhost.vhost.name,
        host.domain,
        host.rule,
        vhost.vhost.require_tls,
        hosts.domains,
    )
    if tls_redirect(vhost, request) is not None:
        return _done(request, decision, listener_step, chain_step, vhost_step, redirected=True)
    winner = match_route(vhost, request)
    if winner is None:
        tried = tuple(_trial(vhost, r, request) for r in vhost.routes)
        closest = tuple(t for t in tried if t.path_held) or tried
        return _done(request, decision, listener_step, chain_step, vhost_step, tried=tried, closest=closest)
    tried = tuple(_trial(vhost, r, request) for r in vhost.routes[: winner.index])
    won = _trial(vhost, winner, request)
    return _done(request, decision, listener_step, chain_step, vhost_step, tried=tried, winner=won)


def _trial(vhost: CompiledVirtualHost, compiled: CompiledRoute, request: RequestView) -> RouteTrial:
    matcher = compiled.matcher
    failure = matcher.first_failure(request, query_view(vhost, request))
    route = compiled.route
    return RouteTrial(
        index=compiled.index,
        name=route.name,
        condition=matcher.describe(),
        matched=failure is None,
        failure=failure,
        path_held=matcher.path_holds(request),
        source=str(route.source) if route.source is not None else "",
    )


def _done(
    request: RequestView,
    decision: RouteDecision | LocalReply,
    listener: ListenerStep,
    chain: ChainStep | None = None,
    vhost: VhostStep | None = None,
    *,
    redirected: bool = False,
    tried: tuple[RouteTrial, ...] = (),
    winner: RouteTrial | None = None,
    closest: tuple[RouteTrial, ...] = (),
) -> Explanation:
    target = authority = None
    if isinstance(decision, RouteDecision):
        target = upstream_target(decision.route, request)
        authority = upstream_authority(decision.route, decision.destination, request)
    return Explanation(
        request, listener, chain, vhost, redirected, tried, winner, closest, decision, target, authority
    )


# --- JSON-friendly and text forms -------------------------------------------------------------


def _fields(step: ListenerStep | ChainStep | VhostStep) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in step.__slots__:
        value = getattr(step, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _request_dict(request: RequestView) -> dict[str, Any]:
    return {
        "port": request.port,
        "bind": request.bind,
        "sni": request.sni,
        "scheme": request.scheme,
        "method": request.method,
        "authority": request.authority,
        "path": request.path,
        "query": request.query,
        "headers": dict(sorted(request.headers.items())),
    }


def decision_dict(decision: RouteDecision | LocalReply) -> dict[str, Any]:
    if isinstance(decision, RouteDecision):
        destination = decision.destination
        return {
            "action": "forward",
            "listener": decision.listener.name,
            "chain": decision.chain.name,
            "virtual_host": decision.virtual_host.name,
            "route": decision.route.name,
            "cluster": decision.cluster.name,
            "destination": {
                "cluster": destination.cluster,
                "weight": destination.weight,
                "service_host": destination.service_host,
                "port": destination.port,
            },
        }
    return {
        "action": "local_reply",
        "status": decision.status,
        "flags": decision.flags,
        "details": decision.details,
        "headers": [list(h) for h in decision.headers],
        "body": decision.body.decode("utf-8", "replace"),
        "listener": decision.listener.name if decision.listener else None,
        "chain": decision.chain.name if decision.chain else None,
        "virtual_host": decision.virtual_host.name if decision.virtual_host else None,
        "route": decision.route.name if decision.route else None,
    }


def _describe_decision(decision: RouteDecision | LocalReply) -> str:
    if isinstance(decision, RouteDecision):
        return f"forward to cluster {decision.cluster.name} (route {decision.route.name or '(unnamed)'})"
    if decision.status == 0:
        return f"close the connection ({decision.flags or '-'} {decision.details})"
    text = f"local reply {decision.status} {decision.flags or '-'} {decision.details}"
    for name, value in decision.headers:
        text += f"; {name}: {value}"
    if decision.body:
        text += f"; body {len(decision.body)} bytes"
    return text


def _render(e: Explanation) -> list[str]:
    r = e.request
    sni = r.sni if r.sni else "-"
    lines = [f"request   {r.method} {r.scheme}://{r.authority}{r.target} (port {r.port}, sni {sni})"]
    if not e.listener.found:
        ports = ", ".join(str(p) for p in e.listener.available_ports) or "none"
        lines.append(f"listener  none on port {e.listener.port} (listening ports: {ports})")
    else:
        lines.append(f"listener  {e.listener.name} (port {e.listener.port})")
    if e.chain is not None:
        c = e.chain
        if not c.found:
            names = ", ".join(c.available_server_names) or "none"
            lines.append(f"chain     none for SNI {quote(c.sni or '')} (server names: {names})")
        else:
            why = {"exact": "exact SNI", "wildcard": "wildcard SNI", "default": "chain without server names"}
            reason = why.get(c.rule, "plaintext listener")
            matched = f" {quote(c.server_name)}" if c.server_name else ""
            disabled = f"; disabled: {c.disabled}" if c.disabled else ""
            lines.append(f"chain     {c.name} ({reason}{matched}; {c.handler}{disabled})")
    if e.vhost is not None:
        v = e.vhost
        if not v.found:
            domains = ", ".join(v.available_domains) or "none"
            lines.append(f"vhost     none for host {quote(v.host)} (domains: {domains})")
        else:
            tls = ", requires TLS" if v.require_tls else ""
            lines.append(f"vhost     {v.name} (domain {quote(v.domain)} by {v.rule} match{tls})")
    if e.tls_redirect:
        lines.append("routes    none tried: plaintext request to a virtual host that requires TLS")
    label = "tried    "
    for trial in e.tried if e.winner is not None else ():
        lines.append(f"{label} #{trial.index} {trial.name or '(unnamed)'}: {trial.failure}")
        label = " " * 9
    if e.winner is not None:
        w = e.winner
        source = f" [{w.source}]" if w.source else ""
        lines.append(f"route     #{w.index} {w.name or '(unnamed)'} matched: {w.condition}{source}")
    elif e.vhost is not None and e.vhost.found and not e.tls_redirect:
        lines.append(f"routes    no route matched ({len(e.tried)} tried)")
        label = "closest  "
        for trial in e.closest:
            lines.append(f"{label} #{trial.index} {trial.name or '(unnamed)'}: {trial.failure}")
            label = " " * 9
    lines.append(f"decision  {_describe_decision(e.decision)}")
    if e.upstream_target is not None:
        lines.append(f"upstream  authority {e.upstream_authority}, path {e.upstream_target}")
    return lines
