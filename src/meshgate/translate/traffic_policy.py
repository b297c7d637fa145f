"""DestinationRule traffic policy fields → IR (pure): validation, IR mapping, upstream credentials.

Field mapping and defaults follow istio-semantics sec 6.3-6.6. `validate_policy` returns problems as
data (field path relative to the object, reason, and whether Istio's validation would reject it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from meshgate import ir
from meshgate.resources import core, istio
from meshgate.resources.bundle import ResourceBundle

SIMPLE_POLICIES = ("UNSPECIFIED", "LEAST_CONN", "LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "PASSTHROUGH")
TLS_MODES = ("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL")
H2_UPGRADE_POLICIES = ("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE")
HTTP2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})
TCP_PROTOCOLS = frozenset({"TCP", "MONGO", "MYSQL", "REDIS", "UDP"})
MIN_DURATION = 0.001  # Istio: durations must be >= 1ms


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # dotted YAML path, e.g. "spec.trafficPolicy.connectionPool.tcp.maxConnections"
    reason: str
    error: bool = True  # False: a warning (IST0133); the object is still used


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The four per-cluster policy fields after DR/port/subset precedence (sec 6.2.3)."""

    load_balancer: istio.LoadBalancerSettings | None = None
    connection_pool: istio.ConnectionPoolSettings | None = None
    outlier_detection: istio.OutlierDetection | None = None
    tls: istio.ClientTLSSettings | None = None


# --- validation --------------------------------------------------------------------------------


def validate_policy(policy: istio.TrafficPolicy, path: str) -> list[Problem]:
    problems = _validate_fields(policy, path)
    seen: set[int] = set()
    for index, level in enumerate(policy.port_level_settings):
        where = f"{path}.portLevelSettings[{index}]"
        number = level.port.number if level.port is not None else None
        if number is None:
            problems.append(Problem(f"{where}.port", "port.number is required"))
        elif number in seen:
            problems.append(Problem(f"{where}.port.number", f"port {number} is set more than once"))
        else:
            seen.add(number)
        problems.extend(_validate_fields(level, where))
    return problems


def _validate_fields(policy: istio.TrafficPolicy | istio.PortTrafficPolicy, path: str) -> list[Problem]:
    out: list[Problem] = []
    if policy.load_balancer is not None:
        out += _validate_lb(policy.load_balancer, f"{path}.loadBalancer")
    if policy.connection_pool is not None:
        out += _validate_pool(policy.connection_pool, f"{path}.connectionPool")
    if policy.outlier_detection is not None:
        out += _validate_outlier(policy.outlier_detection, f"{path}.outlierDetection")
    if policy.tls is not None:
        out += _validate_tls(policy.tls, f"{path}.tls")
    return out


def _validate_lb(lb: istio.LoadBalancerSettings, path: str) -> list[Problem]:
    out: list[Problem] = []
    if lb.simple is not None and lb.simple not in SIMPLE_POLICIES:
        known = ", ".join(SIMPLE_POLICIES[2:])
        out.append(Problem(f"{path}.simple", f"unknown load balancer {lb.simple!r}; use one of {known}"))
    if lb.simple == "PASSTHROUGH":
        out.append(
            Problem(f"{path}.simple", "PASSTHROUGH has no meaning at a gateway; LEAST_REQUEST is used", False)
        )
    hashing = lb.consistent_hash
    if hashing is None:
        return out
    if lb.simple is not None:
        out.append(Problem(path, "set either simple or consistentHash, not both"))
    keys = [
        hashing.http_header_name is not None,
        hashing.http_cookie is not None,
        bool(hashing.use_source_ip),
        hashing.http_query_parameter_name is not None,
    ]
    if sum(keys) > 1:
        out.append(Problem(f"{path}.consistentHash", "set only one hash key"))
    if hashing.http_cookie is not None and not hashing.http_cookie.name:
        out.append(Problem(f"{path}.consistentHash.httpCookie.name", "a cookie name is required"))
    if hashing.minimum_ring_size is not None and hashing.minimum_ring_size < 0:
        out.append(Problem(f"{path}.consistentHash.minimumRingSize", "must be >= 0"))
    if hashing.ring_hash is not None and hashing.maglev is not None:
        out.append(Problem(f"{path}.consistentHash", "set either ringHash or maglev, not both"))
    return out


def _non_negative(out: list[Problem], path: str, **values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 0:
            out.append(Problem(f"{path}.{name}", "must be >= 0"))


def _min_duration(out: list[Problem], path: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and value < MIN_DURATION:
            out.append(Problem(f"{path}.{name}", "must be at least 1ms"))


def _validate_pool(pool: istio.ConnectionPoolSettings, path: str) -> list[Problem]:
    out: list[Problem] = []
    if pool.tcp is not None:
        tcp = pool.tcp
        _non_negative(out, f"{path}.tcp", maxConnections=tcp.max_connections)
        _min_duration(
            out,
            f"{path}.tcp",
            connectTimeout=tcp.connect_timeout,
            maxConnectionDuration=tcp.max_connection_duration,
        )
        if tcp.idle_timeout is not None and tcp.idle_timeout < 0:
            out.append(Problem(f"{path}.tcp.idleTimeout", "must be >= 0"))
    if pool.http is not None:
        http = pool.http
        _non_negative(
            out,
            f"{path}.http",
            http1MaxPendingRequests=http.http1_max_pending_requests,
            http2MaxRequests=http.http2_max_requests,
            maxRequestsPerConnection=http.max_requests_per_connection,
            maxRetries=http.max_retries,
            maxConcurrentStreams=http.max_concurrent_streams,
        )
        if http.idle_timeout is not None and http.idle_timeout < 0:
            out.append(Problem(f"{path}.http.idleTimeout", "must be >= 0"))
        policy = http.h2_upgrade_policy
        if policy is not None and policy not in H2_UPGRADE_POLICIES:
            known = ", ".join(H2_UPGRADE_POLICIES)
            out.append(Problem(f"{path}.http.h2UpgradePolicy", f"unknown policy {policy!r}; use {known}"))
        if policy == "UPGRADE" and http.use_client_protocol:
            out.append(
                Problem(f"{path}.http", "useClientProtocol and h2UpgradePolicy UPGRADE exclude each other")
            )
    return out


def _validate_outlier(outlier: istio.OutlierDetection, path: str) -> list[Problem]:
    out: list[Problem] = []
    _non_negative(
        out,
        path,
        consecutiveLocalOriginFailures=outlier.consecutive_local_origin_failures,
        consecutiveGatewayErrors=outlier.consecutive_gateway_errors,
        consecutive5xxErrors=outlier.consecutive_5xx_errors,
        consecutiveErrors=outlier.consecutive_errors,
    )
    for name, value in (
        ("maxEjectionPercent", outlier.max_ejection_percent),
        ("minHealthPercent", outlier.min_health_percent),
    ):
        if value is not None and not 0 <= value <= 100:
            out.append(Problem(f"{path}.{name}", "must be between 0 and 100"))
    _min_duration(out, path, interval=outlier.interval, baseEjectionTime=outlier.base_ejection_time)
    return out


def _validate_tls(tls: istio.ClientTLSSettings, path: str) -> list[Problem]:
    if tls.mode not in TLS_MODES:
        return [Problem(f"{path}.mode", f"unknown TLS mode {tls.mode!r}; use one of {', '.join(TLS_MODES)}")]
    files = tls.client_certificate or tls.private_key or tls.ca_certificates
    if tls.mode == "ISTIO_MUTUAL" and (files or tls.credential_name or tls.ca_crl):
        # istiod's ValidateTLS: mesh certificates only; sni and subjectAltNames stay allowed.
        return [Problem(path, "ISTIO_MUTUAL uses mesh certificates: no certificate files or credentialName")]
    if tls.credential_name and (files or tls.ca_crl):
        return [
            Problem(path, "credentialName excludes clientCertificate, privateKey, caCertificates and caCrl")
        ]
    if tls.mode == "MUTUAL" and not tls.credential_name and not (tls.client_certificate and tls.private_key):
        return [Problem(path, "MUTUAL needs credentialName, or clientCertificate and privateKey")]
    return []


# --- IR mapping --------------------------------------------------------------------------------


def load_balancer(settings: istio.LoadBalancerSettings | None) -> ir.LoadBalancer:
    """`simple` (default LEAST_REQUEST; LEAST_CONN is its alias) or `consistentHash` (sec 6.3)."""
    if settings is None:
        return ir.LoadBalancer()
    hashing = settings.consistent_hash
    if hashing is not None:
        cookie = hashing.http_cookie
        return ir.LoadBalancer(
            "CONSISTENT_HASH",
            ir.HashPolicy(
                header=hashing.http_header_name,
                cookie=cookie.name if cookie is not None else None,
                cookie_path=cookie.path if cookie is not None else "",
                cookie_ttl=cookie.ttl if cookie is not None else None,
                source_ip=bool(hashing.use_source_ip),
                query_parameter=hashing.http_query_parameter_name,
            ),
        )
    if settings.simple in ("ROUND_ROBIN", "RANDOM"):
        return ir.LoadBalancer(settings.simple)
    return ir.LoadBalancer()  # UNSPECIFIED, LEAST_REQUEST, LEAST_CONN; PASSTHROUGH (warned)


def connection_pool(settings: istio.ConnectionPoolSettings | None) -> ir.ConnectionPool:
    """Istio sends a threshold only when the DR value is > 0; otherwise its 2^32-1 default (sec 6.4)."""
    default = ir.ConnectionPool()
    if settings is None:
        return default
    tcp = settings.tcp or istio.TCPSettings()
    http = settings.http or istio.HTTPSettings()

    def positive(value: int | None, fallback: int) -> int:
        return value if value is not None and value > 0 else fallback

    idle = http.idle_timeout if http.idle_timeout is not None else tcp.idle_timeout
    return ir.ConnectionPool(
        max_connections=positive(tcp.max_connections, default.max_connections),
        max_pending_requests=positive(http.http1_max_pending_requests, default.max_pending_requests),
        max_requests=positive(http.http2_max_requests, default.max_requests),
        max_retries=positive(http.max_retries, default.max_retries),
        max_requests_per_connection=positive(http.max_requests_per_connection, 0),
        connect_timeout=tcp.connect_timeout if tcp.connect_timeout is not None else default.connect_timeout,
        idle_timeout=idle if idle is not None else default.idle_timeout,
    )


def outlier_detection(settings: istio.OutlierDetection | None) -> ir.OutlierDetection | None:
    """Present only when the DR has one (sec 6.5). A count of 0 disables that kind of ejection."""
    if settings is None:
        return None
    default = ir.OutlierDetection()
    consecutive_5xx: int | None = default.consecutive_5xx
    gateway = settings.consecutive_gateway_errors
    if settings.consecutive_5xx_errors is not None:
        consecutive_5xx = settings.consecutive_5xx_errors
    elif settings.consecutive_errors:
        # Deprecated `consecutiveErrors` (only read without consecutive5xxErrors): Istio maps it to
        # gateway errors and stops enforcing 5xx ejection.
        consecutive_5xx = None
        gateway = gateway if gateway is not None else settings.consecutive_errors
    max_ejection = settings.max_ejection_percent
    return ir.OutlierDetection(
        consecutive_5xx=consecutive_5xx or None,
        consecutive_gateway_errors=gateway or None,
        interval=settings.interval if settings.interval is not None else default.interval,
        base_ejection_time=(
            settings.base_ejection_time
            if settings.base_ejection_time is not None
            else default.base_ejection_time
        ),
        max_ejection_percent=max_ejection if max_ejection else default.max_ejection_percent,
        min_health_percent=settings.min_health_percent or 0,
    )


def upstream_protocol(port_protocol: str, pool: istio.ConnectionPoolSettings | None) -> str:
    """HTTP/2 for http2/grpc/grpc-web ports or h2UpgradePolicy UPGRADE on HTTP ports (sec 6.4.3)."""
    if port_protocol in HTTP2_PROTOCOLS:
        return "HTTP2"
    if port_protocol in TCP_PROTOCOLS:
        return "TCP"
    if port_protocol == "TLS":
        return "TLS"
    upgrade = pool is not None and pool.http is not None and pool.http.h2_upgrade_policy == "UPGRADE"
    if upgrade and port_protocol in ("HTTP", ""):
        return "HTTP2"
    return "HTTP"


def upstream_tls(
    settings: istio.ClientTLSSettings | None,
    *,
    host: str,
    port: int,
    subset: str,
    entry_sans: tuple[str, ...],
    credentials: Credentials,
) -> ir.UpstreamTls | None:
    """None means plaintext (no `tls`, or DISABLE; automatic mTLS needs mesh certificates we lack)."""
    if settings is None or settings.mode not in ("SIMPLE", "MUTUAL", "ISTIO_MUTUAL"):
        return None
    if settings.mode == "ISTIO_MUTUAL":
        return ir.UpstreamTls(
            "ISTIO_MUTUAL",
            sni=settings.sni or f"outbound_.{port}_.{subset}_.{host}",
            subject_alt_names=tuple(settings.subject_alt_names),
        )
    cert_pem = key_pem = ca_pem = b""
    if settings.credential_name:
        found = credentials.resolve(settings.credential_name, need_key=settings.mode == "MUTUAL")
        if isinstance(found, Credential):
            if settings.mode == "MUTUAL":
                cert_pem, key_pem = found.cert_pem, found.key_pem
            ca_pem = b"" if settings.ca_certificates else found.ca_pem
    return ir.UpstreamTls(
        settings.mode,
        sni=settings.sni,
        ca_file=settings.ca_certificates,
        ca_pem=ca_pem,
        cert_file=settings.client_certificate,
        key_file=settings.private_key,
        cert_pem=cert_pem,
        key_pem=key_pem,
        subject_alt_names=tuple(settings.subject_alt_names) or entry_sans,
        insecure_skip_verify=bool(settings.insecure_skip_verify),
    )


# --- credentials -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    cert_pem: bytes = b""
    key_pem: bytes = b""
    ca_pem: bytes = b""


@dataclass(frozen=True, slots=True)
class CredentialProblem:
    code: str  # IST0101 (Secret missing) or IST0161 (unusable)
    secret: str  # namespace/name
    reason: str = ""


class Credentials:
    """`credentialName` Secrets, read from the gateway pod's namespace (sec 2.1, 2.9)."""

    def __init__(self, bundle: ResourceBundle, namespace: str) -> None:
        self.namespace = namespace
        self._secrets = {s.name: s for s in bundle.of(core.Secret) if s.namespace == namespace}

    def resolve(self, credential_name: str, *, need_key: bool = False) -> Credential | CredentialProblem:
        name = credential_name.removeprefix("kubernetes://")
        if "/" in name:
            namespace, _, name = name.partition("/")
            if namespace != self.namespace:
                reason = f"Secrets are only read from the gateway namespace {self.namespace}"
                return CredentialProblem("IST0161", f"{namespace}/{name}", reason)
        secret = self._secrets.get(name)
        where = f"{self.namespace}/{name}"
        if secret is None:
            return CredentialProblem("IST0101", where)
        try:
            values = _secret_values(secret)
            ca_secret = self._secrets.get(f"{name}-cacert")
            ca_values = _secret_values(ca_secret) if ca_secret is not None else values
        except (binascii.Error, ValueError):
            return CredentialProblem("IST0161", where, "a data value is not valid base64")
        cert, key = values.get("cert", b""), values.get("key", b"")
        if not (cert and key):
            cert, key = values.get("tls.crt", b""), values.get("tls.key", b"")
        if need_key and not (cert and key):
            found = ", ".join(sorted(values)) or "none"
            return CredentialProblem("IST0161", where, f"no cert/key or tls.crt/tls.key (keys: {found})")
        ca = ca_values.get("cacert", b"") or ca_values.get("ca.crt", b"")
        return Credential(cert, key, ca)


def _secret_values(secret: core.Secret) -> dict[str, bytes]:
    values = {
        key: base64.b64decode("".join(value.split()), validate=True) for key, value in secret.data.items()
    }
    values.update({key: value.encode() for key, value in secret.string_data.items()})
    return values
