"""Gateway servers: which Gateways select this workload, server validation, host syntax, TLS, ports.

Produces `ServerPlan`s in Istio's merge order (Gateways by creation time, then name, then namespace;
servers in list order) with the conflict rules of istio-semantics sec. 1.8 applied per port+bind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from meshgate import ir
from meshgate.diag import Diagnostic, make
from meshgate.hostnames import is_ip
from meshgate.resources.bundle import ResourceBundle
from meshgate.resources.core import Service
from meshgate.resources.istio import Gateway, Server, ServerTLSSettings
from meshgate.translate import naming
from meshgate.translate.credentials import check_pair, credential_diagnostic, load_server_credential
from meshgate.translate.options import TranslateOptions

HTTP_FAMILY = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})
TLS_FAMILY = frozenset({"HTTPS", "TLS"})
OPAQUE = frozenset({"TCP", "MONGO", "REDIS", "MYSQL"})
KNOWN_PROTOCOLS = HTTP_FAMILY | TLS_FAMILY | OPAQUE
TERMINATING = frozenset({ir.TlsMode.SIMPLE, ir.TlsMode.MUTUAL, ir.TlsMode.OPTIONAL_MUTUAL})
Report = Callable[[str, str], None]
"""report(field_path, reason): record an IST0106 validation error for the current Gateway."""
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class ServerHost:
    namespace: str  # "*" = any namespace may bind
    host: str  # lower-case dnsName, "*" or "*.suffix"

    def admits(self, vs_namespace: str) -> bool:
        return self.namespace in ("*", vs_namespace)


@dataclass(slots=True)
class ServerPlan:
    gateway: Gateway
    index: int
    server: Server
    port: int
    bind: str
    protocol: str
    hosts: tuple[ServerHost, ...]
    tls: ir.TlsSettings | None  # terminating or passthrough settings; None = plaintext
    https_redirect: bool
    route_table: str
    source: ir.Source
    listen_port: int = 0
    disabled: str = ""  # why the server's certificate cannot be used (its chain closes connections)

    @property
    def field(self) -> str:
        return f"spec.servers[{self.index}]"

    @property
    def label(self) -> str:
        name = self.server.port.name or str(self.port)
        return f"{self.gateway.namespace}/{self.gateway.name} {name}"

    @property
    def gateway_key(self) -> str:
        return f"{self.gateway.namespace}/{self.gateway.name}"

    @property
    def kind(self) -> str:
        """http | https | passthrough | tls_tcp | tcp: what the server does with a connection."""
        if self.tls is None or self.protocol in HTTP_FAMILY:
            return "http" if self.protocol in HTTP_FAMILY else "tcp"
        if self.tls.mode in TERMINATING:
            return "https" if self.protocol == "HTTPS" else "tls_tcp"
        return "passthrough"

    @property
    def sni_names(self) -> tuple[str, ...]:
        names = tuple(h.host for h in self.hosts)
        return () if "*" in names else names


def selected_gateways(
    bundle: ResourceBundle, options: TranslateOptions
) -> tuple[list[Gateway], list[Diagnostic]]:
    chosen: list[Gateway] = []
    notes: list[Diagnostic] = []
    labels = ",".join(f"{k}={v}" for k, v in options.workload_labels)
    for gateway in sorted(bundle.of(Gateway), key=lambda g: g.creation_key()):
        if options.selects(gateway.spec.selector):
            chosen.append(gateway)
        else:
            selector = ",".join(f"{k}={v}" for k, v in sorted(gateway.spec.selector.items()))
            notes.append(
                make(
                    "MG0101",
                    origin=gateway.origin_of("spec.selector"),
                    resource=gateway.ref,
                    selector=selector,
                    labels=labels,
                    namespace=options.namespace,
                )
            )
    return chosen, notes


def gateway_service_ports(bundle: ResourceBundle, options: TranslateOptions) -> dict[int, int]:
    """Server port → listen port, from the gateway's own Service (sec. 1.2.2: first one found wins)."""
    mapping: dict[int, int] = {}
    for service in bundle.of(Service):
        if service.namespace != options.namespace or not service.spec.selector:
            continue
        if "experimental.istio.io/disable-gateway-port-translation" in service.metadata.labels:
            continue
        if not options.selects(service.spec.selector):
            continue
        for port in service.spec.ports:
            target = port.target_port
            if isinstance(target, int) and port.port not in mapping:
                mapping[port.port] = target
    return mapping


def plan_servers(
    bundle: ResourceBundle, options: TranslateOptions
) -> tuple[list[ServerPlan], list[Diagnostic]]:
    gateways, notes = selected_gateways(bundle, options)
    listen_ports = gateway_service_ports(bundle, options)
    plans: list[ServerPlan] = []
    for gateway in gateways:
        names_seen: set[str] = set()
        for index, server in enumerate(gateway.spec.servers):
            plan = _plan_server(bundle, options, gateway, index, server, names_seen, notes)
            if plan is not None:
                plan.listen_port = listen_ports.get(plan.port, 0)
                plans.append(plan)
    return _apply_port_conflicts(plans, notes), notes


def _plan_server(
    bundle: ResourceBundle,
    options: TranslateOptions,
    gateway: Gateway,
    index: int,
    server: Server,
    names_seen: set[str],
    notes: list[Diagnostic],
) -> ServerPlan | None:
    at = f"spec.servers[{index}]"

    def invalid(path: str, reason: str) -> None:
        notes.append(
            make(
                "IST0106",
                origin=gateway.origin_of(path),
                resource=gateway.ref,
                field_path=path,
                field=path,
                reason=reason,
            )
        )

    port = server.port
    if port.number is None or not 0 < port.number < 65536:
        invalid(f"{at}.port.number", "a port number between 1 and 65535 is required")
        return None
    protocol = port.protocol.upper()
    if protocol not in KNOWN_PROTOCOLS:
        invalid(
            f"{at}.port.protocol", f"unknown protocol {port.protocol!r}; use one of {sorted(KNOWN_PROTOCOLS)}"
        )
        return None
    if port.name and port.name in names_seen:
        invalid(f"{at}.port.name", f"port name {port.name!r} is used twice in this Gateway")
        return None
    names_seen.add(port.name)
    hosts = _parse_hosts(gateway, at, server.hosts, invalid)
    if not hosts:
        return None
    tls, https_redirect, disabled = _server_tls(
        bundle, options, gateway, at, server, protocol, invalid, notes
    )
    if isinstance(tls, bool):
        return None  # invalid server (already reported)
    source = ir.Source(
        "Gateway", gateway.namespace, gateway.name, gateway.origin.file, gateway.origin_of(at).line, at
    )
    plan = ServerPlan(
        gateway=gateway,
        index=index,
        server=server,
        port=port.number,
        bind=server.bind or "0.0.0.0",
        protocol=protocol,
        hosts=hosts,
        tls=tls,
        https_redirect=https_redirect,
        route_table="",
        source=source,
        disabled=disabled,
    )
    plan.route_table = (
        naming.https_route_table(plan.port, port.name, gateway.name, gateway.namespace)
        if plan.kind == "https"
        else naming.http_route_table(plan.port)
    )
    return plan


def _parse_hosts(gateway: Gateway, at: str, raw_hosts: list[str], invalid: Report) -> tuple[ServerHost, ...]:
    report = invalid
    hosts: list[ServerHost] = []
    if not raw_hosts:
        report(f"{at}.hosts", "at least one host is required")
        return ()
    for i, raw in enumerate(raw_hosts):
        namespace, _, name = raw.rpartition("/")
        namespace = namespace or "*"
        if namespace == ".":
            namespace = gateway.namespace
        name = name.lower()
        problem = _host_problem(name)
        if problem:
            report(f"{at}.hosts[{i}]", f"host {raw!r}: {problem}")
            continue
        hosts.append(ServerHost(namespace, name))
    if any(h.namespace == "*" and h.host == "*" for h in hosts):
        return (ServerHost("*", "*"),)  # `*/*` admits everything: the list collapses
    return tuple(hosts)


def _host_problem(name: str) -> str:
    if name == "*" or is_ip(name):
        return ""
    if "*" in name and not (name.startswith("*.") and "*" not in name[1:]):
        return "partial wildcards are not allowed; only a leading '*.' label"
    if "." not in name:
        return "short names are not allowed in Gateway hosts; use a fully qualified name"
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    if not all(_DNS_LABEL.match(label) for label in labels):
        return "not a valid DNS name"
    return ""


def _server_tls(
    bundle: ResourceBundle,
    options: TranslateOptions,
    gateway: Gateway,
    at: str,
    server: Server,
    protocol: str,
    invalid: Report,
    notes: list[Diagnostic],
) -> tuple[ir.TlsSettings | bool | None, bool, str]:
    """(settings, https_redirect, disabled reason); settings False = the server is invalid."""
    report = invalid
    tls = server.tls
    if tls is None:
        if protocol in TLS_FAMILY:
            report(f"{at}.tls", f"protocol {protocol} requires a tls block")
            return False, False, ""
        return None, False, ""
    if protocol in HTTP_FAMILY or protocol in OPAQUE:
        has_material = tls.server_certificate or tls.private_key or tls.ca_certificates or tls.credential_name
        if (tls.mode and tls.mode != "PASSTHROUGH") or has_material:
            report(f"{at}.tls", f"a plaintext {protocol} server may only use tls for httpsRedirect")
            return False, False, ""
        return None, tls.https_redirect, ""
    mode_text = (tls.mode or "PASSTHROUGH").upper()
    try:
        mode = ir.TlsMode(mode_text)
    except ValueError:
        report(f"{at}.tls.mode", f"unknown TLS mode {tls.mode!r}")
        return False, False, ""
    if tls.mode is None:
        extra = (
            " (its certificate settings are ignored)"
            if (tls.credential_name or tls.server_certificate)
            else ""
        )
        notes.append(
            make(
                "MG0106",
                origin=gateway.origin_of(f"{at}.tls"),
                resource=gateway.ref,
                field_path=f"{at}.tls",
                server=server.port.name or at,
                extra=extra,
            )
        )
    if tls.https_redirect:
        notes.append(
            make(
                "IST0133",
                origin=gateway.origin_of(f"{at}.tls.httpsRedirect"),
                resource=gateway.ref,
                field=f"{at}.tls.httpsRedirect",
                reason="httpsRedirect only applies to plaintext HTTP servers",
                fix="Remove httpsRedirect from the TLS server; set it on the port 80 server.",
            )
        )
    if mode not in TERMINATING:
        return ir.TlsSettings(mode=mode, mode_defaulted=tls.mode is None, alpn=()), False, ""
    settings, disabled = _terminating_tls(bundle, options, gateway, at, tls, mode, report, notes)
    return settings, False, disabled


def _terminating_tls(
    bundle: ResourceBundle,
    options: TranslateOptions,
    gateway: Gateway,
    at: str,
    tls: ServerTLSSettings,
    mode: ir.TlsMode,
    report: Report,
    notes: list[Diagnostic],
) -> tuple[ir.TlsSettings | bool, str]:
    """(settings, disabled reason). A credential that cannot be used disables the server but keeps it
    in the port's conflict resolution, as in Istio where only its TLS handshakes fail."""
    want_ca = mode in (ir.TlsMode.MUTUAL, ir.TlsMode.OPTIONAL_MUTUAL)
    base = ir.TlsSettings(
        mode=mode,
        min_version=tls.min_protocol_version,
        max_version=tls.max_protocol_version,
        cipher_suites=tuple(tls.cipher_suites),
        subject_alt_names=tuple(tls.subject_alt_names),
        alpn=("http/1.1",),
    )
    sources = [
        bool(tls.credential_name),
        bool(tls.credential_names),
        bool(tls.server_certificate or tls.private_key),
        bool(tls.tls_certificates),
    ]
    if sum(sources) > 1:
        report(
            f"{at}.tls",
            "only one of credentialName, credentialNames, serverCertificate/privateKey"
            " or tlsCertificates may be set",
        )
        return False, ""
    names = [tls.credential_name] if tls.credential_name else list(tls.credential_names)
    if names:
        certificates: list[ir.TlsCertificate] = []
        ca_pem, ca_source = b"", ""
        for i, name in enumerate(names):
            path = f"{at}.tls.credentialName" if tls.credential_name else f"{at}.tls.credentialNames[{i}]"
            credential = load_server_credential(bundle, name, options.namespace, want_ca and i == 0)
            if credential.problem:
                notes.append(credential_diagnostic(gateway, path, name, credential.problem))
                return base, credential.problem.reason
            assert credential.certificate is not None
            certificates.append(credential.certificate)
            if i == 0:
                ca_pem, ca_source = credential.ca_pem, credential.ca_source
        return replace(base, certificates=tuple(certificates), ca_pem=ca_pem, ca_source=ca_source), ""
    if tls.server_certificate or tls.private_key:
        if not (tls.server_certificate and tls.private_key):
            report(f"{at}.tls", "serverCertificate and privateKey must be set together")
            return False, ""
        if want_ca and not tls.ca_certificates:
            report(f"{at}.tls.caCertificates", f"mode {mode.value} requires caCertificates")
            return False, ""
        cert = ir.TlsCertificate(
            source=f"file {tls.server_certificate}",
            cert_file=tls.server_certificate,
            key_file=tls.private_key,
        )
        ca_source = f"file {tls.ca_certificates}" if tls.ca_certificates else ""
        return replace(base, certificates=(cert,), ca_file=tls.ca_certificates, ca_source=ca_source), ""
    if tls.tls_certificates:
        report(f"{at}.tls.tlsCertificates", "tlsCertificates is not supported yet; use credentialName")
        return False, ""
    report(f"{at}.tls", f"mode {mode.value} needs credentialName or serverCertificate and privateKey")
    return False, ""


def _apply_port_conflicts(plans: list[ServerPlan], notes: list[Diagnostic]) -> list[ServerPlan]:
    """Istio's per port+bind merge rules (sec. 1.8): first server in merge order wins a conflict."""
    kept: list[ServerPlan] = []
    by_port: dict[tuple[int, str], list[ServerPlan]] = {}
    for plan in plans:
        existing = by_port.setdefault((plan.port, plan.bind), [])
        reason, other = _conflict(plan, existing)
        if reason:
            code = "IST0145" if reason == "duplicate host" else "MG0102"
            host = next((h.host for h in plan.hosts if other and h in other.hosts), "")
            notes.append(
                make(
                    code,
                    origin=plan.gateway.origin_of(plan.field),
                    resource=plan.gateway.ref,
                    field_path=plan.field,
                    server=plan.label,
                    port=plan.port,
                    reason=reason,
                    host=host,
                    other=other.label if other else "",
                    fix="Serve plaintext and TLS on different ports, or merge the servers.",
                )
            )
            continue
        existing.append(plan)
        kept.append(plan)
    return kept


def _conflict(plan: ServerPlan, existing: list[ServerPlan]) -> tuple[str, ServerPlan | None]:
    plain_http = plan.tls is None and plan.protocol in HTTP_FAMILY
    for other in existing:
        other_plain_http = other.tls is None and other.protocol in HTTP_FAMILY
        if plain_http and other_plain_http:
            continue  # rule 1: plaintext HTTP servers share the port's route table
        if plan.tls is None and other.tls is None:
            return "a plaintext non-HTTP server cannot share a port with another plaintext server", other
        if other_plain_http and plan.tls is not None:
            return (
                f"a TLS server cannot join port {plan.port} after the plaintext HTTP server {other.label}",
                other,
            )
        if plan.tls is not None and other.tls is not None and set(plan.hosts) & set(other.hosts):
            return "duplicate host", other
    return "", None


def check_file_pair(cert_pem: bytes, key_pem: bytes, cert_file: str, key_file: str) -> str | None:
    """Used by the proxy when it reads mounted certificate files (same checks as for Secrets)."""
    problem = check_pair(cert_pem, key_pem, f"file {cert_file}", f"file {key_file}")
    return problem.reason if problem else None
