"""Companies in parallel: one stream's realms read at once within one tap run.

The SDK syncs a stream's partitions (one per realm) one after another. When the run has
several realms (and `parallel_realms` is on), the first partition's `get_records` instead
starts one reader thread per realm, each running that realm's own extraction (its own
connection: budget, concurrency, token), and hands their records to the SDK's thread through
one bounded queue, interleaved. The later partitions then have nothing left to read.

Everything that touches the Singer state (bookmark commits, the CDC checkpoint, STATE
messages) is queued by the reader behind the records it covers and applied by the SDK's
thread, so a realm's bookmark never passes a record that was not written, and the state is
only ever changed by one thread.

Memory stays flat: each realm gets `max_total_requests / realms` requests in flight (at
least 1, at most `max_concurrent_requests`), and at most `max_buffered_pages` pages wait in
the queue. A realm whose extraction fails (revoked token, disconnected app, a window that
keeps failing) does not stop the others: its error is kept, an authorization failure skips
the realm in the later streams, and when the run has written everything else it ends with
one error naming each failed company and its fix.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import typing as t
import weakref

from tap_quickbooks.errors import AuthError, TapQuickBooksError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from tap_quickbooks.settings import Settings

logger = logging.getLogger("tap-quickbooks.realms")

JOIN_SECONDS = 30.0  # how long a stopped run waits for its readers, all together
_ON_READER = threading.local()  # .reader: the _Reader running in this thread, if any


class RealmsFailedError(TapQuickBooksError):
    """Some companies failed; the others were read and their state saved."""


@dataclasses.dataclass
class _Run:
    """Reading of one tap run's realms."""

    settings: Settings
    parallel: bool
    failures: dict[str, tuple[str, TapQuickBooksError]] = dataclasses.field(default_factory=dict)
    # Streams whose partitions were all read by their first partition's call.
    done: set[str] = dataclasses.field(default_factory=set)


_RUNS: weakref.WeakKeyDictionary[object, _Run] = weakref.WeakKeyDictionary()
_RUNS_LOCK = threading.Lock()


def per_realm_requests(settings: Settings) -> int:
    """Requests in flight per realm when `settings.realm_ids` are read at once."""
    share = settings.max_total_requests // max(1, len(settings.realm_ids))
    return max(1, min(settings.max_concurrent_requests, share))


def _start(tap: t.Any) -> _Run:
    """The run of `tap`; reading realms at once caps each realm's concurrency.

    Each realm gets its share of `max_total_requests`, set before any connection is opened.
    """
    settings: Settings = tap.settings
    if not settings.parallel_realms or len(settings.realm_ids) < 2:
        return _Run(settings, parallel=False)
    share = per_realm_requests(settings)
    if share != settings.max_concurrent_requests:
        settings = dataclasses.replace(settings, max_concurrent_requests=share)
        tap.settings = settings
    logger.info(
        "Reading %d companies at once, %d requests in flight each (max_total_requests %d), "
        "at most %d pages buffered (max_buffered_pages)",
        len(settings.realm_ids),
        share,
        settings.max_total_requests,
        settings.max_buffered_pages,
    )
    return _Run(settings, parallel=True)


def _run_of(tap: t.Any) -> _Run:
    with _RUNS_LOCK:
        run = _RUNS.get(tap)
        if run is None:
            run = _RUNS[tap] = _start(tap)
        return run


def active(stream: t.Any) -> bool:
    """True when `stream`'s realms are read at once in this run (call before connecting)."""
    return _run_of(stream.tap).parallel


def _finish(run: _Run) -> None:
    """Raise one error naming every company that failed (after everything else is written)."""
    if not run.failures:
        return
    for realm, (stream, exc) in run.failures.items():
        logger.error("Company %s failed (%s): %s", realm, stream, exc)
    names = ", ".join(run.failures)
    read = len(run.settings.realm_ids) - len(run.failures)
    detail = "; ".join(f"company {r} ({s}): {e}" for r, (s, e) in run.failures.items())
    msg = (
        f"{len(run.failures)} of {len(run.settings.realm_ids)} companies failed ({names}); "
        f"the other {read} were read and their state saved. {detail}"
    )
    raise RealmsFailedError(msg)


def on_sync_thread(action: Callable[[], None]) -> None:
    """Run `action` (a state change) now, or, on a reader thread, in order on the SDK's."""
    reader: _Reader | None = getattr(_ON_READER, "reader", None)
    if reader is None:
        action()
    else:
        reader.defer(action)


def records(
    stream: t.Any,
    context: dict[str, t.Any],
    read_realm: Callable[[dict[str, t.Any]], Iterable[dict[str, t.Any]]],
) -> Iterator[dict[str, t.Any]]:
    """Every realm's records of `stream` at its first partition; nothing at the others."""
    run = _run_of(stream.tap)
    if stream.name in run.done:
        return
    run.done.add(stream.name)
    contexts = [
        p
        for p in stream.partitions or []
        if not isinstance(run.failures.get(p["realm_id"], ("", None))[1], AuthError)
    ]
    for partition in contexts:
        stream.get_context_state(partition)  # created here, on this thread, before readers
    yield from _multiplex(stream.name, contexts, read_realm, run)
    selected = [s for s in stream.tap.streams.values() if s.selected]
    if selected and selected[-1] is stream:  # the run's last stream: report the failures
        _finish(run)


class _Reader:
    """One realm's extraction on its own thread, feeding the shared queue."""

    def __init__(
        self,
        realm: str,
        items: Iterable[dict[str, t.Any]],
        out: queue.Queue[tuple[str, t.Any]],
        batch: int,
    ) -> None:
        self.realm = realm
        self._items = items
        self._out = out
        self._batch = batch
        self._pending: list[dict[str, t.Any]] = []
        self.stop = threading.Event()

    def defer(self, action: Callable[[], None]) -> None:
        self._flush()
        self._put(("act", action))

    def _put(self, item: tuple[str, t.Any]) -> None:
        while not self.stop.is_set():
            try:
                self._out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._put(("rows", pending))

    def run(self) -> None:
        _ON_READER.reader = self
        try:
            for item in self._items:
                self._pending.append(item)
                if len(self._pending) >= self._batch:
                    self._flush()
            self._flush()
            self._put(("done", None))
        except _Stopped:
            return
        except TapQuickBooksError as exc:
            self._pending = []
            self._put_final(("failed", (self.realm, exc)))
        except BaseException as exc:
            self._pending = []
            self._put_final(("crashed", exc))
        finally:
            _ON_READER.reader = None
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put_final(self, item: tuple[str, t.Any]) -> None:
        try:
            self._put(item)
        except _Stopped:
            return


class _Stopped(Exception):
    """The SDK's thread stopped consuming (the run is ending)."""


def _multiplex(
    stream_name: str,
    contexts: list[dict[str, t.Any]],
    read_realm: Callable[[dict[str, t.Any]], Iterable[dict[str, t.Any]]],
    run: _Run,
) -> Iterator[dict[str, t.Any]]:
    settings = run.settings
    out: queue.Queue[tuple[str, t.Any]] = queue.Queue(maxsize=settings.max_buffered_pages)
    readers = [_Reader(c["realm_id"], read_realm(c), out, settings.page_size) for c in contexts]
    threads = [
        threading.Thread(target=r.run, name=f"realm-{r.realm}", daemon=True) for r in readers
    ]
    for thread in threads:
        thread.start()
    open_readers = len(readers)
    try:
        while open_readers:
            kind, value = out.get()
            if kind == "rows":
                yield from value
            elif kind == "act":
                value()
            elif kind == "done":
                open_readers -= 1
            elif kind == "failed":
                open_readers -= 1
                realm, exc = value
                run.failures.setdefault(realm, (stream_name, exc))
                logger.error("Company %s failed in %s: %s", realm, stream_name, exc)
            else:
                raise value
    finally:
        for reader in readers:
            reader.stop.set()
        deadline = time.monotonic() + JOIN_SECONDS  # readers may be waiting on a request
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
