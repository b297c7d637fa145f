"""Building blocks of the compiled matchers: RE2 full matches, string matchers, lazy query view.

Kept apart from `matchers.py` because `rewrite.py` shares the RE2 cache and the query parser is
useful on its own; nothing here looks at routes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import re2

from meshgate import ir

__all__ = [
    "QueryParams",
    "Regex",
    "StrMatcher",
    "compile_regex",
    "compile_string",
    "fold",
    "parse_query",
    "quote",
]

# The public `re2` wrapper spends ~2-6 us per call building match objects through a generator;
# the pybind object underneath answers a full match directly. Use it when present and fall back to
# the public API otherwise (the private layout may change between google-re2 releases).
try:
    _ANCHOR_BOTH: Any = re2._re2.RE2.Anchor.ANCHOR_BOTH
except AttributeError:  # pragma: no cover - depends on the installed google-re2
    _ANCHOR_BOTH = None

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def fold(value: str) -> str:
    """ASCII-only case folding, like Envoy's `ignore_case` (absl::EqualsIgnoreCase)."""
    return value.lower() if value.isascii() else value.translate(_ASCII_LOWER)


def quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@functools.lru_cache(maxsize=16384)
def compile_regex(pattern: str) -> Any:
    """Compile an RE2 pattern once; shared by matchers and regex rewrites (raises re2.error)."""
    opts = re2.Options()
    opts.log_errors = False  # invalid patterns are reported as data, not on stderr
    return re2.compile(pattern, opts)


class Regex:
    """An RE2 pattern with full-match semantics. An invalid pattern never matches (`error` says why)."""

    __slots__ = ("_compiled", "_literal", "_raw", "error", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.error = ""
        self._literal = ""
        self._compiled: Any = None
        self._raw: Any = None
        try:
            self._compiled = compile_regex(pattern)
        except re2.error as exc:
            self.error = regex_error_text(exc)
            return
        if _ANCHOR_BOTH is not None:
            self._raw = getattr(self._compiled, "_regexp", None)
        self._literal = _literal_prefix(self._compiled)

    def fullmatch(self, text: str) -> bool:
        # Cheap rejection first: every full match starts with the pattern's literal prefix.
        if not text.startswith(self._literal):
            return False
        raw = self._raw
        if raw is not None:
            data = text.encode("utf-8", "surrogatepass")
            return bool(raw.Match(_ANCHOR_BOTH, data, 0, len(data))[0][0] != -1)
        compiled = self._compiled
        return compiled is not None and compiled.fullmatch(text) is not None


def regex_error_text(exc: Exception) -> str:
    # google-re2 raises with the C++ message as bytes: show "missing ): (", not "b'missing ): ('".
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail) or "invalid RE2 pattern"


def _literal_prefix(compiled: Any) -> str:
    """The common prefix of RE2's possible match range: a string every full match starts with."""
    try:
        low, high = compiled.possiblematchrange(32)
    except re2.error:
        return ""
    size = 0
    for a, b in zip(low, high, strict=False):
        if a != b:
            break
        size += 1
    # A cut inside a multi-byte character is dropped: the decoded rest is still a valid prefix.
    return bytes(low[:size]).decode("utf-8", "ignore")


# --- string matchers (method, scheme, authority, header and query values) ---------------------


class StrMatcher:
    """Compiled `ir.StringMatch`; `test()` is only called with a present value."""

    __slots__ = ("ignore_case", "kind", "value")

    def __init__(self, kind: ir.MatchKind, value: str, ignore_case: bool) -> None:
        self.kind = kind
        self.value = value
        self.ignore_case = ignore_case

    def test(self, value: str) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def error(self) -> str:
        """Why this matcher can never match (an invalid regex), or ""."""
        return ""

    def describe(self) -> str:
        if self.kind is ir.MatchKind.PRESENT:
            return "present"
        case = " (ignore case)" if self.ignore_case else ""
        return f"{self.kind.value} {quote(self.value)}{case}"


class _Exact(StrMatcher):
    __slots__ = ("_folded",)

    def __init__(self, value: str, ignore_case: bool) -> None:
        super().__init__(ir.MatchKind.EXACT, value, ignore_case)
        self._folded = fold(value)

    def test(self, value: str) -> bool:
        if self.ignore_case:
            return fold(value) == self._folded
        return value == self.value


class _Prefix(StrMatcher):
    __slots__ = ("_folded",)

    def __init__(self, value: str, ignore_case: bool) -> None:
        super().__init__(ir.MatchKind.PREFIX, value, ignore_case)
        self._folded = fold(value)

    def test(self, value: str) -> bool:
        if self.ignore_case:
            return fold(value[: len(self.value)]) == self._folded
        return value.startswith(self.value)


class _RegexStr(StrMatcher):
    __slots__ = ("regex",)

    def __init__(self, value: str) -> None:
        super().__init__(ir.MatchKind.REGEX, value, False)  # ignore_case never applies to RE2
        self.regex = Regex(value)

    def test(self, value: str) -> bool:
        return self.regex.fullmatch(value)

    @property
    def error(self) -> str:
        return self.regex.error

    def describe(self) -> str:
        invalid = f" (invalid: {self.regex.error}; never matches)" if self.regex.error else ""
        return f"regex {quote(self.value)}{invalid}"


class _Present(StrMatcher):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(ir.MatchKind.PRESENT, "", False)

    def test(self, value: str) -> bool:
        return True


def compile_string(match: ir.StringMatch) -> StrMatcher:
    if match.kind is ir.MatchKind.EXACT:
        return _Exact(match.value, match.ignore_case)
    if match.kind is ir.MatchKind.PREFIX:
        return _Prefix(match.value, match.ignore_case)
    if match.kind is ir.MatchKind.REGEX:
        return _RegexStr(match.value)
    return _Present()


# --- query parameters -------------------------------------------------------------------------


def parse_query(raw: str) -> dict[str, str]:
    """Envoy-style query parsing: no percent-decoding, first value wins, `key` alone = ""."""
    params: dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if key not in params:
            params[key] = value
    return params


class QueryParams:
    """Per-request lazy view of the query string: parsed on the first lookup, at most once."""

    __slots__ = ("_parsed", "raw")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._parsed: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        parsed = self._parsed
        if parsed is None:
            parsed = self._parsed = parse_query(self.raw)
        return parsed.get(name)
