"""IR types. Read top-down: Config → Listener → FilterChain → VirtualHost → Route → Cluster.

Theory of operation
-------------------
A `Listener` is one port (and bind address) of the gateway. It holds `FilterChain`s: a plaintext
port has one chain; a TLS port has one chain per server, chosen by SNI (`server_names`, empty = any
name). A chain either terminates HTTP (`HttpHandler` with its own virtual hosts: a request can only
reach the hosts of the chain its connection matched) or proxies bytes (`TcpProxy`, for TLS
passthrough and TCP). Routes are ordered; the first whose `RouteMatch` holds decides. Clusters are
named like Istio's (`outbound|PORT|SUBSET|FQDN`) and referenced by name; a route naming a cluster
that is absent from `Config.clusters` answers 503 `NC` at request time, exactly like Envoy.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "NO_RETRIES",
    "Cluster",
    "Config",
    "ConnectionPool",
    "CorsPolicy",
    "DirectResponse",
    "Endpoint",
    "FaultPolicy",
    "FilterChain",
    "Forward",
    "HashPolicy",
    "HeaderEdits",
    "HeaderMatch",
    "HttpHandler",
    "Listener",
    "LoadBalancer",
    "MatchKind",
    "Mirror",
    "OutlierDetection",
    "PathMatch",
    "PathMatchKind",
    "QueryMatch",
    "Redirect",
    "RetryPolicy",
    "Rewrite",
    "Route",
    "RouteAction",
    "RouteMatch",
    "Source",
    "StringMatch",
    "TcpProxy",
    "TlsCertificate",
    "TlsMode",
    "TlsSettings",
    "UpstreamTls",
    "VirtualHost",
    "WeightedCluster",
]


@dataclass(frozen=True, slots=True, order=True)
class Source:
    """Which input object (and where) produced an IR element; used by explain and diagnostics."""

    kind: str
    namespace: str
    name: str
    file: str = ""
    line: int = 0
    detail: str = ""  # e.g. "spec.http[2].match[0]"

    def __str__(self) -> str:
        where = f" ({self.file}:{self.line})" if self.file else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.kind} {self.namespace}/{self.name}{detail}{where}"


# --- matching -------------------------------------------------------------------------------


class MatchKind(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"  # RE2, full-string match
    PRESENT = "present"  # header/query present, any value


@dataclass(frozen=True, slots=True)
class StringMatch:
    kind: MatchKind
    value: str = ""
    ignore_case: bool = False


class PathMatchKind(enum.Enum):
    EXACT = "exact"  # path without query equals value
    PREFIX = "prefix"  # raw string prefix of the path (Istio/Envoy `prefix`)
    REGEX = "regex"  # RE2 full match of the path without query
    SEGMENT_PREFIX = "segment_prefix"  # Kubernetes Ingress Prefix: whole path segments


@dataclass(frozen=True, slots=True)
class PathMatch:
    kind: PathMatchKind
    value: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    name: str  # lower-case
    match: StringMatch
    invert: bool = False  # withoutHeaders: holds when absent or not matching


@dataclass(frozen=True, slots=True)
class QueryMatch:
    name: str  # case-sensitive
    match: StringMatch


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """All set conditions must hold (AND). `None`/empty = no condition on that attribute."""

    path: PathMatch | None = None
    method: StringMatch | None = None
    scheme: StringMatch | None = None
    authority: StringMatch | None = None
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[QueryMatch, ...] = ()

    @property
    def is_catch_all(self) -> bool:
        """Istio's IsCatchAllRoute: prefix `/` (or no path) or regex `.*`, and nothing else."""
        path_all = (
            self.path is None
            or (self.path.kind is PathMatchKind.PREFIX and self.path.value == "/")
            or (self.path.kind is PathMatchKind.SEGMENT_PREFIX and self.path.value in ("", "/"))
            or (self.path.kind is PathMatchKind.REGEX and self.path.value in (".*", "/.*"))
        )
        return path_all and not (self.method or self.scheme or self.authority or self.headers or self.query)


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    """Header operations in Istio's order: set (replace), add (append), remove."""

    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.remove)


@dataclass(frozen=True, slots=True)
class WeightedCluster:
    cluster: str  # Config.clusters name
    weight: int = 100
    request_headers: HeaderEdits = field(default_factory=HeaderEdits)
    response_headers: HeaderEdits = field(default_factory=HeaderEdits)
    authority: str = ""  # per-destination authority rewrite (from headers.request.set host)
    service_host: str = ""  # the FQDN as named by the route, for explain/metrics
    port: int = 0


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Path/authority rewrite applied before forwarding (Envoy prefix_rewrite semantics)."""

    uri: str | None = None  # replaces the part of the path the route's path match consumed
    regex: str | None = None  # uriRegexRewrite.match (RE2, replace-all)
    regex_substitution: str = ""
    authority: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int  # retries after the first try
    retry_on: tuple[str, ...]
    per_try_timeout: float | None = None  # seconds
    retriable_status_codes: tuple[int, ...] = ()
    backoff_base: float = 0.025
    retry_ignore_previous_hosts: bool = True


# Istio's built-in policy for routes that set no `retries` (istio-semantics sec. 3.12.1).
DEFAULT_RETRY_POLICY = RetryPolicy(
    attempts=2,
    retry_on=("connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"),
)
NO_RETRIES = RetryPolicy(attempts=0, retry_on=())


@dataclass(frozen=True, slots=True)
class FaultPolicy:
    delay: float | None = None  # seconds
    delay_percent: float = 0.0
    abort_status: int | None = None
    abort_grpc_status: str | None = None
    abort_percent: float = 0.0


@dataclass(frozen=True, slots=True)
class Mirror:
    cluster: str
    percent: float = 100.0
    service_host: str = ""


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    allow_origins: tuple[StringMatch, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None  # whole seconds
    allow_credentials: bool | None = None
    forward_unmatched_preflights: bool = True


@dataclass(frozen=True, slots=True)
class Forward:
    clusters: tuple[WeightedCluster, ...]
    rewrite: Rewrite | None = None


@dataclass(frozen=True, slots=True)
class Redirect:
    """Envoy redirect: each None keeps the request's value (rules in istio-semantics 3.8)."""

    code: int = 301
    scheme: str | None = None
    host: str | None = None
    port: int | None = None  # port to write; 0 = protocol default (no port written; Envoy semantics)
    path: str | None = None  # full path replacement (may carry its own '?query')
    prefix_rewrite: str | None = None
    server_tls: bool = False  # server has a tls block: default scheme for port elision is https


@dataclass(frozen=True, slots=True)
class DirectResponse:
    status: int
    body: bytes = b""


RouteAction = Forward | Redirect | DirectResponse


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    match: RouteMatch
    action: RouteAction
    request_headers: HeaderEdits = field(default_factory=HeaderEdits)
    response_headers: HeaderEdits = field(default_factory=HeaderEdits)
    timeout: float | None = None  # seconds; None = no route timeout (Istio's default)
    retries: RetryPolicy = DEFAULT_RETRY_POLICY  # NO_RETRIES when `attempts: 0`
    fault: FaultPolicy | None = None
    mirrors: tuple[Mirror, ...] = ()
    cors: CorsPolicy | None = None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class VirtualHost:
    name: str
    domains: tuple[str, ...]  # lower-case: "a.example.com", "*.example.com", "*"
    routes: tuple[Route, ...] = ()
    require_tls: bool = False  # httpsRedirect: 301 to https before route matching


# --- listeners ------------------------------------------------------------------------------


class TlsMode(enum.Enum):
    SIMPLE = "SIMPLE"
    MUTUAL = "MUTUAL"
    OPTIONAL_MUTUAL = "OPTIONAL_MUTUAL"
    PASSTHROUGH = "PASSTHROUGH"
    ISTIO_MUTUAL = "ISTIO_MUTUAL"
    AUTO_PASSTHROUGH = "AUTO_PASSTHROUGH"


@dataclass(frozen=True, slots=True)
class TlsCertificate:
    """Where a certificate comes from. PEM bytes for Secrets; paths for mounted files.

    `__repr__` never shows the key material.
    """

    source: str  # "secret istio-system/name" or "file /etc/..."
    cert_pem: bytes = b""
    key_pem: bytes = field(default=b"", repr=False)
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    mode: TlsMode
    certificates: tuple[TlsCertificate, ...] = ()
    ca_pem: bytes = b""
    ca_file: str = ""
    ca_source: str = ""
    min_version: str = ""
    max_version: str = ""
    cipher_suites: tuple[str, ...] = ()
    subject_alt_names: tuple[str, ...] = ()
    alpn: tuple[str, ...] = ("http/1.1",)
    mode_defaulted: bool = False  # `tls` without `mode`: Istio treats it as PASSTHROUGH


@dataclass(frozen=True, slots=True)
class HttpHandler:
    route_table: str  # Istio-style name: "http.80" or "https.443.https.gw.ns"
    virtual_hosts: tuple[VirtualHost, ...]


@dataclass(frozen=True, slots=True)
class TcpProxy:
    clusters: tuple[WeightedCluster, ...]
    name: str = ""


ChainHandler = HttpHandler | TcpProxy


@dataclass(frozen=True, slots=True)
class FilterChain:
    name: str
    server_names: tuple[str, ...]  # SNI; empty = any (the '*' chain)
    handler: HttpHandler | TcpProxy
    tls: TlsSettings | None = None  # None = plaintext, or passthrough (no termination)
    transport: str = "raw"  # "raw" or "tls" (a TLS ClientHello is expected)
    source: Source | None = None
    # Set when the server's certificate could not be loaded: the chain still claims its SNI names (as
    # in Envoy, where the handshake then fails) but every connection that selects it is closed.
    disabled: str = ""


@dataclass(frozen=True, slots=True)
class Listener:
    name: str  # "0.0.0.0_80"
    port: int  # the server's port.number as users see it
    bind: str = "0.0.0.0"
    listen_port: int = 0  # where the process listens (Service targetPort); 0 = same as port
    protocol: str = "HTTP"  # HTTP | HTTPS | TLS | TCP (the first server's family)
    chains: tuple[FilterChain, ...] = ()

    @property
    def effective_listen_port(self) -> int:
        return self.listen_port or self.port


# --- upstream -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str  # IP or DNS name
    port: int
    labels: tuple[tuple[str, str], ...] = ()
    weight: int = 1
    ready: bool = True
    locality: str = ""


@dataclass(frozen=True, slots=True)
class HashPolicy:
    header: str | None = None
    cookie: str | None = None
    cookie_path: str = ""
    cookie_ttl: float | None = None
    source_ip: bool = False
    query_parameter: str | None = None


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    policy: str = "LEAST_REQUEST"  # ROUND_ROBIN | LEAST_REQUEST | RANDOM | CONSISTENT_HASH
    hash: HashPolicy | None = None


@dataclass(frozen=True, slots=True)
class ConnectionPool:
    # Istio sets Envoy's circuit breakers to 2^32-1 unless a DestinationRule lowers them.
    max_connections: int = 2**32 - 1
    max_pending_requests: int = 2**32 - 1
    max_requests: int = 2**32 - 1
    max_retries: int = 2**32 - 1
    max_requests_per_connection: int = 0  # 0 = unlimited
    connect_timeout: float = 10.0
    idle_timeout: float = 3600.0


@dataclass(frozen=True, slots=True)
class OutlierDetection:
    consecutive_5xx: int | None = 5
    consecutive_gateway_errors: int | None = None
    interval: float = 10.0
    base_ejection_time: float = 30.0
    max_ejection_percent: int = 10
    min_health_percent: int = 0


@dataclass(frozen=True, slots=True)
class UpstreamTls:
    mode: str  # DISABLE | SIMPLE | MUTUAL | ISTIO_MUTUAL
    sni: str = ""
    ca_file: str = ""
    ca_pem: bytes = b""
    cert_file: str = ""
    key_file: str = ""
    cert_pem: bytes = b""
    key_pem: bytes = field(default=b"", repr=False)
    subject_alt_names: tuple[str, ...] = ()
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str  # outbound|PORT|SUBSET|FQDN
    service_host: str  # FQDN
    port: int
    subset: str = ""
    service_name: str = ""  # for metrics: destination_service_name
    service_namespace: str = ""
    discovery: str = "STATIC"  # STATIC | DNS | DNS_ROUND_ROBIN | EXTERNAL_NAME
    endpoints: tuple[Endpoint, ...] = ()
    protocol: str = "HTTP"  # upstream protocol: HTTP | HTTP2 | TCP | TLS...
    load_balancer: LoadBalancer = field(default_factory=LoadBalancer)
    connection_pool: ConnectionPool = field(default_factory=ConnectionPool)
    outlier_detection: OutlierDetection | None = None
    tls: UpstreamTls | None = None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Config:
    """The whole translated gateway: listeners sorted by (bind, port), clusters sorted by name."""

    listeners: tuple[Listener, ...] = ()
    clusters: tuple[Cluster, ...] = ()
