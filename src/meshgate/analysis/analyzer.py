"""The analyzer contract and the read-only context every analyzer gets.

An analyzer has a unique `name` ("area.Name"), a one-line `description`, the `inputs` (resource
kinds) it reads and the catalog `codes` it may emit; `analyze(context)` yields diagnostics and never
changes anything. Analyzers whose input kinds are all absent are skipped (Istio's RelevantSubset).

`Context` is built once per run from what loading and translation already produced. Everything
expensive that several analyzers need (the bundle with the Ingress-generated objects, the server
plans, the routes of every virtual host) is a cached property, computed on first use with the same
`meshgate.translate` helpers translation uses, so analysis never re-implements translation.
"""

from __future__ import annotations

import abc
import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from meshgate import ir
from meshgate.diag import Diagnostic
from meshgate.resources.base import Resource
from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.istio import Gateway, VirtualService
from meshgate.translate import TranslateOptions, Translation
from meshgate.translate.ingress import IngressConversion, convert_ingresses
from meshgate.translate.servers import ServerPlan, plan_servers, selected_gateways

__all__ = ["Analyzer", "Context", "RouteSlot", "Settings"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Settings:
    """Analysis options. `now` is injectable so certificate checks are testable."""

    cert_warn_days: int = 30
    now: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))


@dataclass(frozen=True, slots=True)
class RouteSlot:
    """One route in the order a virtual host evaluates them, with where that vhost lives."""

    route_table: str
    vhost: ir.VirtualHost
    index: int
    route: ir.Route


class Context:
    """Read-only inputs of one analysis run (see the module doc)."""

    def __init__(
        self,
        bundle: ResourceBundle,
        translation: Translation,
        options: TranslateOptions | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.bundle = bundle
        self.translation = translation
        self.options = options or TranslateOptions()
        self.settings = settings or Settings()
        self._memo: dict[str, Any] = {}

    def shared(self, key: str, factory: Callable[[Context], T]) -> T:
        """A value several analyzers need (shadowing, certificates), built once per run."""
        if key not in self._memo:
            self._memo[key] = factory(self)
        value: T = self._memo[key]
        return value

    # --- objects -----------------------------------------------------------------------------------

    @cached_property
    def conversion(self) -> IngressConversion:
        return convert_ingresses(self.bundle, self.options)

    @cached_property
    def full_bundle(self) -> ResourceBundle:
        """The loaded objects plus the Gateways and VirtualServices generated from Ingresses."""
        generated = (*self.conversion.gateways, *self.conversion.virtual_services)
        return ResourceBundle.build((*self.bundle.resources, *generated))

    @cached_property
    def kinds(self) -> frozenset[str]:
        return frozenset(r.kind for r in self.bundle.resources)

    def is_generated(self, kind: str, namespace: str, name: str) -> bool:
        """Whether the object was generated from an Ingress (not written by the user)."""
        if kind == "VirtualService":
            return (namespace, name) in self.conversion.ingress_semantics
        if kind == "Gateway":
            return any(g.namespace == namespace and g.name == name for g in self.conversion.gateways)
        return False

    @cached_property
    def virtual_services(self) -> tuple[VirtualService, ...]:
        """User-written VirtualServices, in Istio's creation order."""
        return tuple(sorted(self.bundle.of(VirtualService), key=lambda v: v.creation_key()))

    @cached_property
    def resources_by_ref(self) -> dict[tuple[str, str, str], Resource]:
        return {(r.kind, r.namespace, r.name): r for r in self.full_bundle.resources}

    def resource(self, source: ir.Source) -> Resource | None:
        return self.resources_by_ref.get((source.kind, source.namespace, source.name))

    # --- gateways --------------------------------------------------------------------------------

    @cached_property
    def selected_gateways(self) -> tuple[Gateway, ...]:
        """Gateways (user-written and generated) whose selector matches this gateway workload."""
        chosen, _ = selected_gateways(self.full_bundle, self.options)
        return tuple(chosen)

    @cached_property
    def plans(self) -> tuple[ServerPlan, ...]:
        """Servers that are served (after Istio's conflict rules), in merge order. Their notes were
        already reported by translation."""
        plans, _ = plan_servers(self.full_bundle, self.options)
        return tuple(plans)

    # --- routes ------------------------------------------------------------------------------------

    @cached_property
    def http_vhosts(self) -> tuple[tuple[str, ir.VirtualHost], ...]:
        """(route table, vhost) for every HTTP virtual host of the translated config."""
        out: list[tuple[str, ir.VirtualHost]] = []
        for listener in self.translation.config.listeners:
            for chain in listener.chains:
                if isinstance(chain.handler, ir.HttpHandler):
                    out.extend((chain.handler.route_table, vhost) for vhost in chain.handler.virtual_hosts)
        return tuple(out)

    def route_slots(self) -> Iterator[RouteSlot]:
        for table, vhost in self.http_vhosts:
            for index, route in enumerate(vhost.routes):
                yield RouteSlot(table, vhost, index, route)


class Analyzer(abc.ABC):
    """Base of every analyzer; subclasses set the class attributes and implement `analyze`."""

    name: ClassVar[str]  # "area.Name", unique
    description: ClassVar[str]  # one line
    inputs: ClassVar[tuple[str, ...]]  # resource kinds read
    codes: ClassVar[tuple[str, ...]]  # catalog codes it may emit

    @abc.abstractmethod
    def analyze(self, context: Context) -> Iterable[Diagnostic]:
        """Diagnostics about the context; must not modify anything it reads."""

    def relevant(self, context: Context) -> bool:
        return any(kind in context.kinds for kind in self.inputs)
