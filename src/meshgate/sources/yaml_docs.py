"""Split YAML text into documents and build plain Python data with a line number for every field.

Each document is parsed on its own (split at `---` lines), so one broken document costs only
itself. Lines are recorded per dotted path (`spec.http[0].route`), 1-based, for messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import yaml

_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$")


@dataclass(slots=True)
class RawDocument:
    data: Any
    line: int  # 1-based line of the document's first content line
    lines: dict[str, int] = field(default_factory=dict)
    nbsp_lines: tuple[int, ...] = ()  # lines whose indentation used U+00A0 (read as spaces)


@dataclass(frozen=True, slots=True)
class YamlProblem:
    line: int
    message: str


def split_documents(text: str) -> list[tuple[int, str]]:
    """(first line number, text) for each document, keeping line numbers true to the file."""
    chunks: list[tuple[int, str]] = []
    start, current = 1, list[str]()
    for number, line in enumerate(text.splitlines(), start=1):
        if _SEPARATOR.match(line):
            chunks.append((start, "\n".join(current)))
            start, current = number + 1, []
        else:
            current.append(line)
    chunks.append((start, "\n".join(current)))
    return [(first, chunk) for first, chunk in chunks if chunk.strip() and not _only_comments(chunk)]


def _only_comments(chunk: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in chunk.splitlines())


class _Constructor(yaml.constructor.SafeConstructor):
    """PyYAML's safe constructor, except that timestamps stay text (Kubernetes reads YAML as JSON)."""


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)


_SAFE = _Constructor()
_STR = "tag:yaml.org,2002:str"
_SCALAR_BUILDERS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:null": lambda node: None,
    "tag:yaml.org,2002:bool": cast(Callable[[yaml.ScalarNode], Any], _SAFE.construct_yaml_bool),
    "tag:yaml.org,2002:int": cast(Callable[[yaml.ScalarNode], Any], _SAFE.construct_yaml_int),
    "tag:yaml.org,2002:float": cast(Callable[[yaml.ScalarNode], Any], _SAFE.construct_yaml_float),
    # Kubernetes reads YAML as JSON: an unquoted timestamp stays the text it was written as.
    "tag:yaml.org,2002:timestamp": lambda node: node.value,
}


class _NeedsFullConstructor(Exception):
    """Merge keys, non-scalar keys or exotic tags: build this document with PyYAML's constructor."""


def _build(node: yaml.Node, path: str, offset: int, lines: dict[str, int], memo: dict[int, Any]) -> Any:
    """Plain data from a composed node, recording each field's line on the way (one pass: the
    constructor PyYAML provides is pure Python and was most of the load time on large inputs)."""
    if isinstance(node, yaml.ScalarNode):
        if node.tag == _STR:
            return node.value
        builder = _SCALAR_BUILDERS.get(node.tag)
        if builder is None:
            raise _NeedsFullConstructor(node.tag)
        return builder(node)
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        memo[id(node)] = mapping
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                raise _NeedsFullConstructor("merge key or complex key")
            key = key_node.value if key_node.tag == _STR else _build(key_node, path, offset, lines, memo)
            child = f"{path}.{key}" if path else str(key)
            lines[child] = key_node.start_mark.line + offset
            mapping[key] = _build(value_node, child, offset, lines, memo)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        memo[id(node)] = items
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines[child] = item.start_mark.line + offset
            items.append(_build(item, child, offset, lines, memo))
        return items
    raise _NeedsFullConstructor(type(node).__name__)


def _record_lines(node: yaml.Node, path: str, offset: int, lines: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            child = f"{path}.{key_node.value}" if path else str(key_node.value)
            lines[child] = key_node.start_mark.line + offset
            _record_lines(value_node, child, offset, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}[{index}]"
            lines[child] = item.start_mark.line + offset
            _record_lines(item, child, offset, lines)


_NBSP = "\u00a0"
_LEADING_BLANKS = re.compile("^[ \u00a0]+", re.MULTILINE)


def repair_nbsp_indentation(text: str, first_line: int) -> tuple[str, tuple[int, ...]]:
    """Manifests copied from web pages and chat tools often indent with non-breaking spaces, which
    YAML does not accept as indentation. They are read as spaces, and the lines are reported."""
    if _NBSP not in text:
        return text, ()
    fixed: list[int] = []

    def to_spaces(match: re.Match[str]) -> str:
        if _NBSP in match.group(0):
            fixed.append(first_line + text.count("\n", 0, match.start()))
        return " " * len(match.group(0))

    return _LEADING_BLANKS.sub(to_spaces, text), tuple(fixed)


def parse_document(first_line: int, text: str) -> RawDocument | YamlProblem:
    text, nbsp_lines = repair_nbsp_indentation(text, first_line)
    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        reason = exc.problem or exc.context or "invalid YAML"
        return YamlProblem(line, str(reason))
    except yaml.YAMLError as exc:
        return YamlProblem(first_line, str(exc).splitlines()[0])
    if node is None:
        return YamlProblem(first_line, "empty document")
    # start_mark lines are 0-based within the chunk; +first_line makes them 1-based file lines.
    lines: dict[str, int] = {}
    try:
        data = _build(node, "", first_line, lines, {})
    except (_NeedsFullConstructor, ValueError):
        lines = {}
        try:
            data = _Constructor().construct_document(node)
        except yaml.YAMLError as exc:  # e.g. an unhashable key
            return YamlProblem(first_line, str(exc).splitlines()[0])
        _record_lines(node, "", first_line, lines)
    return RawDocument(data, node.start_mark.line + first_line, lines, nbsp_lines)


def parse_stream(text: str) -> list[RawDocument | YamlProblem]:
    return [parse_document(first, chunk) for first, chunk in split_documents(text)]
