"""Route conditions compiled once per table: one small object per condition of an `ir.RouteMatch`.

Every condition answers two questions with the same code: `matches()` on the hot path, and
`describe_failure()` for `meshgate explain` (which calls `matches()` first, so the explanation can
never disagree with routing). Semantics follow istio-semantics.md sec. 3.6 and Envoy:

- path EXACT/REGEX look at the path without query; PREFIX is a raw string prefix (no segment
  boundary) of the request target, so a prefix containing `?` can match into the query like
  Envoy's `:path`; SEGMENT_PREFIX is Kubernetes Ingress `Prefix` (whole segments).
- regexes are RE2 full matches (anchored at both ends); `ignore_case` never applies to them.
- headers: an absent header never matches; `invert` (withoutHeaders) holds when absent or not
  matching, so PRESENT + invert holds only when the header is absent.
- query parameters: parsed lazily once per request, names case-sensitive, first value wins,
  `?key` has the value "".
"""

from __future__ import annotations

from meshgate import ir
from meshgate.routing.primitives import QueryParams, Regex, StrMatcher, compile_string, fold, quote
from meshgate.routing.request import RequestView

__all__ = [
    "Condition",
    "PathCondition",
    "RouteMatcher",
    "compile_path",
]

# --- conditions -------------------------------------------------------------------------------


class Condition:
    """One condition of a route. `field` names what it looks at ("path", "header x-user", ...)."""

    __slots__ = ()
    uses_query = False

    @property
    def field(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def problems(self) -> tuple[str, ...]:
        """Configuration problems found at compile time (an invalid regex never matches)."""
        return ()

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe_failure(self, request: RequestView, query: QueryParams | None) -> str | None:
        """None when the condition holds, else one readable line saying why it does not."""
        if self.matches(request, query):
            return None
        return self._failure(request, query)

    def _failure(self, request: RequestView, query: QueryParams | None) -> str:  # pragma: no cover
        raise NotImplementedError


class PathCondition(Condition):
    __slots__ = ("ignore_case", "kind", "value")

    @property
    def field(self) -> str:
        return "path"

    def __init__(self, kind: ir.PathMatchKind, value: str, ignore_case: bool) -> None:
        self.kind = kind
        self.value = value
        self.ignore_case = ignore_case

    def subject(self, request: RequestView) -> str:
        return request.path

    def describe(self) -> str:
        name = "segment prefix" if self.kind is ir.PathMatchKind.SEGMENT_PREFIX else self.kind.value
        case = " (ignore case)" if self.ignore_case else ""
        return f"{name} {quote(self.value)}{case}"

    def _failure(self, request: RequestView, query: QueryParams | None) -> str:
        return f"path: {self.describe()} does not match {quote(self.subject(request))}"


class _PathExact(PathCondition):
    __slots__ = ("_folded",)

    def __init__(self, value: str, ignore_case: bool) -> None:
        super().__init__(ir.PathMatchKind.EXACT, value, ignore_case)
        self._folded = fold(value)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        if self.ignore_case:
            return fold(request.path) == self._folded
        return request.path == self.value


class _PathPrefix(PathCondition):
    __slots__ = ("_folded", "_in_query")

    def __init__(self, value: str, ignore_case: bool) -> None:
        super().__init__(ir.PathMatchKind.PREFIX, value, ignore_case)
        self._folded = fold(value)
        # Envoy compares a prefix with the whole `:path` (query included); only a prefix that
        # itself contains '?' can tell the difference, so only then pay for building the target.
        self._in_query = "?" in value

    def subject(self, request: RequestView) -> str:
        return request.target if self._in_query else request.path

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        text = request.target if self._in_query else request.path
        if self.ignore_case:
            return fold(text[: len(self.value)]) == self._folded
        return text.startswith(self.value)


class _PathSegmentPrefix(PathCondition):
    __slots__ = ("_base", "_folded")

    def __init__(self, value: str, ignore_case: bool) -> None:
        super().__init__(ir.PathMatchKind.SEGMENT_PREFIX, value, ignore_case)
        self._base = value.removesuffix("/")  # "/foo/" and "/foo" mean the same; "" or "/" = all
        self._folded = fold(self._base)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        base = self._base
        if not base:
            return True
        path = request.path
        if self.ignore_case:
            path = fold(path)
            base = self._folded
        return path.startswith(base) and (len(path) == len(base) or path[len(base)] == "/")


class _PathRegex(PathCondition):
    __slots__ = ("regex",)

    def __init__(self, value: str) -> None:
        super().__init__(ir.PathMatchKind.REGEX, value, False)  # ignoreUriCase has no effect
        self.regex = Regex(value)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        return self.regex.fullmatch(request.path)

    def describe(self) -> str:
        invalid = f" (invalid: {self.regex.error}; never matches)" if self.regex.error else ""
        return f"regex {quote(self.value)}{invalid}"

    def problems(self) -> tuple[str, ...]:
        return (f"path: regex {quote(self.value)}: {self.regex.error}",) if self.regex.error else ()


def compile_path(match: ir.PathMatch) -> PathCondition:
    if match.kind is ir.PathMatchKind.EXACT:
        return _PathExact(match.value, match.ignore_case)
    if match.kind is ir.PathMatchKind.PREFIX:
        return _PathPrefix(match.value, match.ignore_case)
    if match.kind is ir.PathMatchKind.SEGMENT_PREFIX:
        return _PathSegmentPrefix(match.value, match.ignore_case)
    return _PathRegex(match.value)


class _PseudoHeader(Condition):
    """method / scheme / authority: always present on a request, compared case-sensitively."""

    __slots__ = ("matcher",)
    _name = ""

    def __init__(self, matcher: StrMatcher) -> None:
        self.matcher = matcher

    @property
    def field(self) -> str:
        return self._name

    def value(self, request: RequestView) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self) -> str:
        return self.matcher.describe()

    def problems(self) -> tuple[str, ...]:
        return _string_problems(self.field, self.matcher)

    def _failure(self, request: RequestView, query: QueryParams | None) -> str:
        return f"{self.field}: {self.matcher.describe()} does not match {quote(self.value(request))}"


class _Method(_PseudoHeader):
    __slots__ = ()
    _name = "method"

    def value(self, request: RequestView) -> str:
        return request.method

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        return self.matcher.test(request.method)


class _Scheme(_PseudoHeader):
    __slots__ = ()
    _name = "scheme"

    def value(self, request: RequestView) -> str:
        return request.scheme

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        return self.matcher.test(request.scheme)


class _Authority(_PseudoHeader):
    __slots__ = ()
    _name = "authority"

    def value(self, request: RequestView) -> str:
        return request.authority  # as sent, port included (unlike vhost selection)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        return self.matcher.test(request.authority)


def _string_problems(field: str, matcher: StrMatcher) -> tuple[str, ...]:
    if matcher.error:
        return (f"{field}: regex {quote(matcher.value)}: {matcher.error}",)
    return ()


class _Header(Condition):
    __slots__ = ("invert", "matcher", "name")

    def __init__(self, name: str, matcher: StrMatcher, invert: bool) -> None:
        self.name = name.lower()
        self.matcher = matcher
        self.invert = invert

    @property
    def field(self) -> str:
        return f"header {self.name}"

    def problems(self) -> tuple[str, ...]:
        return _string_problems(self.field, self.matcher)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        value = request.headers.get(self.name)
        held = value is not None and self.matcher.test(value)
        return held is not self.invert

    def describe(self) -> str:
        if self.invert:
            if self.matcher.kind is ir.MatchKind.PRESENT:
                return "absent"
            return f"not {self.matcher.describe()}"
        return self.matcher.describe()

    def _failure(self, request: RequestView, query: QueryParams | None) -> str:
        value = request.headers.get(self.name)
        if self.invert:
            assert value is not None  # an inverted condition only fails on a present header
            if self.matcher.kind is ir.MatchKind.PRESENT:
                return f"header {self.name}: must be absent but is {quote(value)}"
            return f"header {self.name}: must not match {self.matcher.describe()} but is {quote(value)}"
        if value is None:
            return f"header {self.name}: {self.matcher.describe()} but header is absent"
        return f"header {self.name}: {self.matcher.describe()} does not match {quote(value)}"


class _Query(Condition):
    __slots__ = ("matcher", "name")
    uses_query = True

    def __init__(self, name: str, matcher: StrMatcher) -> None:
        self.name = name
        self.matcher = matcher

    @property
    def field(self) -> str:
        return f"query {self.name}"

    def problems(self) -> tuple[str, ...]:
        return _string_problems(self.field, self.matcher)

    def _value(self, request: RequestView, query: QueryParams | None) -> str | None:
        if query is None:  # callers that skipped the lazy view still get the right answer
            query = QueryParams(request.query)
        return query.get(self.name)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        value = self._value(request, query)
        return value is not None and self.matcher.test(value)

    def describe(self) -> str:
        return self.matcher.describe()

    def _failure(self, request: RequestView, query: QueryParams | None) -> str:
        value = self._value(request, query)
        if value is None:
            return f"query {self.name}: {self.matcher.describe()} but parameter is absent"
        return f"query {self.name}: {self.matcher.describe()} does not match {quote(value)}"


# --- a whole route match ----------------------------------------------------------------------


class RouteMatcher:
    """All conditions of one `ir.RouteMatch` (AND), path first so a cheap miss ends early."""

    __slots__ = ("conditions", "path", "uses_query")

    def __init__(self, match: ir.RouteMatch) -> None:
        conditions: list[Condition] = []
        self.path: PathCondition | None = compile_path(match.path) if match.path is not None else None
        if self.path is not None:
            conditions.append(self.path)
        if match.method is not None:
            conditions.append(_Method(compile_string(match.method)))
        if match.scheme is not None:
            conditions.append(_Scheme(compile_string(match.scheme)))
        if match.authority is not None:
            conditions.append(_Authority(compile_string(match.authority)))
        conditions.extend(_Header(h.name, compile_string(h.match), h.invert) for h in match.headers)
        conditions.extend(_Query(q.name, compile_string(q.match)) for q in match.query)
        self.conditions: tuple[Condition, ...] = tuple(conditions)
        self.uses_query = any(c.uses_query for c in conditions)

    def matches(self, request: RequestView, query: QueryParams | None) -> bool:
        # A plain loop, not all(<generator>): this is the innermost loop of decide().
        for condition in self.conditions:  # noqa: SIM110
            if not condition.matches(request, query):
                return False
        return True

    def path_holds(self, request: RequestView) -> bool:
        return self.path is None or self.path.matches(request, None)

    def first_failure(self, request: RequestView, query: QueryParams | None) -> str | None:
        for condition in self.conditions:
            failure = condition.describe_failure(request, query)
            if failure is not None:
                return failure
        return None

    def describe(self) -> str:
        """The whole condition as one line, e.g. `path prefix "/api" and header x-user exact "a"`."""
        if not self.conditions:
            return "any request"
        return " and ".join(f"{c.field} {c.describe()}" for c in self.conditions)

    def problems(self) -> tuple[str, ...]:
        return tuple(p for c in self.conditions for p in c.problems())
