"""The HTTP filters that run before the router, per route (istio-semantics Appendix A): CORS
(cors.py), fault injection (fault.py) and the mirror copies (mirror.py). Functions over the
exchange so forward.py stays the router."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from meshgate import ir
from meshgate.proxy import fault, mirror

if TYPE_CHECKING:
    from meshgate.proxy.forward import Exchange
    from meshgate.routing.request import RequestView

_CRLF: Final = b"\r\n"
_END_CHUNK: Final = b"0\r\n\r\n"


def cors(exchange: Exchange, view: RequestView) -> bool:
    """CORS filter: True when the gateway answered (a preflight)."""
    policy = exchange.plan.cors if exchange.plan is not None else None
    origin = view.headers.get("origin")
    if policy is None or not origin:
        return False
    if exchange.head.method == "OPTIONS" and view.headers.get("access-control-request-method"):
        headers = policy.preflight(origin)
        if headers is not None:
            exchange.local(200, b"", headers, "", "cors_response")
            return True
        return False
    exchange.response_extra = policy.actual(origin)
    return False


def fault_abort(exchange: Exchange, policy: ir.FaultPolicy) -> bool:
    """Fault abort: True when the request was answered with the injected status (flag FI)."""
    abort = fault.abort_for(policy, exchange.proto.ctx.rng)
    if abort is None:
        return False
    status, body, headers = abort
    flags = f"{exchange.flags},FI" if exchange.flags else "FI"
    exchange.local(status, body, headers, flags, fault.ABORT_DETAILS)
    return True


def plan_mirrors(exchange: Exchange, mirrors: tuple[ir.Mirror, ...]) -> None:
    """Roll each mirror's percentage; collect the body (up to mirror.MAX_BODY) for the copies."""
    snapshot = exchange.snapshot
    rng = exchange.proto.ctx.rng
    clusters = snapshot.table.clusters if snapshot is not None else {}
    targets = [clusters[m.cluster] for m in mirrors if m.cluster in clusters and fault.roll(m.percent, rng)]
    if not targets or exchange.buffered > mirror.MAX_BODY:
        return
    exchange.mirror_to = targets
    exchange.mirror_body = list(exchange.body_buffer or ())
    exchange.mirror_size = exchange.buffered
    if exchange.request_done:
        launch_mirrors(exchange)


def launch_mirrors(exchange: Exchange) -> None:
    targets, body = exchange.mirror_to, exchange.mirror_body or []
    exchange.mirror_to = exchange.mirror_body = None
    if not targets:
        return
    if exchange.head.chunked:
        body = [part for chunk in body for part in (b"%x\r\n" % len(chunk), chunk, _CRLF)]
        body.append(_END_CHUNK)
    decision = exchange.decision
    timeout = decision.route.timeout if decision is not None else None
    for target in targets:
        mirror.launch(exchange.proto.ctx.pools, target, exchange.up_head, body, timeout)
