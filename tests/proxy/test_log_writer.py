"""The access log's writer thread: the event loop hands batches over and never waits on the file,
lines stay in order, a full backlog holds the loop back instead of dropping lines, a failing stream
does not stop the thread, and close writes everything."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

from meshgate.admin.views import stats_text
from meshgate.proxy.access_log import FLUSH_LINES, AccessLog
from meshgate.proxy.context import ProxyContext
from meshgate.proxy.log_writer import LogWriter
from meshgate.proxy.stats import format_prometheus
from meshgate.runtime.store import SnapshotStore


class StuckFile(io.RawIOBase):
    """A file whose writes block until `release` is set, as a write() to a disk does while the kernel
    writes dirty pages back."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()  # a write is in progress
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.started.set()
        assert self.release.wait(10.0), "the test never released the file"
        self.writes.append(bytes(data))
        return len(data)


def test_the_loop_keeps_serving_while_a_write_is_blocked() -> None:
    raw = StuckFile()
    stream = io.TextIOWrapper(io.BufferedWriter(raw, buffer_size=16), encoding="utf-8")
    log = AccessLog(stream, "text", flush_interval=60.0)
    lines = [f"line {n}\n".encode() for n in range(3 * FLUSH_LINES + 5)]

    async def main() -> float:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        task = asyncio.create_task(ticker())
        for line in lines[:FLUSH_LINES]:
            log.write(line)  # the first batch: the thread's write blocks on the file
        assert await asyncio.to_thread(raw.started.wait, 5.0)
        began = time.monotonic()
        for line in lines[FLUSH_LINES:]:
            log.write(line)  # two more batches handed over, five lines held for the timer
        await asyncio.sleep(0.2)
        assert ticks >= 20, "the loop stalled behind the blocked write"
        assert raw.writes == [] and log.writer.counts.access_log_backlog_waits == 0
        task.cancel()
        return time.monotonic() - began

    handed_over = asyncio.run(main())
    assert handed_over < 1.0
    raw.release.set()
    log.close()
    assert b"".join(raw.writes) == b"".join(lines)  # in order, nothing lost
    # the batches that piled up behind the blocked write went out together: first, then the rest
    assert len(raw.writes) <= 3


def test_a_full_backlog_holds_the_caller_back_and_keeps_every_line() -> None:
    raw = StuckFile()
    writer = LogWriter(raw.write, max_backlog=1000)
    writer.put(b"a" * 10)
    assert raw.started.wait(5.0)  # the thread holds the first batch, blocked
    writer.put(b"b" * 600)
    writer.put(b"c" * 600)  # 1200 bytes waiting: over the limit
    done = threading.Event()

    def late_put() -> None:
        writer.put(b"d" * 10)
        done.set()

    putter = threading.Thread(target=late_put)
    putter.start()
    deadline = time.monotonic() + 5.0
    while writer.counts.access_log_backlog_waits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.counts.access_log_backlog_waits == 1  # the putter reached the full backlog
    assert not done.wait(0.3), "put returned with the backlog full"
    raw.release.set()
    assert done.wait(5.0)
    putter.join()
    writer.close()
    assert b"".join(raw.writes) == b"a" * 10 + b"b" * 600 + b"c" * 600 + b"d" * 10


def test_a_failing_stream_is_counted_and_the_next_batch_still_goes_out() -> None:
    written: list[bytes] = []

    def emit(data: bytes) -> None:
        if data.startswith(b"bad"):
            raise OSError(28, "No space left on device")
        written.append(data)

    writer = LogWriter(emit)
    writer.put(b"bad line\n")
    writer.wait_written()
    writer.put(b"good line\n")
    writer.close()
    assert written == [b"good line\n"] and writer.counts.access_log_write_failures == 1


def test_close_writes_what_is_pending_and_later_lines_at_once() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, "text", flush_interval=60.0)

    async def main() -> None:
        log.write(b"first\n")
        log.flush()  # starts the thread, waits for the write
        thread = log.writer._thread
        assert thread is not None and thread.is_alive()
        log.write(b"held\n")  # waits for the timer
        log.close()  # hands it over, writes it, stops the thread
        assert not thread.is_alive() and log.writer._thread is None
        assert stream.getvalue() == "first\nheld\n"
        log.write(b"late\n")  # after close (an exchange ending during shutdown): no timer to wait for
        assert stream.getvalue() == "first\nheld\nlate\n"

    asyncio.run(main())
    assert log.writer._thread is None


def test_a_thread_that_cannot_start_means_writing_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thread.start() raising ("can't start new thread": a container's process limit) loses nothing
    and does not raise into the exchange: the batch is written in place, the next one tries again."""
    written: list[bytes] = []
    writer = LogWriter(written.append)
    real_start = threading.Thread.start

    def failing_start(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", failing_start)
    writer.put(b"first\n")
    assert written == [b"first\n"] and writer._thread is None
    monkeypatch.setattr(threading.Thread, "start", real_start)
    writer.put(b"second\n")
    writer.wait_written()
    assert written == [b"first\n", b"second\n"] and writer._thread is not None
    writer.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_thread_that_died_is_replaced() -> None:
    """An exception _write does not catch ends the thread (threading.excepthook reports it on
    stderr); whoever waits is woken and the next batch gets a new thread."""

    class Stop(BaseException):
        pass

    written: list[bytes] = []

    def emit(data: bytes) -> None:
        if data == b"fatal\n":
            raise Stop
        written.append(data)

    writer = LogWriter(emit)
    writer.put(b"fatal\n")
    dying = writer._thread
    assert dying is not None
    waited = threading.Thread(target=writer.wait_written, daemon=True)
    waited.start()
    waited.join(5.0)
    assert not waited.is_alive(), "wait_written hangs on a dead writer thread"
    dying.join(5.0)  # its exception reported (excepthook) within this test
    writer.put(b"after\n")
    writer.close()
    assert written == [b"after\n"]


def test_a_closed_stdout_does_not_stop_the_gateway() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    log = AccessLog(stream, "text")
    stream.close()  # the reader of stdout went away
    log.write(b"lost\n")  # no running loop: handed over and waited for
    assert log.writer.counts.access_log_write_failures == 1
    log.close()


def test_write_failures_are_a_gateway_metric() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    ctx = ProxyContext(SnapshotStore(None), access_log=AccessLog(stream, "text"))
    stream.close()
    assert ctx.access_log is not None
    ctx.access_log.write(b"lost\n")
    assert ctx.stats.access_log_write_failures == 1
    text = format_prometheus(ctx.stats, None)
    assert "meshgate_access_log_write_failures_total 1\n" in text
    assert "meshgate_access_log_backlog_waits_total 0\n" in text
    assert ctx.stats.export()["counters"]["access_log_write_failures"] == 1  # summed across workers
    assert "filesystem.write_failed: 1\n" in stats_text(ctx.stats)  # /stats, Envoy's name
    ctx.access_log.close()
