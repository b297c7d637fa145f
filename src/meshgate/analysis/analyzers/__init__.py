"""Every analyzer, listed explicitly and alphabetised by name: nothing registers itself on import.

Adding one: write `analyzers/<area>_<what>.py` with one `Analyzer` subclass, add it here, add its
catalog codes under `# --- analysis` in `diag/catalog.yaml`, and add
`tests/analysis/testdata/<name>/{trigger,clean}.yaml` (the meta-tests check all four).
"""

from __future__ import annotations

from meshgate.analysis.analyzer import Analyzer
from meshgate.analysis.analyzers.dr_ca_certificates import CaCertificates
from meshgate.analysis.analyzers.gateway_cert_expiry import CertificateExpiry
from meshgate.analysis.analyzers.gateway_cert_files import CertificateFiles
from meshgate.analysis.analyzers.gateway_cert_hosts import CertificateHosts
from meshgate.analysis.analyzers.gateway_duplicate_cert import DuplicateCertificate
from meshgate.analysis.analyzers.gateway_duplicate_sni import DuplicateSni
from meshgate.analysis.analyzers.gateway_selector import SelectorWorkload
from meshgate.analysis.analyzers.gateway_service_port import ServicePort
from meshgate.analysis.analyzers.ingress_class import ClassNotFound
from meshgate.analysis.analyzers.ingress_exact_path import ExactPath
from meshgate.analysis.analyzers.ingress_shadowed_path import ShadowedPath
from meshgate.analysis.analyzers.schema_deprecated import Deprecated
from meshgate.analysis.analyzers.schema_names import ObjectNames
from meshgate.analysis.analyzers.vs_conflicting_routes import ConflictingRoutes
from meshgate.analysis.analyzers.vs_gateway_served import GatewayNotServed
from meshgate.analysis.analyzers.vs_host_admission import HostAdmission
from meshgate.analysis.analyzers.vs_regex import Regex
from meshgate.analysis.analyzers.vs_rewrite import Rewrite
from meshgate.analysis.analyzers.vs_shadowed_routes import ShadowedRoutes

__all__ = ["ALL", "by_name"]

ALL: tuple[Analyzer, ...] = (
    CaCertificates(),  # destinationrule.CaCertificates
    CertificateExpiry(),  # gateway.CertificateExpiry
    CertificateFiles(),  # gateway.CertificateFiles
    CertificateHosts(),  # gateway.CertificateHosts
    DuplicateCertificate(),  # gateway.DuplicateCertificate
    DuplicateSni(),  # gateway.DuplicateSni
    SelectorWorkload(),  # gateway.SelectorWorkload
    ServicePort(),  # gateway.ServicePort
    ClassNotFound(),  # ingress.ClassNotFound
    ExactPath(),  # ingress.ExactPath
    ShadowedPath(),  # ingress.ShadowedPath
    Deprecated(),  # schema.Deprecated
    ObjectNames(),  # schema.ObjectNames
    ConflictingRoutes(),  # virtualservice.ConflictingRoutes
    GatewayNotServed(),  # virtualservice.GatewayNotServed
    HostAdmission(),  # virtualservice.HostAdmission
    Regex(),  # virtualservice.Regex
    Rewrite(),  # virtualservice.Rewrite
    ShadowedRoutes(),  # virtualservice.ShadowedRoutes
)


def by_name(name: str) -> Analyzer | None:
    return next((a for a in ALL if a.name == name), None)
