"""Diagnostics: problems found in user input, reported as data with a stable code and file:line.

Every stage (loading, translation, analysis) returns `Diagnostic`s instead of raising; the codes
live in `catalog.yaml` so they stay stable across releases.
"""

from meshgate.diag.catalog import CATALOG, MessageType
from meshgate.diag.model import Diagnostic, Level, Origin, ResourceRef, make

__all__ = ["CATALOG", "Diagnostic", "Level", "MessageType", "Origin", "ResourceRef", "make"]
