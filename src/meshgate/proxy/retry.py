"""Retry policy, compiled once per route (istio-semantics 3.12; Envoy router retry state).

`retryOn` becomes a bit mask. What each outcome needs to be retried:

- connect failure: `connect-failure`, `reset`, `5xx` or `gateway-error` (Envoy counts a failed
  connect as a reset, and 5xx/gateway-error cover resets);
- the connection closed or reset before a response (`reset`, `5xx`, `gateway-error`; `refused-stream`
  is HTTP/2 only and never fires on HTTP/1.1 upstreams);
- per-try timeout: `5xx`, `gateway-error` or `reset`;
- a real upstream response: `5xx` (>= 500), `gateway-error` (502/503/504), `retriable-4xx` (409),
  `retriable-status-codes` with the listed (or numeric `retryOn`) codes. Statuses the gateway
  produced itself never match.

Overflow (503 UO) is never retried. Back-off is Envoy's jittered exponential: before retry n,
a uniform random wait in [0, min(base × 2^(n-1), 10 × base)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from meshgate import ir

R_5XX, R_GATEWAY, R_CONNECT, R_RESET, R_4XX, R_CODES = 1, 2, 4, 8, 16, 32
_NAMES = {
    "5xx": R_5XX,
    "gateway-error": R_GATEWAY,
    "connect-failure": R_CONNECT,
    "reset": R_RESET,
    "reset-before-request": R_RESET,
    "retriable-4xx": R_4XX,
    "retriable-status-codes": R_CODES,
}
ON_CONNECT_FAILURE = R_CONNECT | R_RESET | R_5XX | R_GATEWAY
ON_RESET = R_RESET | R_5XX | R_GATEWAY
ON_PER_TRY_TIMEOUT = R_RESET | R_5XX | R_GATEWAY

# Request bodies up to this size are kept so the request can be sent again; a request whose body
# grew past it (while streaming upstream) is never replayed.
REPLAY_LIMIT: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class RetryRule:
    attempts: int  # retries after the first try
    mask: int
    codes: frozenset[int]
    per_try_timeout: float | None
    backoff_base: float
    other_hosts: bool  # retry host predicate "previous hosts"

    def on_status(self, status: int) -> bool:
        mask = self.mask
        return bool(
            (mask & R_5XX and status >= 500)
            or (mask & R_GATEWAY and status in (502, 503, 504))
            or (mask & R_4XX and status == 409)
            or (mask & R_CODES and status in self.codes)
        )

    def backoff(self, retry: int, rng: Callable[[], float]) -> float:
        base = self.backoff_base
        return rng() * min(base * (1 << min(retry - 1, 30)), 10 * base)


def compile_retry(policy: ir.RetryPolicy, consistent_hash: bool = False) -> RetryRule:
    mask = 0
    codes = set(policy.retriable_status_codes)
    for item in policy.retry_on:
        name = item.strip().lower()
        if name.isdigit():
            codes.add(int(name))
            mask |= R_CODES
        else:
            mask |= _NAMES.get(name, 0)
    return RetryRule(
        attempts=policy.attempts if mask or policy.per_try_timeout else 0,
        mask=mask,
        codes=frozenset(codes),
        per_try_timeout=policy.per_try_timeout,
        backoff_base=policy.backoff_base or 0.025,
        other_hosts=policy.retry_ignore_previous_hosts and not consistent_hash,
    )
