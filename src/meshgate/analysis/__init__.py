"""`meshgate analyze`: everything loading and translation found, plus the analyzers' findings.

    result = analyze(load, translation, options)        # or analyze_paths(["dir/"])
    result.diagnostics                                   # sorted by file and line, suppressions applied

Loading and translation already report many problems (references, TLS Secrets, Ingress paths...);
the analyzers in `analyzers/` add what they do not (see `analyzers/__init__.py: ALL`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from meshgate.analysis.analyzer import Analyzer, Context, Settings
from meshgate.analysis.suppress import Suppression
from meshgate.diag import Diagnostic, Level
from meshgate.sources import LoadResult, load_paths
from meshgate.translate import TranslateOptions, Translation, translate

__all__ = ["AnalysisResult", "Analyzer", "Context", "Settings", "analyze", "analyze_paths"]


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    diagnostics: tuple[Diagnostic, ...]
    suppressed: int = 0
    analyzers: tuple[str, ...] = ()  # names of the analyzers that ran

    def at_least(self, level: Level) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.level >= level)

    def counts(self) -> dict[str, int]:
        return {level.label: sum(1 for d in self.diagnostics if d.level is level) for level in Level}


def analyze(
    load: LoadResult,
    translation: Translation,
    options: TranslateOptions | None = None,
    settings: Settings | None = None,
    *,
    analyzers: Sequence[Analyzer] | None = None,
    suppressions: Iterable[Suppression] = (),
) -> AnalysisResult:
    from meshgate.analysis.analyzers import ALL

    context = Context(load.bundle, translation, options, settings)
    found: list[Diagnostic] = [*load.diagnostics, *translation.diagnostics]
    ran: list[str] = []
    for analyzer in analyzers if analyzers is not None else ALL:
        if analyzer.relevant(context):
            ran.append(analyzer.name)
            found.extend(analyzer.analyze(context))
    rules = tuple(suppressions)
    unique = list(dict.fromkeys(found))
    kept = [d for d in unique if not any(rule.matches(d) for rule in rules)]
    kept.sort(key=lambda d: d.sort_key())
    return AnalysisResult(tuple(kept), len(unique) - len(kept), tuple(ran))


def analyze_paths(
    paths: Sequence[str], options: TranslateOptions | None = None, settings: Settings | None = None
) -> AnalysisResult:
    load = load_paths(paths)
    options = options or TranslateOptions()
    return analyze(load, translate(load.bundle, options), options, settings)
