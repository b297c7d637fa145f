"""Reload: re-read the `-f` paths, skip unchanged input, swap the snapshot, keep a history.

Outcomes (istio-semantics "pain point 2": a bad edit must never take traffic down):

    applied    new snapshot, no error diagnostics
    partial    new snapshot of what could be translated; the errors say what was dropped
    rejected   nothing could be used (no file readable/parseable, or no listener left): the previous
               snapshot stays
    unchanged  same file bytes or same IR digest as what is served: no new snapshot

Every attempt gets an attempt number, is logged on stderr and kept in `history` (admin
`/reload_history`). `version` is the number of the configuration in effect after the attempt
(1 = the one served at start), `digest` its IR digest.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TextIO

from meshgate.diag import Diagnostic
from meshgate.diag.model import Level
from meshgate.runtime.snapshot import Snapshot
from meshgate.runtime.store import SnapshotStore
from meshgate.runtime.watch import content_digest
from meshgate.translate import TranslateOptions

# What the data plane does with a new snapshot (listeners added/removed); returns problems.
OnSwap = Callable[[Snapshot, Snapshot | None], Awaitable[dict[str, Any]]]
HISTORY = 100


class Reloader:
    def __init__(
        self,
        paths: Sequence[str],
        options: TranslateOptions,
        store: SnapshotStore,
        *,
        on_swap: OnSwap | None = None,
        on_outcome: Callable[[str, str, int], None] | None = None,
        log: TextIO | None = None,
        prog: str = "meshgate serve",
    ) -> None:
        self.paths = list(paths)
        self.options = options
        self.store = store
        self.on_swap = on_swap
        self.on_outcome = on_outcome
        self.log = log if log is not None else sys.stderr
        self.prog = prog
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.attempts = 0
        self.version = 0
        self._digest = ""
        self._lock = asyncio.Lock()

    def initial(self, snapshot: Snapshot, diagnostics: Sequence[Diagnostic]) -> None:
        """Record the snapshot served at start as version 1."""
        self._digest = content_digest(self.paths)
        outcome = "partial" if _errors(diagnostics) else "applied"
        self._record(outcome, "startup", snapshot, diagnostics, 0.0, {})

    async def reload(self, trigger: str) -> dict[str, Any]:
        async with self._lock:
            started = time.monotonic()
            digest = await asyncio.to_thread(content_digest, self.paths)
            current = self.store.current
            if digest == self._digest and current is not None:
                return self._record("unchanged", trigger, current, (), started, {})
            from meshgate.runtime.pipeline import build_snapshot

            snapshot, diagnostics = await asyncio.to_thread(build_snapshot, self.paths, self.options)
            if snapshot is None or not snapshot.config.listeners:
                reason = "no file could be read" if snapshot is None else "no listener in the new config"
                return self._record("rejected", trigger, current, diagnostics, started, {"reason": reason})
            self._digest = digest
            if current is not None and snapshot.version == current.version:
                return self._record("unchanged", trigger, current, diagnostics, started, {})
            self.store.swap(snapshot)
            details: dict[str, Any] = {}
            if self.on_swap is not None:
                details = await self.on_swap(snapshot, current)
            outcome = "partial" if _errors(diagnostics) or details.get("problems") else "applied"
            return self._record(outcome, trigger, snapshot, diagnostics, started, details)

    def _record(
        self,
        outcome: str,
        trigger: str,
        snapshot: Snapshot | None,
        diagnostics: Sequence[Diagnostic],
        started: float,
        details: dict[str, Any],
    ) -> dict[str, Any]:
        self.attempts += 1
        if outcome in ("applied", "partial"):
            self.version += 1
        errors = _errors(diagnostics)
        entry: dict[str, Any] = {
            "attempt": self.attempts,
            "outcome": outcome,
            "trigger": trigger,
            "version": self.version,
            "digest": snapshot.version if snapshot is not None else None,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "duration_ms": round((time.monotonic() - started) * 1000, 1) if started else 0.0,
            "errors": [d.as_dict() for d in errors],
            **details,
        }
        self.history.append(entry)
        if self.on_outcome is not None:
            self.on_outcome(outcome, entry["digest"] or "", self.version)
        extra = ""
        if details.get("added") or details.get("removed"):
            extra = f"; listeners +{details.get('added', [])} -{details.get('removed', [])}"
        if details.get("reason"):
            extra += f"; {details['reason']}"
        if errors:
            extra += f"; {len(errors)} error(s), first: {errors[0].render()}"
        print(
            f"{self.prog}: reload #{self.attempts} ({trigger}) {outcome}: version {self.version}"
            f" ({entry['digest']}){extra}",
            file=self.log,
            flush=True,
        )
        return entry


def _errors(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level >= Level.ERROR]
