"""Istio networking.istio.io objects (v1alpha3, v1beta1 and v1 share one schema)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from meshgate.resources.base import Duration, Model, Resource

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1alpha3", "v1beta1", "v1")


# --- Gateway ---------------------------------------------------------------------------------


class Port(Model):
    number: int | None = None
    protocol: str = ""
    name: str = ""
    target_port: int | None = None


class ServerTLSSettings(Model):
    https_redirect: bool = False
    # The proto's zero value is PASSTHROUGH: a `tls` block without `mode` is passthrough.
    mode: str | None = None
    server_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    ca_crl: str = ""
    credential_name: str = ""
    credential_names: list[str] = Field(default_factory=list)
    ca_cert_credential_name: str = ""
    tls_certificates: list[dict[str, str]] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)
    verify_certificate_spki: list[str] = Field(default_factory=list)
    verify_certificate_hash: list[str] = Field(default_factory=list)
    min_protocol_version: str = ""
    max_protocol_version: str = ""
    cipher_suites: list[str] = Field(default_factory=list)
    ecdh_curves: list[str] = Field(default_factory=list)
    insecure_skip_verify: bool | None = None


class Server(Model):
    port: Port
    bind: str = ""
    hosts: list[str] = Field(default_factory=list)
    tls: ServerTLSSettings | None = None
    default_endpoint: str = ""
    name: str = ""


class GatewaySpec(Model):
    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[Server] = Field(default_factory=list)


class Gateway(Resource):
    API_GROUP: ClassVar[str] = ISTIO_GROUP
    API_VERSIONS: ClassVar[tuple[str, ...]] = ISTIO_VERSIONS
    KIND: ClassVar[str] = "Gateway"
    spec: GatewaySpec = Field(default_factory=GatewaySpec)


# --- VirtualService --------------------------------------------------------------------------


class StringMatch(Model):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class HTTPMatchRequest(Model):
    name: str = ""
    uri: StringMatch | None = None
    scheme: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    port: int | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    query_params: dict[str, StringMatch] = Field(default_factory=dict)
    ignore_uri_case: bool = False
    without_headers: dict[str, StringMatch] = Field(default_factory=dict)
    source_namespace: str = ""
    stat_prefix: str = ""


class PortSelector(Model):
    number: int | None = None


class Destination(Model):
    host: str
    subset: str = ""
    port: PortSelector | None = None


class HeaderOperations(Model):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(Model):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(Model):
    destination: Destination
    weight: int | None = None
    headers: Headers | None = None


class HTTPRedirect(Model):
    uri: str | None = None
    authority: str | None = None
    port: int | None = None
    derive_port: str | None = None
    scheme: str | None = None
    redirect_code: int | None = None
    prefix_rewrite: str | None = None


class HTTPBody(Model):
    string: str | None = None
    bytes: str | None = None  # base64 in YAML


class HTTPDirectResponse(Model):
    status: int
    body: HTTPBody | None = None


class RegexRewrite(Model):
    match: str = ""
    rewrite: str = ""


class HTTPRewrite(Model):
    uri: str | None = None
    authority: str | None = None
    uri_regex_rewrite: RegexRewrite | None = None


class HTTPRetry(Model):
    attempts: int = 0
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_remote_localities: bool | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: Duration | None = None


class Percent(Model):
    value: float = 0.0


class FaultDelay(Model):
    fixed_delay: Duration | None = None
    exponential_delay: Duration | None = None
    percentage: Percent | None = None
    percent: int | None = None  # deprecated integer form


class FaultAbort(Model):
    http_status: int | None = None
    grpc_status: str | None = None
    http2_error: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(Model):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None


class HTTPMirrorPolicy(Model):
    destination: Destination
    percentage: Percent | None = None


class CorsPolicy(Model):
    allow_origins: list[StringMatch] = Field(default_factory=list)
    allow_origin: list[str] = Field(default_factory=list)
    allow_methods: list[str] = Field(default_factory=list)
    allow_headers: list[str] = Field(default_factory=list)
    expose_headers: list[str] = Field(default_factory=list)
    max_age: Duration | None = None
    allow_credentials: bool | None = None
    unmatched_preflights: str | None = None


class Delegate(Model):
    name: str
    namespace: str = ""


class HTTPRoute(Model):
    name: str = ""
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    redirect: HTTPRedirect | None = None
    direct_response: HTTPDirectResponse | None = None
    delegate: Delegate | None = None
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    mirror: Destination | None = None
    mirrors: list[HTTPMirrorPolicy] = Field(default_factory=list)
    mirror_percent: int | None = None
    mirror_percentage: Percent | None = None
    cors_policy: CorsPolicy | None = None
    headers: Headers | None = None


class L4MatchAttributes(Model):
    destination_subnets: list[str] = Field(default_factory=list)
    port: int | None = None
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    source_namespace: str = ""


class TLSMatchAttributes(L4MatchAttributes):
    sni_hosts: list[str] = Field(default_factory=list)


class RouteDestination(Model):
    destination: Destination
    weight: int | None = None


class TLSRoute(Model):
    match: list[TLSMatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)


class TCPRoute(Model):
    match: list[L4MatchAttributes] = Field(default_factory=list)
    route: list[RouteDestination] = Field(default_factory=list)


class VirtualServiceSpec(Model):
    hosts: list[str] = Field(default_factory=list)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)
    tls: list[TLSRoute] = Field(default_factory=list)
    tcp: list[TCPRoute] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)


class VirtualService(Resource):
    API_GROUP: ClassVar[str] = ISTIO_GROUP
    API_VERSIONS: ClassVar[tuple[str, ...]] = ISTIO_VERSIONS
    KIND: ClassVar[str] = "VirtualService"
    spec: VirtualServiceSpec = Field(default_factory=VirtualServiceSpec)


# --- DestinationRule -------------------------------------------------------------------------


class ConsistentHashCookie(Model):
    name: str
    path: str = ""
    ttl: Duration | None = None
    attributes: list[dict[str, Any]] = Field(default_factory=list)


class ConsistentHash(Model):
    http_header_name: str | None = None
    http_cookie: ConsistentHashCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: dict[str, Any] | None = None
    maglev: dict[str, Any] | None = None
    minimum_ring_size: int | None = None


class LoadBalancerSettings(Model):
    simple: str | None = None
    consistent_hash: ConsistentHash | None = None
    locality_lb_setting: dict[str, Any] | None = None
    warmup_duration_secs: Duration | None = None
    warmup: dict[str, Any] | None = None


class TCPSettings(Model):
    max_connections: int | None = None
    connect_timeout: Duration | None = None
    tcp_keepalive: dict[str, Any] | None = None
    max_connection_duration: Duration | None = None
    idle_timeout: Duration | None = None


class HTTPSettings(Model):
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_retries: int | None = None
    idle_timeout: Duration | None = None
    h2_upgrade_policy: str | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: int | None = None


class ConnectionPoolSettings(Model):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(Model):
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: int | None = None
    consecutive_gateway_errors: int | None = None
    consecutive_5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors")
    consecutive_errors: int | None = None  # deprecated
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int | None = None


class ClientTLSSettings(Model):
    mode: str = "DISABLE"
    client_certificate: str = ""
    private_key: str = ""
    ca_certificates: str = ""
    ca_crl: str = ""
    credential_name: str = ""
    subject_alt_names: list[str] = Field(default_factory=list)
    sni: str = ""
    insecure_skip_verify: bool | None = None


class PortTrafficPolicy(Model):
    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TrafficPolicy(Model):
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)
    tunnel: dict[str, Any] | None = None
    proxy_protocol: dict[str, Any] | None = None
    retry_budget: dict[str, Any] | None = None


class Subset(Model):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(Model):
    host: str = ""
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)
    export_to: list[str] = Field(default_factory=list)
    workload_selector: dict[str, Any] | None = None


class DestinationRule(Resource):
    API_GROUP: ClassVar[str] = ISTIO_GROUP
    API_VERSIONS: ClassVar[tuple[str, ...]] = ISTIO_VERSIONS
    KIND: ClassVar[str] = "DestinationRule"
    spec: DestinationRuleSpec = Field(default_factory=DestinationRuleSpec)


# --- ServiceEntry / WorkloadEntry ------------------------------------------------------------


class WorkloadEntrySpec(Model):
    address: str = ""
    ports: dict[str, int] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    network: str = ""
    locality: str = ""
    weight: int | None = None
    service_account: str = ""


class ServicePort(Model):
    number: int
    protocol: str = ""
    name: str = ""
    target_port: int | None = None


class ServiceEntrySpec(Model):
    hosts: list[str] = Field(default_factory=list)
    addresses: list[str] = Field(default_factory=list)
    ports: list[ServicePort] = Field(default_factory=list)
    location: str = "MESH_EXTERNAL"
    resolution: str = "NONE"
    endpoints: list[WorkloadEntrySpec] = Field(default_factory=list)
    workload_selector: dict[str, Any] | None = None
    export_to: list[str] = Field(default_factory=list)
    subject_alt_names: list[str] = Field(default_factory=list)


class ServiceEntry(Resource):
    API_GROUP: ClassVar[str] = ISTIO_GROUP
    API_VERSIONS: ClassVar[tuple[str, ...]] = ISTIO_VERSIONS
    KIND: ClassVar[str] = "ServiceEntry"
    spec: ServiceEntrySpec = Field(default_factory=ServiceEntrySpec)


class WorkloadEntry(Resource):
    API_GROUP: ClassVar[str] = ISTIO_GROUP
    API_VERSIONS: ClassVar[tuple[str, ...]] = ISTIO_VERSIONS
    KIND: ClassVar[str] = "WorkloadEntry"
    spec: WorkloadEntrySpec = Field(default_factory=WorkloadEntrySpec)
