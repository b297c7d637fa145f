"""Kubernetes Ingress paths → VirtualService `uri` conditions and route order, as istiod does it.

Pure string functions, no models: `convert_path(path, path_type)` gives the condition one Ingress
path becomes (or why the path must be skipped), `sort_key` gives the order of routes inside one
generated VirtualService (reference sec. 7.6 and 7.7; istio/istio
`pilot/pkg/config/kube/ingress/virtualservices.go`).

pathType semantics:

* `Exact` → `uri: {exact: <path>}`.
* `Prefix` → `uri: {prefix: <path without trailing "/">}`. The VirtualService is generated with
  *ingress route semantics*, so the Istio translator reads that prefix as Kubernetes'
  **segment-aware** prefix (IR `SEGMENT_PREFIX`): `/foo` matches `/foo`, `/foo/` and `/foo/bar` but
  not `/foobar`. `Prefix: /` becomes no condition at all (a catch-all).
* `ImplementationSpecific` (or no pathType, as every extensions/v1beta1 path): `""`, `*`, `/*` and
  `.*` → no condition; a value ending in `/*` or `.*` → that suffix removed, then like `Prefix`
  (so `/foo.*` does not match `/foobar`); anything else → exact. Regexes are never used.

Istio emits `prefix: /foo/` and strips the `/` only when it builds the Envoy route; meshgate strips
it here so the VirtualService already says what is matched. Route order is unaffected: it is
computed, as Istio does, from the length of the value *before* the trailing `/` is stripped.

Paths the Kubernetes API server would refuse (relative paths, `//`, `/./`, `/../`, `%2F`, a
trailing `/.` or `/..` for Exact/Prefix; relative ImplementationSpecific paths other than Istio's
`*` and `.*`; unknown pathTypes)
never reach istiod from a cluster. Read from files they are skipped with MG0208 instead.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

EXACT = "Exact"
PREFIX = "Prefix"
IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"
PATH_TYPES = (EXACT, IMPLEMENTATION_SPECIFIC, PREFIX)

_CATCH_ALL_VALUES = frozenset({"", "*", "/*", ".*"})
_WILDCARD_SUFFIXES = (".*", "/*")
# Kubernetes' validateHTTPIngressPath for Exact and Prefix paths.
_INVALID_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_SUFFIXES = ("/..", "/.")
# Characters that only make sense in a regex; a path that has them is (almost surely) written for a
# controller that reads regexes (ingress-nginx `use-regex`). `.` alone is common in paths (`/a.html`).
_REGEX_CHARACTERS = frozenset("^$()[]{}|+?\\*")


class UriKind(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"  # segment-aware, through ingress route semantics
    ANY = "any"  # no uri condition: matches every path


@dataclass(frozen=True, slots=True)
class PathCondition:
    """What one Ingress path becomes in the generated VirtualService."""

    kind: UriKind
    value: str = ""
    # Istio's sort length: len() of the exact/prefix value it emits (before the trailing "/" of a
    # Prefix is stripped); 0 for no condition.
    sort_length: int = 0

    @property
    def uri(self) -> dict[str, str] | None:
        """The VirtualService `uri` StringMatch (camelCase dict), or None for no condition."""
        match self.kind:
            case UriKind.EXACT:
                return {"exact": self.value}
            case UriKind.PREFIX:
                return {"prefix": self.value}
            case UriKind.ANY:
                return None

    @property
    def exact(self) -> bool:
        return self.kind is UriKind.EXACT


@dataclass(frozen=True, slots=True)
class InvalidPath:
    """A path that cannot be used (the API server would have refused it); skipped with MG0208."""

    reason: str
    fix: str


ANY_PATH = PathCondition(UriKind.ANY)


def normalize_path_type(path_type: str) -> str:
    """Unset pathType (every v1beta1 object) means ImplementationSpecific, as the API server defaults."""
    return path_type or IMPLEMENTATION_SPECIFIC


def convert_path(path: str, path_type: str) -> PathCondition | InvalidPath:
    """One Ingress `paths[]` entry → its uri condition (sec. 7.6)."""
    kind = normalize_path_type(path_type)
    if kind not in PATH_TYPES:
        return InvalidPath(
            f"pathType {kind!r} is not one of {', '.join(PATH_TYPES)}",
            "Use pathType Prefix, Exact or ImplementationSpecific (the names are case-sensitive).",
        )
    if kind == IMPLEMENTATION_SPECIFIC:
        # Istio's catch-all spellings first: `*` and `.*` are relative, yet Istio defines them.
        if path and path not in _CATCH_ALL_VALUES and not path.startswith("/"):
            return InvalidPath("the path must be absolute (start with '/')", f"Write /{path}.")
        return _implementation_specific(path)
    problem = _exact_or_prefix_problem(path)
    if problem is not None:
        return problem
    if kind == EXACT:
        return PathCondition(UriKind.EXACT, path, len(path))
    return _prefix(path, sort_length=len(path))


def _exact_or_prefix_problem(path: str) -> InvalidPath | None:
    if not path.startswith("/"):
        shown = f"/{path}" if path else "/"
        return InvalidPath("the path must be absolute (start with '/')", f"Write {shown}.")
    for sequence in _INVALID_SEQUENCES:
        if sequence in path:
            return InvalidPath(f"the path must not contain {sequence!r}", "Remove it from the path.")
    for suffix in _INVALID_SUFFIXES:
        if path.endswith(suffix):
            return InvalidPath(f"the path must not end with {suffix!r}", "Remove it from the path.")
    return None


def _prefix(value: str, sort_length: int) -> PathCondition:
    stripped = value.rstrip("/")
    if not stripped:
        # Prefix "/" matches everything; Istio keeps `prefix: /` (a catch-all), we emit no condition.
        return PathCondition(UriKind.ANY, "", sort_length)
    return PathCondition(UriKind.PREFIX, stripped, sort_length)


def _implementation_specific(path: str) -> PathCondition:
    """Istio's createFallbackStringMatch."""
    if path in _CATCH_ALL_VALUES:
        return ANY_PATH
    for suffix in _WILDCARD_SUFFIXES:
        if path.endswith(suffix):
            value = path.removesuffix(suffix)
            return _prefix(value, sort_length=len(value))
    return PathCondition(UriKind.EXACT, path, len(path))


def has_regex_characters(path: str, path_type: str) -> bool:
    """True for an ImplementationSpecific path that looks like a regex (it is matched literally)."""
    if normalize_path_type(path_type) != IMPLEMENTATION_SPECIFIC or path in _CATCH_ALL_VALUES:
        return False
    body = path
    for suffix in _WILDCARD_SUFFIXES:
        if body.endswith(suffix):
            body = body.removesuffix(suffix)
            break
    return any(char in _REGEX_CHARACTERS for char in body) or ".*" in body


def sort_key(condition: PathCondition) -> tuple[int, int]:
    """Istio's sortHTTPRoutes: longer value first; on equal length exact before prefix; no-condition
    routes count as length 0, i.e. last. Use with a *stable* sort."""
    return (-condition.sort_length, 0 if condition.exact else 1)


def ordered(items: Iterable[T], condition_of: Callable[[T], PathCondition]) -> list[T]:
    """`items` stable-sorted into the order routes take in a generated VirtualService (sec. 7.7)."""
    return sorted(items, key=lambda item: sort_key(condition_of(item)))
