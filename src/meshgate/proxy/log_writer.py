"""One thread that writes what the event loop hands it, so the loop never waits on a file.

Why a thread: a regular file ignores O_NONBLOCK, and a write() to a file on disk blocks while the
kernel writes dirty pages back (measured: single stalls of tens of ms with the access log growing by
~7 MB/s, each one delaying every connection of the worker; bench/results/README.md). Envoy writes its
access-log files from a flush thread for the same reason.

The loop calls `put` with one joined batch (a few hundred lines) at a time: a lock, an append and a
notify, never I/O. The thread takes everything pending at once, so batches that piled up while a
write was blocked go out in one write, in the order they were handed over.

The backlog is bounded (MAX_BACKLOG bytes, ~1 s of log at 30k requests/s): when the file falls
that far behind, `put` waits for the thread to take the backlog. Lines are never dropped; a disk
that stays slower than the log holds the loop back instead of growing memory without limit.
`counts.access_log_backlog_waits` counts those waits, `counts.access_log_write_failures` the batches
the stream refused (stdout closed, disk full: the data plane keeps serving and the thread goes on with
the next batch). The gateway points `counts` at its Stats, so both are metrics
(`meshgate_access_log_backlog_waits_total`, `meshgate_access_log_write_failures_total`), as Envoy's
`filesystem.write_failed`.

The thread starts with the first batch (a gateway without traffic has none). `--workers` runs each
worker as its own exec'd process with its own log and thread; nothing here is fork-safe. A daemon
thread, so a process that dies without `close` does not hang on exit; `close` writes what is pending
and joins it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final, Protocol

MAX_BACKLOG: Final = 8 * 1024 * 1024


class WriterCounts(Protocol):
    access_log_backlog_waits: int
    access_log_write_failures: int


class OwnCounts:
    """The counts of a writer not attached to a gateway's Stats."""

    __slots__ = ("access_log_backlog_waits", "access_log_write_failures")

    def __init__(self) -> None:
        self.access_log_backlog_waits = 0
        self.access_log_write_failures = 0


class LogWriter:
    __slots__ = (
        "_busy",
        "_closed",
        "_cond",
        "_emit",
        "_pending",
        "_pending_bytes",
        "_thread",
        "counts",
        "max_backlog",
    )

    def __init__(self, emit: Callable[[bytes], None], max_backlog: int = MAX_BACKLOG) -> None:
        self._emit = emit  # on the writer thread; in place after close or when no thread can start
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._busy = False  # the thread holds a batch it has not finished writing
        self._closed = False
        self._thread: threading.Thread | None = None
        self.counts: WriterCounts = OwnCounts()
        self.max_backlog = max_backlog

    def put(self, data: bytes) -> None:
        """Queue `data` for writing; returns at once unless the backlog is full."""
        with self._cond:
            if not self._writer_running():
                self._write_in_place(data)
                return
            if self._pending_bytes >= self.max_backlog:
                self.counts.access_log_backlog_waits += 1
                while self._pending_bytes >= self.max_backlog:
                    self._cond.wait()
                    if not self._writer_running():
                        self._write_in_place(data)
                        return
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._cond.notify_all()

    def wait_written(self) -> None:
        """Block until everything handed over so far has been written."""
        with self._cond:
            while self._pending or self._busy:
                if not self._busy and not self._writer_running():
                    self._write_in_place(b"")
                    return
                self._cond.wait()

    def close(self) -> None:
        """Write what is pending, stop the thread and wait for it; later lines are written in place."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        self.wait_written()  # what a thread that died left pending

    def _writer_running(self) -> bool:
        """With the lock held: a writer thread runs, started now if there was none; False after close
        or when no thread can be started (a process limit): the caller writes in place."""
        if self._thread is not None:
            return True
        if self._closed:
            return False
        thread = threading.Thread(target=self._run, name="meshgate-access-log", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # can't start new thread: the next batch tries again
            return False
        self._thread = thread
        return True

    def _write_in_place(self, data: bytes) -> None:
        """With the lock held and no thread writing: what is pending, then `data`, in order."""
        pending = self._pending
        pending.append(data)
        batch = b"".join(pending)  # `data` itself when nothing was pending
        pending.clear()
        self._pending_bytes = 0
        if len(batch) > 0:
            self._write(batch)
        self._cond.notify_all()

    def _run(self) -> None:
        cond = self._cond
        try:
            while True:
                with cond:
                    while not self._pending and not self._closed:
                        cond.wait()
                    if not self._pending:
                        return  # closed and written out
                    batch = b"".join(self._pending)  # one batch: that batch itself, not a copy
                    self._pending.clear()
                    self._pending_bytes = 0
                    self._busy = True
                    cond.notify_all()  # a put waiting for room may go on
                self._write(batch)
                with cond:
                    self._busy = False
                    cond.notify_all()
        finally:
            # also when _emit raised past _write: whoever waits is woken, the next put starts a
            # new thread (or writes in place after close)
            with cond:
                self._thread = None
                self._busy = False
                cond.notify_all()

    def _write(self, batch: bytes) -> None:
        try:
            self._emit(batch)
        except Exception:  # whatever the stream raises, the next batch is tried
            self.counts.access_log_write_failures += 1
