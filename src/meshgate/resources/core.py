"""Kubernetes core and discovery objects: Service, Endpoints, EndpointSlice, Pod, Secret.

Only the fields routing needs are modelled strictly; the rest of a Pod or status is accepted as is
(objects exported from a cluster carry much more than a gateway reads).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from meshgate.resources.base import Lenient, Model, Resource


class ServicePort(Model):
    name: str = ""
    protocol: str = "TCP"
    app_protocol: str = ""
    port: int
    target_port: int | str | None = None
    node_port: int | None = None


class ServiceSpec(Lenient):
    type: str = "ClusterIP"
    selector: dict[str, str] = Field(default_factory=dict)
    ports: list[ServicePort] = Field(default_factory=list)
    cluster_ip: str = Field(default="", alias="clusterIP")
    external_name: str = ""


class Service(Resource):
    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    KIND: ClassVar[str] = "Service"
    spec: ServiceSpec = Field(default_factory=ServiceSpec)


class ObjectReference(Lenient):
    kind: str = ""
    name: str = ""
    namespace: str = ""


class EndpointAddress(Lenient):
    ip: str
    hostname: str = ""
    node_name: str = ""
    target_ref: ObjectReference | None = None


class EndpointPort(Lenient):
    name: str = ""
    port: int
    protocol: str = "TCP"
    app_protocol: str = ""


class EndpointSubset(Model):
    addresses: list[EndpointAddress] = Field(default_factory=list)
    not_ready_addresses: list[EndpointAddress] = Field(default_factory=list)
    ports: list[EndpointPort] = Field(default_factory=list)


class Endpoints(Resource):
    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    KIND: ClassVar[str] = "Endpoints"
    subsets: list[EndpointSubset] = Field(default_factory=list)


class EndpointConditions(Lenient):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class SliceEndpoint(Lenient):
    addresses: list[str] = Field(default_factory=list)
    conditions: EndpointConditions = Field(default_factory=EndpointConditions)
    hostname: str = ""
    target_ref: ObjectReference | None = None
    node_name: str = ""
    zone: str = ""


class SlicePort(Lenient):
    name: str = ""
    port: int | None = None
    protocol: str = "TCP"
    app_protocol: str = ""


class EndpointSlice(Resource):
    API_GROUP: ClassVar[str] = "discovery.k8s.io"
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1", "v1beta1")
    KIND: ClassVar[str] = "EndpointSlice"
    address_type: str = "IPv4"
    endpoints: list[SliceEndpoint] = Field(default_factory=list)
    ports: list[SlicePort] = Field(default_factory=list)

    @property
    def service_name(self) -> str:
        return self.metadata.labels.get("kubernetes.io/service-name", "")


class PodStatus(Lenient):
    pod_ip: str = Field(default="", alias="podIP")
    phase: str = ""
    conditions: list[dict[str, Any]] = Field(default_factory=list)


class Pod(Resource):
    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    KIND: ClassVar[str] = "Pod"
    spec: dict[str, Any] = Field(default_factory=dict)
    status: PodStatus | None = None  # type: ignore[assignment]


class Secret(Resource):
    """A Secret. `data` values are base64 (as Kubernetes stores them); `stringData` is plain text.

    Values never appear in dumps, logs or the admin API (see `redacted()`).
    """

    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    KIND: ClassVar[str] = "Secret"
    type: str = "Opaque"
    data: dict[str, str] = Field(default_factory=dict)
    string_data: dict[str, str] = Field(default_factory=dict)
    immutable: bool | None = None

    def __repr_args__(self) -> Any:
        # Never let a secret value reach a repr (logs, tracebacks, pytest output).
        for key, value in super().__repr_args__():
            if key in ("data", "string_data"):
                yield key, {name: "<redacted>" for name in (value or {})}
            else:
                yield key, value


class ConfigMap(Resource):
    API_GROUP: ClassVar[str] = ""
    API_VERSIONS: ClassVar[tuple[str, ...]] = ("v1",)
    KIND: ClassVar[str] = "ConfigMap"
    data: dict[str, str] = Field(default_factory=dict)
    binary_data: dict[str, str] = Field(default_factory=dict)
