"""Snapshot: one compiled configuration, immutable, with the problems found building it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshgate import ir
from meshgate.diag import Diagnostic


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str  # digest of the canonical IR dump: equal configs have equal versions
    table: Any  # meshgate.routing.RoutingTable (typed loosely: runtime does not import routing)
    config: ir.Config
    diagnostics: tuple[Diagnostic, ...] = ()
