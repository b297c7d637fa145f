"""What translation returns: the IR plus every problem found, as data."""

from __future__ import annotations

from dataclasses import dataclass

from meshgate import ir
from meshgate.diag import Diagnostic


@dataclass(frozen=True, slots=True)
class Translation:
    config: ir.Config
    diagnostics: tuple[Diagnostic, ...] = ()
