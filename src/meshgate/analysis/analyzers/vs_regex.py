"""virtualservice.Regex: regexes written as if Envoy searched for them.

Envoy's `safe_regex` (RE2) must match the *whole* path or value; `^` and `$` are implicit. So `^/api`
matches only `/api`, `\\.jpg$` only `.jpg`, and `/api.*` every path that merely starts with `/api`
(`/apiary` too): these are MG0404 warnings. A regex with no wildcard is an exact match and `X.*` a
prefix match; writing them as such is clearer and cheaper (MG0405). `ignoreUriCase` does not apply
to regexes (MG0417). Invalid regexes are IST0106 from translation, which drops the route.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import re2

from meshgate.analysis.analyzer import Analyzer, Context
from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import HTTPMatchRequest, StringMatch, VirtualService
from meshgate.routing.primitives import compile_regex

_META = frozenset(".^$*+?()[]{}|\\")


def literal(text: str) -> str | None:
    """The string a metacharacter-free regex stands for (escaped punctuation allowed), else None."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1].isalnum():
                return None  # \d, \w, ...: a class, not a literal
            out.append(text[i + 1])
            i += 2
            continue
        if char in _META:
            return None
        out.append(char)
        i += 1
    return "".join(out)


def leading_literal(text: str) -> str:
    """The literal run a regex starts with (shortened when a quantifier follows its last char)."""
    if "|" in text:
        return ""
    end = 0
    while end < len(text) and text[end] not in _META:
        end += 1
    run = text[:end]
    if end < len(text) and text[end] in "*?{":
        run = run[:-1]
    return run


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    text: str  # MG0404: problem; MG0405: equivalent
    fix: str


def classify(regex: str, is_path: bool) -> Finding | None:
    starts = regex.startswith("^")
    ends = regex.endswith("$") and not regex.endswith("\\$")
    core = regex[1 if starts else 0 : len(regex) - 1 if ends else len(regex)]
    exact = literal(core)
    head = leading_literal(core)
    if is_path and head and not head.startswith("/"):
        return Finding(
            "MG0404",
            "can never match: it must match the whole path, and paths start with '/'",
            f"Start the regex with '/' (for example .*{head}... or /{head}...).",
        )
    if starts and not ends and not core.endswith(".*"):
        shown = f"only {exact!r}" if exact is not None else "only values that match it entirely"
        return Finding(
            "MG0404",
            f"starts with ^ as if it were searched for; RE2 full-match semantics make it match {shown}",
            "Append .* to match everything that starts like this"
            " (for a path prefix, prefer uri.prefix), or drop the ^.",
        )
    if ends and not starts and not core.startswith(".*"):
        shown = f"only {exact!r}" if exact is not None else "only values that match it entirely"
        return Finding(
            "MG0404",
            f"ends with $ as if it were searched for; RE2 full-match semantics make it match {shown}",
            "Prepend .* to match everything that ends like this.",
        )
    if exact is not None:
        return Finding(
            "MG0405",
            f"an exact match of {exact!r} (no wildcard; the anchors are implicit)",
            f"Write exact: {exact!r}.",
        )
    if core.endswith(".*") and core != ".*":
        prefix = literal(core[:-2])
        if prefix is None:
            return None
        if is_path and not prefix.endswith("/"):
            return Finding(
                "MG0404",
                f"matches every path that merely starts with {prefix}, such as {prefix}x"
                f" (not only {prefix} and {prefix}/...)",
                f"Use {prefix}(/.*)? for {prefix} and the paths under it, or uri.prefix {prefix}/.",
            )
        return Finding("MG0405", f"the prefix match {prefix!r}", f"Write prefix: {prefix!r}.")
    return None


def _entries(match: HTTPMatchRequest) -> Iterator[tuple[str, str, StringMatch]]:
    """(field path relative to the match, subject for messages, value) of every StringMatch."""
    if match.uri is not None:
        yield "uri", "uri", match.uri
    for name in ("scheme", "method", "authority"):
        value = getattr(match, name)
        if value is not None:
            yield name, name, value
    for group, items in (
        ("headers", match.headers),
        ("withoutHeaders", match.without_headers),
        ("queryParams", match.query_params),
    ):
        for key, value in sorted(items.items()):
            yield f"{group}.{key}", f"{group} {key}", value


class Regex(Analyzer):
    name = "virtualservice.Regex"
    description = "Finds regex matches written for search semantics (Envoy regexes are full matches)"
    inputs = ("VirtualService",)
    codes = ("MG0404", "MG0405", "MG0417")

    def analyze(self, context: Context) -> Iterator[Diagnostic]:
        for vs in context.virtual_services:
            for i, rule in enumerate(vs.spec.http):
                for j, match in enumerate(rule.match):
                    yield from self._match(vs, f"spec.http[{i}].match[{j}]", match)

    @staticmethod
    def _match(vs: VirtualService, at: str, match: HTTPMatchRequest) -> Iterator[Diagnostic]:
        for field, subject, value in _entries(match):
            regex = value.regex
            if not regex or regex == "*" or not _valid(regex):
                continue
            path = f"{at}.{field}.regex"
            origin = vs.origin_of(path)
            if field == "uri" and match.ignore_uri_case:
                yield make("MG0417", origin=origin, resource=vs.ref, field_path=path, regex=regex)
            finding = classify(regex, is_path=field == "uri")
            if finding is None:
                continue
            text = {"problem": finding.text} if finding.code == "MG0404" else {"equivalent": finding.text}
            yield make(
                finding.code,
                origin=origin,
                resource=vs.ref,
                field_path=path,
                subject=subject,
                regex=regex,
                fix=finding.fix,
                **text,
            )


def _valid(regex: str) -> bool:
    try:
        compile_regex(regex)
    except re2.error:
        return False
    return True
