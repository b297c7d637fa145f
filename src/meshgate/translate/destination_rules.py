"""DestinationRules as the gateway sees them (pure): lookup, merging and effective policy (sec 6.1-6.2).

Lookup for a service, gateway pod namespace P, root namespace R (meshgate: R = P = options.namespace):
  1. DRs of P visible in P (when P == R: only R's DRs exported solely to R or `.`);
  2. DRs of the service's namespace exported to P;
  3. DRs of R exported to P.
The first step with a host match wins. Inside a step the most specific host is chosen first (exact,
then the longest covering wildcard) and only then are its DRs filtered by exportTo, as istiod does: a
more specific DR hidden from P hides less specific ones of the same step.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from meshgate import hostnames
from meshgate.diag import Diagnostic, make
from meshgate.resources import istio
from meshgate.resources.bundle import ResourceBundle
from meshgate.translate.naming import resolve_short_name
from meshgate.translate.options import TranslateOptions
from meshgate.translate.traffic_policy import (
    CredentialProblem,
    Credentials,
    EffectivePolicy,
    Problem,
    validate_policy,
)

PolicyLike = istio.TrafficPolicy | istio.PortTrafficPolicy


@dataclass(frozen=True, slots=True)
class SubsetRef:
    subset: istio.Subset
    owner: istio.DestinationRule
    path: str  # "spec.subsets[1]" in `owner`


@dataclass(frozen=True, slots=True)
class MergedRule:
    """All DRs of one namespace for one host that apply to the gateway, merged (sec 6.1.3)."""

    host: str
    namespace: str
    rules: tuple[istio.DestinationRule, ...]
    traffic_policy: istio.TrafficPolicy | None
    subsets: tuple[SubsetRef, ...]

    def subset(self, name: str) -> SubsetRef | None:
        return next((ref for ref in self.subsets if ref.subset.name == name), None)


@dataclass(frozen=True, slots=True)
class _Rule:
    resource: istio.DestinationRule
    host: str
    export_to: frozenset[str]
    selector: Mapping[str, str] | None

    @property
    def private_only(self) -> bool:
        export = self.export_to
        return len(export) == 1 and ("." in export or self.resource.namespace in export)

    def visible_to(self, namespace: str) -> bool:
        export = self.export_to
        if not export or "*" in export or namespace in export:
            return True
        return "." in export and self.resource.namespace == namespace


Bucket = dict[str, list[_Rule]]  # host → rules in processing order


def _most_specific(host: str, keys: Iterable[str]) -> str | None:
    keys = list(keys)
    if host in keys:
        return host
    best: str | None = None
    for key in keys:
        if (
            hostnames.is_wildcard(key)
            and hostnames.covers(key, host)
            and (best is None or len(key) > len(best))
        ):
            best = key
    return best


def _match_labels(selector: Mapping[str, object] | None) -> dict[str, str] | None:
    if selector is None:
        return None
    raw = selector.get("matchLabels")
    if not isinstance(raw, Mapping):
        return {}
    return {str(key): str(value) for key, value in raw.items()}


@dataclass(slots=True)
class DestinationRuleIndex:
    namespace: str  # gateway pod namespace P
    root_namespace: str  # R
    first: Bucket
    exported: dict[str, Bucket]
    all_rules: tuple[_Rule, ...]
    _notes: dict[tuple[str, str, str], Diagnostic] = field(default_factory=dict)
    _cache: dict[tuple[str, str], MergedRule | None] = field(default_factory=dict)

    @classmethod
    def build(
        cls, bundle: ResourceBundle, options: TranslateOptions, credentials: Credentials
    ) -> tuple[DestinationRuleIndex, list[Diagnostic]]:
        gateway_ns = root_ns = options.namespace
        diagnostics: list[Diagnostic] = []
        rules: list[_Rule] = []
        for dr in bundle.of(istio.DestinationRule):
            problems = validate_destination_rule(dr)
            diagnostics.extend(_problem_diagnostic(dr, problem) for problem in problems)
            if any(problem.error for problem in problems):
                continue  # Istio's validation would reject the whole object
            diagnostics.extend(_credential_diagnostics(dr, credentials))
            selector = _match_labels(dr.spec.workload_selector)
            export = frozenset({"."}) if selector is not None else frozenset(dr.spec.export_to)
            host = resolve_short_name(dr.spec.host, dr.namespace, options.domain_suffix)
            rules.append(_Rule(dr, host, export, selector))
        # DRs with a workloadSelector are processed first, then by creation (the bundle's order).
        rules.sort(key=lambda rule: rule.selector is None)
        first: Bucket = {}
        exported: dict[str, Bucket] = {}
        for rule in rules:
            ns = rule.resource.namespace
            if rule.selector is not None:
                # Applies only to the workloads it selects in its own namespace; never exported.
                if ns == gateway_ns and options.selects(dict(rule.selector)):
                    first.setdefault(rule.host, []).append(rule)
                continue
            if gateway_ns == root_ns:
                if ns == root_ns and rule.private_only:
                    first.setdefault(rule.host, []).append(rule)
            elif ns == gateway_ns and rule.visible_to(gateway_ns):
                first.setdefault(rule.host, []).append(rule)
            if not rule.private_only:
                exported.setdefault(ns, {}).setdefault(rule.host, []).append(rule)
        return cls(gateway_ns, root_ns, first, exported, tuple(rules)), diagnostics

    def lookup(self, host: str, service_namespace: str) -> MergedRule | None:
        key = (host, service_namespace)
        if key not in self._cache:
            self._cache[key] = self._lookup(host, service_namespace)
        return self._cache[key]

    def _lookup(self, host: str, service_namespace: str) -> MergedRule | None:
        match = _most_specific(host, self.first)
        if match is not None:
            return self._merge(match, self.first[match])
        for owner in (service_namespace, self.root_namespace):
            bucket = self.exported.get(owner, {})
            match = _most_specific(host, bucket)
            if match is None:
                continue
            visible = [rule for rule in bucket[match] if rule.visible_to(self.namespace)]
            if visible:
                return self._merge(match, visible)
        return None

    def _merge(self, host: str, rules: list[_Rule]) -> MergedRule:
        """Subsets unioned by name (first wins); the first non-empty top-level trafficPolicy wins."""
        policy: istio.TrafficPolicy | None = None
        policy_owner: istio.DestinationRule | None = None
        subsets: dict[str, SubsetRef] = {}
        for rule in rules:
            dr = rule.resource
            candidate = dr.spec.traffic_policy
            if candidate is not None and candidate.model_dump(exclude_defaults=True):
                if policy_owner is None:
                    policy, policy_owner = candidate, dr
                else:
                    self._note(
                        make(
                            "MG0114",
                            origin=dr.origin_of("spec.trafficPolicy"),
                            resource=dr.ref,
                            field_path="spec.trafficPolicy",
                            host=host,
                            other=policy_owner.ref,
                        )
                    )
            for index, subset in enumerate(dr.spec.subsets):
                path = f"spec.subsets[{index}]"
                if subset.name in subsets:
                    self._note(
                        make(
                            "MG0113",
                            origin=dr.origin_of(path),
                            resource=dr.ref,
                            field_path=path,
                            subset=subset.name,
                            host=host,
                            other=subsets[subset.name].owner.ref,
                        )
                    )
                else:
                    subsets[subset.name] = SubsetRef(subset, dr, path)
        namespace = rules[0].resource.namespace
        drs = tuple(rule.resource for rule in rules)
        return MergedRule(host, namespace, drs, policy, tuple(subsets.values()))

    def _note(self, diagnostic: Diagnostic) -> None:
        key = (diagnostic.code, str(diagnostic.resource), diagnostic.field_path)
        self._notes.setdefault(key, diagnostic)

    def notes(self) -> list[Diagnostic]:
        """Merge notes (shadowed policies, duplicate subsets) found by the lookups made so far."""
        return list(self._notes.values())

    def unknown_host_diagnostics(self, service_hosts: Collection[str]) -> list[Diagnostic]:
        """IST0174 for every valid DR whose host can apply to no registry service."""
        out: list[Diagnostic] = []
        for rule in self.all_rules:
            if rule.host in service_hosts:
                continue
            if hostnames.is_wildcard(rule.host) and any(
                hostnames.covers(rule.host, host) for host in service_hosts
            ):
                continue
            dr = rule.resource
            out.append(
                make(
                    "IST0174",
                    origin=dr.origin_of("spec.host"),
                    resource=dr.ref,
                    field_path="spec.host",
                    host=rule.host,
                )
            )
        return out


def effective_policy(rule: MergedRule | None, port: int, subset: str = "") -> EffectivePolicy:
    """Sec 6.2.3: DR port-level settings replace the four top-level fields wholesale; the subset policy
    overlays field by field; the subset's port-level settings replace all four again."""
    if rule is None or (rule.traffic_policy is None and not subset):
        return EffectivePolicy()
    top = rule.traffic_policy
    policy = EffectivePolicy()
    if top is not None:
        level = _port_level(top, port)
        policy = _fields(level if level is not None else top)
    ref = rule.subset(subset) if subset else None
    own = ref.subset.traffic_policy if ref is not None else None
    if own is None:
        return policy
    policy = EffectivePolicy(
        own.load_balancer if own.load_balancer is not None else policy.load_balancer,
        own.connection_pool if own.connection_pool is not None else policy.connection_pool,
        own.outlier_detection if own.outlier_detection is not None else policy.outlier_detection,
        own.tls if own.tls is not None else policy.tls,
    )
    level = _port_level(own, port)
    return _fields(level) if level is not None else policy


def _port_level(policy: istio.TrafficPolicy, port: int) -> istio.PortTrafficPolicy | None:
    for level in policy.port_level_settings:
        if level.port is not None and level.port.number == port:
            return level
    return None


def _fields(policy: PolicyLike) -> EffectivePolicy:
    return EffectivePolicy(policy.load_balancer, policy.connection_pool, policy.outlier_detection, policy.tls)


# --- validation and diagnostics ------------------------------------------------------------------


def _policies(dr: istio.DestinationRule) -> list[tuple[str, istio.TrafficPolicy]]:
    out: list[tuple[str, istio.TrafficPolicy]] = []
    if dr.spec.traffic_policy is not None:
        out.append(("spec.trafficPolicy", dr.spec.traffic_policy))
    for index, subset in enumerate(dr.spec.subsets):
        if subset.traffic_policy is not None:
            out.append((f"spec.subsets[{index}].trafficPolicy", subset.traffic_policy))
    return out


def validate_destination_rule(dr: istio.DestinationRule) -> list[Problem]:
    problems: list[Problem] = []
    if not dr.spec.host:
        problems.append(Problem("spec.host", "a host is required"))
    names: set[str] = set()
    for index, subset in enumerate(dr.spec.subsets):
        if not subset.name:
            problems.append(Problem(f"spec.subsets[{index}].name", "a subset name is required"))
        elif subset.name in names:
            problems.append(Problem(f"spec.subsets[{index}].name", f"subset {subset.name} is defined twice"))
        names.add(subset.name)
    for path, policy in _policies(dr):
        problems.extend(validate_policy(policy, path))
    return problems


def _problem_diagnostic(dr: istio.DestinationRule, problem: Problem) -> Diagnostic:
    if problem.error:
        return make(
            "IST0106",
            origin=dr.origin_of(problem.path),
            resource=dr.ref,
            field_path=problem.path,
            field=problem.path,
            reason=problem.reason,
        )
    return make(
        "IST0133",
        origin=dr.origin_of(problem.path),
        resource=dr.ref,
        field_path=problem.path,
        field=problem.path,
        reason=problem.reason,
        fix="Remove or change the field.",
    )


def _credential_diagnostics(dr: istio.DestinationRule, credentials: Credentials) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for path, policy in _policies(dr):
        levels: list[tuple[str, PolicyLike]] = [(path, policy)]
        levels += [(f"{path}.portLevelSettings[{i}]", p) for i, p in enumerate(policy.port_level_settings)]
        for where, level in levels:
            tls = level.tls
            if tls is None or not tls.credential_name or tls.mode not in ("SIMPLE", "MUTUAL"):
                continue
            found = credentials.resolve(tls.credential_name, need_key=tls.mode == "MUTUAL")
            if isinstance(found, CredentialProblem):
                out.append(_credential_diagnostic(dr, f"{where}.tls.credentialName", found, credentials))
    return out


def _credential_diagnostic(
    dr: istio.DestinationRule, path: str, problem: CredentialProblem, credentials: Credentials
) -> Diagnostic:
    origin = dr.origin_of(path)
    if problem.code == "IST0101":
        fix = (
            f"Create the Secret in namespace {credentials.namespace} (the gateway's namespace) with keys "
            "cert/key/cacert or tls.crt/tls.key/ca.crt, or correct credentialName."
        )
        return make(
            "IST0101",
            origin=origin,
            resource=dr.ref,
            field_path=path,
            what="Secret",
            name=problem.secret,
            detail=" (upstream credentialName Secrets are read from the gateway namespace)",
            fix=fix,
        )
    return make(
        "IST0161",
        origin=origin,
        resource=dr.ref,
        field_path=path,
        name=problem.secret,
        reason=problem.reason,
        fix="Put the client certificate and key under cert/key (or tls.crt/tls.key).",
    )
