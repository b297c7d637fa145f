"""Sets of strings that route conditions accept, as unions of "prefix patterns", with exact algebra.

Theory of operation
-------------------
Every non-regex condition the matcher knows (exact, prefix, Ingress segment prefix, present, each
optionally case-insensitive) accepts a set of strings that is a finite union of `Pattern`s: a
sequence of character classes, either closed (the string has exactly that many characters) or open
(any continuation). Case-insensitivity is per character, because the matcher's folding
(`routing.primitives.fold`) maps A-Z to a-z one character at a time and nothing else; so `ignore_case`
just widens each letter's class to {lower, upper}.

Patterns are closed under intersection (`meet`), and `find_outside(x, ys)` decides `L(x) ⊆ ∪ L(ys)`
exactly, returning a string of `L(x)` outside every `ys` when there is one. That witness is what makes
the containment check in `containment.py` verifiable: "not contained" always comes with a request
the real matcher can be run on.

`find_outside` walks positions left to right, tracking which `ys` are still consistent with the
prefix read so far; states are memoised on (position, alive set). Beyond the longest pattern every
position behaves the same, so the walk is bounded by that length plus one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["ANY", "Lang", "Pattern", "enumerate_finite", "find_outside", "literal", "meet", "meet_langs"]


@dataclass(frozen=True, slots=True)
class Pattern:
    classes: tuple[frozenset[str], ...]
    open: bool  # True: any continuation after the classes is accepted

    def accepts(self, text: str) -> bool:
        if len(text) < len(self.classes) or (not self.open and len(text) != len(self.classes)):
            return False
        return all(char in cls for char, cls in zip(text, self.classes, strict=False))

    @property
    def finite_size(self) -> int | None:
        """How many strings the pattern accepts, or None when infinite."""
        if self.open:
            return None
        size = 1
        for cls in self.classes:
            size *= len(cls)
        return size


Lang = tuple[Pattern, ...]
"""A union of patterns; () is the empty set."""

ANY: Lang = (Pattern((), True),)

# Characters tried for "anything else" at a position; the first one no class mentions is used.
_FRESH = "xyzabcdefghijklmnopqrstuvw0123456789-_.~"


def _char_class(char: str, ignore_case: bool, forbidden: frozenset[str]) -> frozenset[str]:
    if ignore_case and ("a" <= char <= "z" or "A" <= char <= "Z"):
        cls = frozenset((char.lower(), char.upper()))
    else:
        cls = frozenset(char)
    return cls - forbidden


def literal(text: str, *, ignore_case: bool, open: bool, forbidden: frozenset[str] = frozenset()) -> Lang:
    """The strings equal to `text` (open=False) or starting with it (open=True)."""
    classes = tuple(_char_class(char, ignore_case, forbidden) for char in text)
    if any(not cls for cls in classes):
        return ()  # a character the value can never contain (e.g. '?' in a path)
    return (Pattern(classes, open),)


def meet(x: Pattern, y: Pattern) -> Pattern | None:
    """Intersection of two patterns (None when empty)."""
    nx, ny = len(x.classes), len(y.classes)
    if (not x.open and ny > nx) or (not y.open and nx > ny):
        return None
    classes: list[frozenset[str]] = []
    for i in range(max(nx, ny)):
        if i >= nx:
            classes.append(y.classes[i])
        elif i >= ny:
            classes.append(x.classes[i])
        else:
            both = x.classes[i] & y.classes[i]
            if not both:
                return None
            classes.append(both)
    return Pattern(tuple(classes), x.open and y.open)


def meet_langs(a: Lang, b: Lang) -> Lang:
    out: list[Pattern] = []
    for x in a:
        for y in b:
            z = meet(x, y)
            if z is not None and z not in out:
                out.append(z)
    return tuple(out)


def find_outside(x: Pattern, ys: Lang, forbidden: frozenset[str] = frozenset()) -> str | None:
    """A string accepted by `x` and by none of `ys`, or None when `L(x) ⊆ ∪ L(ys)`.

    Strings never contain a `forbidden` character (the caller's alphabet excludes them)."""
    if not ys:
        # Nothing to avoid: the shortest member, lower-case letters first (the common case when
        # sampling a value, so it skips the search).
        chars = [max(cls - forbidden, default="") for cls in x.classes]
        return None if "" in chars else "".join(chars)
    memo: dict[tuple[int, frozenset[int]], str | None] = {}
    horizon = max([len(x.classes), *(len(y.classes) for y in ys)]) + 1

    def search(i: int, alive: frozenset[int]) -> str | None:
        key = (i, alive)
        if key in memo:
            return memo[key]
        memo[key] = None  # cycles cannot happen (i grows), but keep the memo well-defined
        result = _step(i, alive)
        memo[key] = result
        return result

    def _step(i: int, alive: frozenset[int]) -> str | None:
        # A y that is open and fully read accepts every continuation: nothing outside from here.
        if any(ys[j].open and len(ys[j].classes) <= i for j in alive):
            return None
        n = len(x.classes)
        can_end = i == n or (x.open and i >= n)
        if can_end and not any(len(ys[j].classes) == i for j in alive):
            return ""
        if i >= n and not x.open:
            return None
        if i >= horizon and not alive:
            return None  # unreachable: with no y alive, ending was possible above
        if i < n:
            candidates = set(x.classes[i])
        else:
            candidates = {c for j in alive if i < len(ys[j].classes) for c in ys[j].classes[i]}
            fresh = next((c for c in _FRESH if c not in candidates and c not in forbidden), None)
            if fresh is not None:
                candidates.add(fresh)
        candidates -= forbidden
        groups: dict[frozenset[int], str] = {}
        for char in sorted(candidates):
            nxt = frozenset(j for j in alive if i < len(ys[j].classes) and char in ys[j].classes[i])
            groups.setdefault(nxt, char)
        # Try the smallest surviving set first: the likeliest way out, and short witnesses.
        for nxt, char in sorted(groups.items(), key=lambda item: (len(item[0]), item[1])):
            rest = search(i + 1, nxt)
            if rest is not None:
                return char + rest
        return None

    return search(0, frozenset(range(len(ys))))


def enumerate_finite(lang: Lang, limit: int) -> list[str] | None:
    """Every string of a finite language (at most `limit`), or None when infinite or too large."""
    total = 0
    for pattern in lang:
        size = pattern.finite_size
        if size is None:
            return None
        total += size
        if total > limit:
            return None
    out: list[str] = []
    for pattern in lang:
        for chars in itertools.product(*(sorted(cls) for cls in pattern.classes)):
            text = "".join(chars)
            if text not in out:
                out.append(text)
    return out
