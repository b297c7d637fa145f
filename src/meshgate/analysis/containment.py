"""Exact containment and overlap of route matches: does every request route B matches also match A?

Theory of operation
-------------------
A request is a tuple of independent attributes: path, method, scheme, authority, each header and
each query parameter (headers and parameters may be absent). An `ir.RouteMatch` is a conjunction of
conditions, each on one attribute, so

    B ⊆ A  ⟺  for every condition c of A:  S_B(attr(c)) ⊆ accepted(c)

where S_B(attr) is the set of values (or "absent") that B's own conditions on that attribute allow.
If B allows no value at all for some attribute, B matches no request and is trivially contained.

Non-regex conditions are finite unions of patterns (`languages.py`), for which inclusion and
intersection are decided exactly, so for exact / prefix / segment-prefix / present conditions, with or
without ignore-case, on the path, method, scheme, authority, headers (withoutHeaders included) and
query parameters, the answer is exact both ways:

* "contained" is a proof;
* "not contained" comes with a witness request that B matches and A does not, and the witness is
  checked with the real matcher (`routing.matchers.RouteMatcher`) before it is returned.

Regexes are opaque: a regex condition of A is implied only by the identical regex in B (or by
checking every value when B's other conditions leave finitely many). Whenever a witness cannot be
built and verified, the answer is "not proven" (`contained=False, witness=None`): analyzers never
report a shadowed route they could not prove.

Domain facts the model relies on: a request path starts with '/' (Envoy rejects other forms before
routing) and never contains '?' (the query is separate), so a path prefix containing '?' (which Envoy
compares with path+query) is opaque; a query value never contains '&'; a query parameter whose name
contains '&' or '=' can never be present.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from meshgate import ir
from meshgate.analysis.languages import ANY, Lang, enumerate_finite, find_outside, literal, meet_langs
from meshgate.routing.matchers import RouteMatcher
from meshgate.routing.primitives import Regex
from meshgate.routing.request import RequestView

__all__ = ["Containment", "contains", "overlap", "satisfiable"]

_FINITE_LIMIT = 256
_PATH_FORBIDDEN = frozenset("?")
_QUERY_FORBIDDEN = frozenset("&")
_NO_CHARS: frozenset[str] = frozenset()
_PATHS: Lang = literal("/", ignore_case=False, open=True)  # every request path starts with '/'
_ABSENT = None  # the value of an optional attribute that is not in the request
Attr = tuple[str, str]  # ("path", ""), ("method", ""), ("header", name), ("query", name)


@dataclass(frozen=True, slots=True)
class Containment:
    contained: bool
    witness: RequestView | None = None  # set when not contained: B matches it, A does not
    empty: bool = False  # B matches no request at all (contained in anything)


@dataclass(frozen=True, slots=True)
class _Cond:
    lang: Lang | None  # None: opaque (regex; path prefix containing '?')
    test: Callable[[str], bool] | None  # exact per-value test when the condition depends on the value only
    key: tuple[str, str, bool]  # identity for "identical condition" proofs
    negative: bool = False  # withoutHeaders: holds when absent or not matching


class _Unknown(Exception):
    """The attribute's value set could not be decided (regexes)."""


# --- conditions --------------------------------------------------------------------------------


def _string_cond(match: ir.StringMatch, forbidden: frozenset[str], negative: bool = False) -> _Cond:
    key = (match.kind.value, match.value, match.ignore_case)
    if match.kind is ir.MatchKind.PRESENT:
        return _Cond(ANY, lambda _value: True, key, negative)
    if match.kind is ir.MatchKind.REGEX:
        regex = Regex(match.value)
        if regex.error:
            return _Cond((), lambda _value: False, key, negative)  # never matches
        return _Cond(None, regex.fullmatch, key, negative)
    lang = literal(
        match.value,
        ignore_case=match.ignore_case,
        open=match.kind is ir.MatchKind.PREFIX,
        forbidden=forbidden,
    )
    return _Cond(lang, _lang_test(lang), key, negative)


def _lang_test(lang: Lang) -> Callable[[str], bool]:
    return lambda value: any(p.accepts(value) for p in lang)


def _path_cond(path: ir.PathMatch) -> _Cond:
    key = (path.kind.value, path.value, path.ignore_case)
    ci = path.ignore_case
    if path.kind is ir.PathMatchKind.EXACT:
        lang = literal(path.value, ignore_case=ci, open=False, forbidden=_PATH_FORBIDDEN)
        return _Cond(lang, _lang_test(lang), key)
    if path.kind is ir.PathMatchKind.PREFIX:
        if "?" in path.value:
            return _Cond(None, None, key)  # compared with path+query: not a function of the path
        lang = literal(path.value, ignore_case=ci, open=True, forbidden=_PATH_FORBIDDEN)
        return _Cond(lang, _lang_test(lang), key)
    if path.kind is ir.PathMatchKind.SEGMENT_PREFIX:
        base = path.value.removesuffix("/")
        if not base:
            return _Cond(ANY, lambda _value: True, key)
        lang = literal(base, ignore_case=ci, open=False, forbidden=_PATH_FORBIDDEN) + literal(
            base + "/", ignore_case=ci, open=True, forbidden=_PATH_FORBIDDEN
        )
        return _Cond(lang, _lang_test(lang), key)
    regex = Regex(path.value)  # ignore_case never applies to regexes
    if regex.error:
        return _Cond((), lambda _value: False, key)
    return _Cond(None, regex.fullmatch, key)


@functools.lru_cache(maxsize=8192)
def _conditions(match: ir.RouteMatch) -> dict[Attr, tuple[_Cond, ...]]:
    out: dict[Attr, list[_Cond]] = {}
    if match.path is not None:
        out.setdefault(("path", ""), []).append(_path_cond(match.path))
    for name, value in (("method", match.method), ("scheme", match.scheme), ("authority", match.authority)):
        if value is not None:
            out.setdefault((name, ""), []).append(_string_cond(value, _NO_CHARS))
    for header in match.headers:
        out.setdefault(("header", header.name.lower()), []).append(
            _string_cond(header.match, _NO_CHARS, negative=header.invert)
        )
    for param in match.query:
        cond = _string_cond(param.match, _QUERY_FORBIDDEN)
        if "&" in param.name or "=" in param.name:
            cond = _Cond((), lambda _value: False, cond.key)  # such a parameter is never parsed
        out.setdefault(("query", param.name), []).append(cond)
    return {attr: tuple(conds) for attr, conds in out.items()}


@functools.lru_cache(maxsize=8192)
def _matcher(match: ir.RouteMatch) -> RouteMatcher:
    return RouteMatcher(match)


def _optional(attr: Attr) -> bool:
    return attr[0] in ("header", "query")


def _forbidden(attr: Attr) -> frozenset[str]:
    return {"path": _PATH_FORBIDDEN, "query": _QUERY_FORBIDDEN}.get(attr[0], _NO_CHARS)


# --- value sets of one attribute ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Set:
    """S = (∩ positives) minus (∪ negatives) for one attribute, plus 'absent' when allowed."""

    attr: Attr
    plain: Lang  # intersection of the non-opaque positive conditions
    negatives: Lang  # union of the non-opaque negative conditions
    opaque: tuple[_Cond, ...]  # opaque conditions (positive or negative) still to respect
    absent_ok: bool

    @classmethod
    def of(cls, attr: Attr, conds: Iterable[_Cond]) -> _Set:
        conds = tuple(conds)
        plain = _PATHS if attr[0] == "path" else ANY
        negatives: Lang = ()
        for cond in conds:
            if cond.lang is None:
                continue
            if cond.negative:
                negatives += cond.lang
            else:
                plain = meet_langs(plain, cond.lang)
        opaque = tuple(c for c in conds if c.lang is None)
        absent_ok = _optional(attr) and all(c.negative for c in conds)
        return cls(attr, plain, negatives, opaque, absent_ok)

    def respects_opaque(self, value: str) -> bool:
        """Whether `value` satisfies the opaque conditions; raises _Unknown if one cannot be tested."""
        for cond in self.opaque:
            if cond.test is None:
                raise _Unknown
            if cond.test(value) is cond.negative:
                return False
        return True

    def finite_members(self) -> list[str] | None:
        """All present values when finitely many (opaque conditions applied), else None."""
        return self._finite(self.plain)

    def outside(self, excluded: Lang, within: Lang | None = None) -> str | None:
        """A present value of this set (restricted to `within`) outside `excluded`; None if none.

        Exact when there are no opaque conditions; otherwise raises _Unknown when undecided."""
        plain = self.plain if within is None else meet_langs(self.plain, within)
        ys = self.negatives + excluded
        forbidden = _forbidden(self.attr)
        if self.opaque:
            members = self._finite(plain)
            if members is not None:
                return next((m for m in members if not any(y.accepts(m) for y in ys)), None)
        found = False
        for x in plain:
            value = find_outside(x, ys, forbidden)
            if value is None:
                continue
            found = True
            if self.respects_opaque(value):
                return value
        if found:
            raise _Unknown  # a candidate existed but an opaque condition rejected it
        return None

    def _finite(self, plain: Lang) -> list[str] | None:
        candidates = enumerate_finite(plain, _FINITE_LIMIT)
        if candidates is None:
            return None
        return [
            v for v in candidates if not any(p.accepts(v) for p in self.negatives) and self.respects_opaque(v)
        ]

    def sample(self) -> str | None:
        """Some member: None means 'absent' when allowed. Raises _Empty / _Unknown."""
        if self.absent_ok:
            return _ABSENT
        value = self.outside(())
        if value is None:
            raise _Empty
        return value


class _Empty(Exception):
    """The attribute allows no value: the route matches no request."""


# --- one condition of A against the value set of B --------------------------------------------------


def _counter(s: _Set, c: _Cond) -> tuple[bool, str | None]:
    """(proven, witness value): whether S ⊆ accepted(c); else a value of S that c rejects.

    A witness of None with proven False means 'absent'. Raises _Unknown when undecided."""
    if not c.negative and s.absent_ok:
        return False, _ABSENT  # B allows the attribute to be absent; a positive c then fails
    if c.lang is not None:
        if c.negative:
            value = None
            for pattern in c.lang:
                value = s.outside((), within=(pattern,))
                if value is not None:
                    break
            return (True, None) if value is None else (False, value)
        value = s.outside(c.lang)
        return (True, None) if value is None else (False, value)
    # Opaque c: implied by the identical condition, or checked value by value on a finite set.
    if any(o.key == c.key and o.negative == c.negative for o in s.opaque):
        return True, None
    members = s.finite_members()
    if members is None or c.test is None:
        raise _Unknown
    for value in members:
        if c.test(value) is c.negative:
            return False, value
    return True, None


def _request(values: dict[Attr, str | None]) -> RequestView:
    headers = {attr[1]: v for attr, v in values.items() if attr[0] == "header" and v is not None}
    query = "&".join(f"{attr[1]}={v}" for attr, v in values.items() if attr[0] == "query" and v is not None)

    def get(name: str, default: str) -> str:
        value = values.get((name, ""))
        return default if value is None else value

    return RequestView(
        port=80,
        authority=get("authority", "example.com"),
        path=get("path", "/"),
        query=query,
        method=get("method", "GET"),
        scheme=get("scheme", "http"),
        headers=headers,
    )


def _samples(sets: dict[Attr, _Set]) -> dict[Attr, str | None] | None:
    """One value per attribute; raises _Empty when some attribute allows nothing; None if undecided."""
    values: dict[Attr, str | None] = {}
    unknown = False
    for attr, s in sets.items():
        try:
            values[attr] = s.sample()
        except _Unknown:
            unknown = True
    return None if unknown else values


@functools.lru_cache(maxsize=65536)
def contains(a: ir.RouteMatch, b: ir.RouteMatch) -> Containment:
    """Whether every request matched by `b` is also matched by `a` (see the module doc)."""
    a_conds, b_conds = _conditions(a), _conditions(b)
    sets = {attr: _Set.of(attr, conds) for attr, conds in b_conds.items()}
    try:
        samples = _samples(sets)
    except _Empty:
        return Containment(True, empty=True)
    undecided = False
    for attr, conds in a_conds.items():
        s = sets.get(attr) or _Set.of(attr, ())
        for cond in conds:
            try:
                proven, value = _counter(s, cond)
            except _Unknown:
                undecided = True
                continue
            if proven:
                continue
            if samples is None:
                undecided = True
                continue
            witness = _request({**samples, attr: value})
            if _matcher(b).matches(witness, None) and not _matcher(a).matches(witness, None):
                return Containment(False, witness)
            undecided = True  # pragma: no cover - only reachable through opaque conditions
    if undecided:
        return Containment(False)
    return Containment(True)


@functools.lru_cache(maxsize=8192)
def satisfiable(match: ir.RouteMatch) -> bool | None:
    """Whether some request matches `match` (None when undecided because of regexes)."""
    sets = {attr: _Set.of(attr, conds) for attr, conds in _conditions(match).items()}
    try:
        samples = _samples(sets)
    except _Empty:
        return False
    return None if samples is None else True


def overlap(a: ir.RouteMatch, b: ir.RouteMatch) -> RequestView | None:
    """A request both `a` and `b` match, verified with the real matcher; None when there is none or
    when it cannot be decided (regexes)."""
    merged: dict[Attr, list[_Cond]] = {}
    for conds in (_conditions(a), _conditions(b)):
        for attr, items in conds.items():
            merged.setdefault(attr, []).extend(items)
    sets = {attr: _Set.of(attr, conds) for attr, conds in merged.items()}
    try:
        samples = _samples(sets)
    except _Empty:
        return None
    if samples is None:
        return None
    request = _request(samples)
    if _matcher(a).matches(request, None) and _matcher(b).matches(request, None):
        return request
    return None  # pragma: no cover - only reachable through opaque conditions
