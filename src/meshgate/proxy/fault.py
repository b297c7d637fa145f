"""Fault injection (istio-semantics 3.13): delay and abort, rolled independently per request with
the gateway's injected RNG. A delay (flag DI) runs first; an abort (flag FI) is a local reply
`fault filter abort` and never reaches the router, so nothing is retried."""

from __future__ import annotations

from collections.abc import Callable

from meshgate import ir

ABORT_BODY = b"fault filter abort"
ABORT_DETAILS = "fault_filter_abort"

_GRPC = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5, "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9, "ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12,
    "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}  # fmt: skip


def roll(percent: float, rng: Callable[[], float]) -> bool:
    """True for `percent` % of calls (parts per million, like Envoy's FractionalPercent)."""
    if percent <= 0:
        return False
    return percent >= 100 or int(rng() * 1_000_000) < int(percent * 10_000)


def delay_for(fault: ir.FaultPolicy, rng: Callable[[], float]) -> float:
    if fault.delay and roll(fault.delay_percent, rng):
        return fault.delay
    return 0.0


def abort_for(
    fault: ir.FaultPolicy, rng: Callable[[], float]
) -> tuple[int, bytes, tuple[tuple[str, str], ...]] | None:
    """(status, body, headers) of an injected abort, or None."""
    if fault.abort_status is None and fault.abort_grpc_status is None:
        return None
    if not roll(fault.abort_percent, rng):
        return None
    if fault.abort_grpc_status is not None:
        code = _GRPC.get(fault.abort_grpc_status.upper(), 2)
        return 200, b"", (("content-type", "application/grpc"), ("grpc-status", str(code)))
    return fault.abort_status or 503, ABORT_BODY, ()
