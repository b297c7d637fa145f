"""Read-only admin HTTP API: readiness, config dump, Prometheus stats."""

from meshgate.admin.server import AdminServer

__all__ = ["AdminServer"]
