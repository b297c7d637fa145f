"""Canonical plain-data form of the IR: for golden files, the admin API, `routes --json` and diffs.

Fields equal to their default are left out so dumps stay short; keys are sorted by the YAML/JSON
writer; private key material is always replaced by "<redacted>" and certificates by a digest.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Any

import yaml

_SECRET_FIELDS = frozenset({"key_pem"})
_DIGEST_FIELDS = frozenset({"cert_pem", "ca_pem"})


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(value):
            item = getattr(value, spec.name)
            if _is_default(spec, item):
                continue
            if spec.name in _SECRET_FIELDS:
                out[spec.name] = "<redacted>"
            elif spec.name in _DIGEST_FIELDS:
                out[spec.name] = f"sha256:{hashlib.sha256(item).hexdigest()[:16]} ({len(item)} bytes)"
            else:
                out[spec.name] = to_plain(item)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(value)} bytes>"
    if isinstance(value, float) and value.is_integer():
        return value  # keep floats as floats: 1.0 stays 1.0 in goldens
    return value


def _is_default(spec: dataclasses.Field[Any], item: Any) -> bool:
    if spec.default is not dataclasses.MISSING:
        return bool(item == spec.default)
    if spec.default_factory is not dataclasses.MISSING:
        return bool(item == spec.default_factory())
    return False


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(value: Any) -> str:
    return yaml.dump(to_plain(value), Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100)
