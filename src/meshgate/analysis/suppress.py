"""`--suppress CODE=RESOURCE`: drop messages by code and resource, with shell-style wildcards.

RESOURCE is written as printed, `Kind namespace/name` (`Ingress default/cafe-ingress`), or Istio's
`Kind name.namespace`; `*` matches anything: `IST0101=*`, `MG0409=Ingress default/*`, `*=Secret *`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from meshgate.diag import Diagnostic

__all__ = ["Suppression", "SuppressionError", "parse"]


class SuppressionError(ValueError):
    """A malformed --suppress value (a usage error)."""


@dataclass(frozen=True, slots=True)
class Suppression:
    code: str  # glob
    resource: str  # glob

    def matches(self, diagnostic: Diagnostic) -> bool:
        if not fnmatch.fnmatchcase(diagnostic.code, self.code):
            return False
        ref = diagnostic.resource
        if ref is None:
            return self.resource == "*"
        names = (f"{ref.kind} {ref.namespace}/{ref.name}", f"{ref.kind} {ref.name}.{ref.namespace}")
        return any(fnmatch.fnmatchcase(name, self.resource) for name in names)


def parse(text: str) -> Suppression:
    code, sep, resource = text.partition("=")
    code, resource = code.strip(), resource.strip()
    if not sep or not code or not resource:
        raise SuppressionError(
            f"--suppress {text!r}: expected CODE=RESOURCE,"
            " e.g. MG0409='Ingress default/cafe-ingress' or IST0101=*"
        )
    return Suppression(code.upper(), resource)
