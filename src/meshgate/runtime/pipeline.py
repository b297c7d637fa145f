"""load → translate → compile: the one path from files to a servable Snapshot."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from meshgate.diag import Diagnostic
from meshgate.ir.dump import to_yaml
from meshgate.runtime.snapshot import Snapshot
from meshgate.translate import TranslateOptions


def config_version(config: object) -> str:
    """A digest of the canonical dump: equal configurations get equal versions."""
    return hashlib.sha256(to_yaml(config).encode("utf-8")).hexdigest()[:16]


def build_snapshot(
    paths: Sequence[str], options: TranslateOptions | None = None, *, stdin_text: str | None = None
) -> tuple[Snapshot | None, tuple[Diagnostic, ...]]:
    """Snapshot of everything that could be translated, plus every problem found on the way.

    None only when no file could be read at all; a config that partly fails still yields a
    snapshot of the rest (bad objects are dropped with a diagnostic, never the whole config).
    """
    from meshgate.routing import compile_config
    from meshgate.sources import load_paths
    from meshgate.translate import translate

    loaded = load_paths(paths, stdin_text)
    if not loaded.files:
        return None, loaded.diagnostics
    translation = translate(loaded.bundle, options or TranslateOptions())
    diagnostics = loaded.diagnostics + translation.diagnostics
    table = compile_config(translation.config)
    snapshot = Snapshot(config_version(translation.config), table, translation.config, diagnostics)
    return snapshot, diagnostics
