"""Watch the `-f` paths: a bounded poll of (size, mtime, inode) of every config file, debounced.

A poll (default every 100 ms) is used rather than inotify: it behaves the same in containers, on
network mounts and for editors that save by rename, and stat-ing a few files is cheap. A change
fires `on_change` once the fingerprint has stayed the same for `debounce` seconds, so a burst of
writes (an editor, `kubectl get -o yaml > f`, a git checkout) produces one reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence

from meshgate.sources.files import expand_paths

Fingerprint = tuple[tuple[str, int, int, int], ...]


def fingerprint(paths: Sequence[str]) -> Fingerprint:
    """(path, size, mtime_ns, inode) of every config file the paths name; missing ones included."""
    files, _ = expand_paths([p for p in paths if p != "-"])
    out: list[tuple[str, int, int, int]] = []
    for name in files:
        try:
            st = os.stat(name)
        except OSError:
            out.append((name, -1, -1, -1))
            continue
        out.append((name, st.st_size, st.st_mtime_ns, st.st_ino))
    out += [(p, -1, -1, -1) for p in paths if p != "-" and not os.path.exists(p)]
    return tuple(out)


def content_digest(paths: Sequence[str]) -> str:
    """sha256 over the names and bytes of every config file: equal digests, equal inputs."""
    files, _ = expand_paths([p for p in paths if p != "-"])
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with open(name, "rb") as handle:
                digest.update(handle.read())
        except OSError as exc:
            digest.update(f"<unreadable: {exc.errno}>".encode())
        digest.update(b"\0")
    return digest.hexdigest()


class FileWatcher:
    def __init__(
        self,
        paths: Sequence[str],
        on_change: Callable[[], Awaitable[object]],
        *,
        interval: float = 0.1,
        debounce: float = 0.2,
    ) -> None:
        self.paths = list(paths)
        self.on_change = on_change
        self.interval = interval
        self.debounce = debounce
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        seen = await asyncio.to_thread(fingerprint, self.paths)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            now = await asyncio.to_thread(fingerprint, self.paths)
            if now == seen:
                continue
            # debounce: wait until nothing has changed for `debounce` seconds
            stable_since = loop.time()
            while loop.time() - stable_since < self.debounce:
                await asyncio.sleep(min(self.interval, self.debounce))
                later = await asyncio.to_thread(fingerprint, self.paths)
                if later != now:
                    now, stable_since = later, loop.time()
            seen = now
            await self.on_change()
