"""The current snapshot, swapped atomically.

Readers take `store.current` once at the start of a request and keep that object: a reload in the
middle of a request never changes its routing. Assigning one attribute is atomic under the GIL and
in a single event loop, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from meshgate.runtime.snapshot import Snapshot


class SnapshotStore:
    __slots__ = ("_subscribers", "current")

    def __init__(self, initial: Snapshot | None = None) -> None:
        self.current: Snapshot | None = initial
        self._subscribers: list[Callable[[Snapshot], None]] = []

    def swap(self, snapshot: Snapshot) -> bool:
        """Install `snapshot`; False (and nothing changes) when its version is already current."""
        current = self.current
        if current is not None and current.version == snapshot.version:
            return False
        self.current = snapshot
        for callback in list(self._subscribers):
            callback(snapshot)
        return True

    def subscribe(self, callback: Callable[[Snapshot], None]) -> None:
        self._subscribers.append(callback)
