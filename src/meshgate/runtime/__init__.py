"""Glue between the control plane (load → translate → compile) and the data plane (proxy)."""

from meshgate.runtime.snapshot import Snapshot
from meshgate.runtime.store import SnapshotStore

__all__ = ["Snapshot", "SnapshotStore"]
