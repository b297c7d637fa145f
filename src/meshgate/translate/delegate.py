"""Delegate VirtualServices (istio-semantics sec. 3.17): a root rule with `delegate` is replaced by the
delegate's rules, in their order, with matches merged and unset fields inherited from the root rule.

Expansion happens once per root VirtualService, before routes are built; each expanded rule remembers
the VirtualService and field path it came from, so diagnostics and `explain` point at the delegate's
own file and line. Delegate destinations keep the delegate's namespace for short names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from meshgate.diag import Diagnostic, make
from meshgate.resources.istio import HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService
from meshgate.translate.binding import export_group

# Root rule fields a delegate rule inherits when it does not set them itself.
INHERITED = (
    "rewrite",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirrors",
    "mirror_percent",
    "mirror_percentage",
    "cors_policy",
    "headers",
)
_STRING_FIELDS = ("uri", "scheme", "method", "authority")
_KEYED_FIELDS = ("headers", "without_headers", "query_params")


@dataclass(frozen=True, slots=True)
class RuleSource:
    rule: HTTPRoute
    owner: VirtualService  # whose namespace resolves short names, whose file:line diagnostics use
    at: str  # field path of the rule inside `owner`


DelegateLookup = Callable[[str, str], VirtualService | None]


def expand_rules(
    vs: VirtualService, lookup: DelegateLookup, diagnostics: list[Diagnostic]
) -> list[RuleSource]:
    out: list[RuleSource] = []
    for index, rule in enumerate(vs.spec.http):
        at = f"spec.http[{index}]"
        if rule.delegate is None:
            out.append(RuleSource(rule, vs, at))
            continue
        namespace = rule.delegate.namespace or vs.namespace
        delegate = lookup(namespace, rule.delegate.name)
        reason = _unusable(delegate, vs.namespace)
        if delegate is None or reason:
            diagnostics.append(
                make(
                    "MG0105",
                    origin=vs.origin_of(f"{at}.delegate"),
                    resource=vs.ref,
                    field_path=f"{at}.delegate",
                    route=rule.name or at,
                    reason=reason or f"delegate VirtualService {namespace}/{rule.delegate.name} not found",
                    fix="Create the delegate (no hosts, no gateways) and export it to this namespace.",
                )
            )
            continue
        for j, child in enumerate(delegate.spec.http):
            child_at = f"spec.http[{j}]"
            if child.delegate is not None:
                diagnostics.append(_dropped(delegate, child_at, child, "a delegate may not delegate again"))
                continue
            merged = merge_rule(rule, child)
            if merged is None:
                diagnostics.append(
                    _dropped(
                        delegate,
                        child_at,
                        child,
                        f"its matches conflict with the root rule {vs.namespace}/{vs.name} {at}",
                    )
                )
                continue
            out.append(RuleSource(merged, delegate, child_at))
    return out


def _unusable(delegate: VirtualService | None, root_namespace: str) -> str:
    if delegate is None:
        return ""
    if delegate.spec.hosts or delegate.spec.gateways:
        return f"{delegate.namespace}/{delegate.name} has hosts or gateways, so it is not a delegate"
    if export_group(delegate.spec.export_to, delegate.namespace, root_namespace) is None:
        return f"{delegate.namespace}/{delegate.name} is not exported to namespace {root_namespace}"
    return ""


def _dropped(delegate: VirtualService, at: str, rule: HTTPRoute, reason: str) -> Diagnostic:
    return make(
        "MG0105",
        origin=delegate.origin_of(at),
        resource=delegate.ref,
        field_path=at,
        route=rule.name or at,
        reason=reason,
        fix="Make the delegate's matches narrow the root's.",
    )


def merge_rule(root: HTTPRoute, child: HTTPRoute) -> HTTPRoute | None:
    """The child rule with merged matches and inherited fields, or None when a child match fits no
    root match (Istio then drops the whole delegate rule)."""
    matches = _merge_matches(root.match, child.match)
    if matches is None:
        return None
    update: dict[str, object] = {"match": matches, "name": "-".join(n for n in (root.name, child.name) if n)}
    for name in INHERITED:
        if getattr(child, name) in (None, [], {}):
            update[name] = getattr(root, name)
    return child.model_copy(update=update)


def _merge_matches(
    roots: list[HTTPMatchRequest], children: list[HTTPMatchRequest]
) -> list[HTTPMatchRequest] | None:
    if not roots:
        return list(children)
    if not children:
        return list(roots)
    merged: list[HTTPMatchRequest] = []
    for child in children:
        fits = [_merge_one(root, child) for root in roots if not _conflict(root, child)]
        if not fits:
            return None
        merged.extend(fits)
    return merged


def _merge_one(root: HTTPMatchRequest, child: HTTPMatchRequest) -> HTTPMatchRequest:
    update: dict[str, object] = {}
    for name in (*_STRING_FIELDS, "port", "source_namespace"):
        if getattr(child, name) is None or getattr(child, name) == "":
            update[name] = getattr(root, name)
    for name in (*_KEYED_FIELDS, "source_labels"):
        update[name] = {**getattr(root, name), **getattr(child, name)}  # delegate keys win
    if not child.gateways:
        update["gateways"] = root.gateways
    update["name"] = "-".join(n for n in (root.name, child.name) if n)
    update["ignore_uri_case"] = root.ignore_uri_case or child.ignore_uri_case
    return child.model_copy(update=update)


def _conflict(root: HTTPMatchRequest, child: HTTPMatchRequest) -> bool:
    if root.ignore_uri_case != child.ignore_uri_case and (root.uri and child.uri):
        return True
    if root.port is not None and child.port is not None and root.port != child.port:
        return True
    if root.source_namespace and child.source_namespace and root.source_namespace != child.source_namespace:
        return True
    if any(root.source_labels.get(k, v) != v for k, v in child.source_labels.items()):
        return True
    if root.gateways and child.gateways and not set(child.gateways) <= set(root.gateways):
        return True
    for name in _STRING_FIELDS:
        if _string_conflict(getattr(root, name), getattr(child, name)):
            return True
    for name in _KEYED_FIELDS:
        r, c = getattr(root, name), getattr(child, name)
        if any(_string_conflict(r[k], c[k]) for k in set(r) & set(c)):
            return True
    return False


def _string_conflict(root: StringMatch | None, child: StringMatch | None) -> bool:
    """sec. 3.17.5: unset on either side is fine; a regex on either side conflicts; root exact needs the
    same exact; root prefix needs a child prefix or exact that starts with it."""
    if root is None or child is None:
        return False
    if root.regex is not None or child.regex is not None:
        return True
    if root.exact is not None:
        return child.exact != root.exact
    if root.prefix is not None:
        value = child.exact if child.exact is not None else child.prefix
        return value is None or not value.startswith(root.prefix)
    return False
