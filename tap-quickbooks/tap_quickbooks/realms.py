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

Memory stays flat, whatever the number of companies: each realm gets `max_total_requests /
realms` requests in flight (at least 1, at most `max_concurrent_requests`), and every row
read and not yet written, of every realm, counts against one budget of `max_buffered_pages`
pages (:class:`ReadAhead`): a page's rows are taken before its request is sent and given
back once the SDK's thread has written them. A realm whose extraction fails (revoked token,
disconnected app, a window that keeps failing) does not stop the others: its error is kept,
an authorization failure skips the realm in the later streams, and when the run has written
everything else it ends with one error naming each failed company and its fix.
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


class ReadAhead:
    """Rows read and not yet written, of every company read at once, within one budget.

    A page's rows (as many as it is expected to hold) are taken before its request is sent
    and given back once the SDK's thread has written them, so the rows held (in flight,
    buffered by a pipeline, waiting for their reader or in the queue) never exceed `limit`,
    however many companies are read. Reading ahead (the pages of a company's next streams,
    the small streams its plan reads in `/batch`) may use the budget less `reserve`, and
    never waits for it; the streams being written wait for theirs. Rows read ahead are
    written only after the current stream, so they could otherwise hold the whole budget
    while a company still needs a page of the current stream: with `reserve` at least a
    page, that page can always be had once the rows already read are written.
    """

    def __init__(self, limit: int, reserve: int) -> None:
        """`limit` rows in all; reading ahead leaves `reserve` of them (>= one page)."""
        if not 0 <= reserve <= limit:
            msg = "reserve must be between 0 and limit"
            raise ValueError(msg)
        self.limit = limit
        self.reserve = reserve
        self.held = 0
        self.peak = 0
        self.taken = 0  # in all, over the run
        self._cond = threading.Condition()

    def try_take(self, rows: int, *, ahead: bool) -> bool:
        """Take `rows` if they fit (reading ahead: in the budget less the reserve)."""
        with self._cond:
            cap = self.limit - self.reserve if ahead else self.limit
            if self.held + rows > cap:
                return False
            self._add(rows)
            return True

    def wait(self, rows: int) -> None:
        """Block until `rows` of the current stream could be taken."""
        self._wait(rows, take=False)

    def take(self, rows: int) -> int:
        """Take `rows` for the current stream once they fit; returns how many were taken.

        At most `reserve` (a page or more): more might never fit while rows read ahead wait
        for a later stream (the rows themselves are in memory already).
        """
        return self._wait(rows, take=True)

    def _wait(self, rows: int, *, take: bool) -> int:
        """Wait for `rows` (at most `reserve`) to fit; a stopped reader stops waiting.

        The reader of this thread first hands over what it holds: else the rows it waits
        for could be the ones it keeps.
        """
        rows = min(rows, self.reserve)
        if rows <= 0:
            return 0
        reader: _Reader | None = getattr(_ON_READER, "reader", None)
        if reader is not None:
            reader.flush()
        with self._cond:
            while self.held + rows > self.limit:
                if reader is not None and reader.stop.is_set():
                    raise _Stopped
                self._cond.wait(timeout=0.5)
            if take:
                self._add(rows)
            return rows

    def _add(self, rows: int) -> None:
        self.held += rows
        self.taken += rows
        self.peak = max(self.peak, self.held)

    def passed(self, rows: int) -> None:
        """`rows` taken earlier are now in the hands of this thread's reader (or written)."""
        if not rows:
            return
        reader: _Reader | None = getattr(_ON_READER, "reader", None)
        if reader is None:
            self.release(rows)
        else:
            reader.credits += rows

    def release(self, rows: int) -> None:
        """Give back `rows` (written, or never to be)."""
        if not rows:
            return
        with self._cond:
            self.held -= rows
            if self.held < 0:  # pragma: no cover - a bookkeeping error
                msg = "more rows given back than taken"
                raise RuntimeError(msg)
            self._cond.notify_all()


def read_ahead_budget(settings: Settings) -> ReadAhead:
    """The budget of `max_buffered_pages` pages; half of it may be read ahead."""
    limit = settings.max_buffered_pages * settings.page_size
    reserve = max(settings.page_size, limit // 2) if settings.max_buffered_pages > 1 else limit
    return ReadAhead(limit, min(reserve, limit))


@dataclasses.dataclass
class _Run:
    """Reading of one tap run's realms."""

    settings: Settings
    parallel: bool
    # Rows read and not written, of every realm (None when realms are read one at a time).
    budget: ReadAhead | None = None
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
        "at most %d pages of rows read and not written (max_buffered_pages)",
        len(settings.realm_ids),
        share,
        settings.max_total_requests,
        settings.max_buffered_pages,
    )
    return _Run(settings, parallel=True, budget=read_ahead_budget(settings))


def _run_of(tap: t.Any) -> _Run:
    with _RUNS_LOCK:
        run = _RUNS.get(tap)
        if run is None:
            run = _RUNS[tap] = _start(tap)
        return run


def active(stream: t.Any) -> bool:
    """True when `stream`'s realms are read at once in this run (call before connecting)."""
    return _run_of(stream.tap).parallel


def budget(stream: t.Any) -> ReadAhead | None:
    """The read-ahead budget of `stream`'s run (None when its realms are read one at a time)."""
    return _run_of(stream.tap).budget


def take(stream: t.Any, rows: int) -> int:
    """Take `rows` about to be emitted by `stream` from the budget (waits; 0 without one)."""
    found = budget(stream)
    return found.take(rows) if found is not None else 0


def passed(stream: t.Any, rows: int) -> None:
    """Rows taken with :func:`take` have been emitted (given back once written)."""
    found = budget(stream)
    if found is not None:
        found.passed(rows)


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
    contexts = []
    for partition in stream.partitions or []:
        if isinstance(run.failures.get(partition["realm_id"], ("", None))[1], AuthError):
            stream.drop_realm(partition)  # not read: what was read ahead for it is let go
        else:
            contexts.append(partition)
    for partition in contexts:
        stream.get_context_state(partition)  # created here, on this thread, before readers
    yield from _multiplex(stream.name, contexts, read_realm, run)
    selected = [s for s in stream.tap.streams.values() if s.selected]
    if selected and selected[-1] is stream:  # the run's last stream: report the failures
        if run.budget is not None:
            logger.info(
                "Rows read and not yet written peaked at %d of %d (max_buffered_pages %d)",
                run.budget.peak,
                run.budget.limit,
                run.settings.max_buffered_pages,
            )
        _finish(run)


class _Reader:
    """One realm's extraction on its own thread, feeding the shared queue."""

    def __init__(
        self,
        realm: str,
        items: Iterable[dict[str, t.Any]],
        out: queue.Queue[tuple[str, t.Any]],
        batch: int,
        budget: ReadAhead | None,
    ) -> None:
        self.realm = realm
        self._items = items
        self._out = out
        self._batch = batch
        self._budget = budget
        self._pending: list[dict[str, t.Any]] = []
        # Rows of the budget passed to this reader (`ReadAhead.passed`) and not handed over
        # yet: given back by the SDK's thread once the batch they go with is written.
        self.credits = 0
        self.stop = threading.Event()

    def defer(self, action: Callable[[], None]) -> None:
        self._flush()
        self._put(("act", action))

    def flush(self) -> None:
        """Hand the rows read so far to the SDK's thread (before waiting for the budget)."""
        self._flush()

    def _put(self, item: tuple[str, t.Any]) -> None:
        while not self.stop.is_set():
            try:
                self._out.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stopped

    def _flush(self) -> None:
        if self._pending or self.credits:
            pending, self._pending = self._pending, []
            credits, self.credits = self.credits, 0
            try:
                self._put(("rows", (pending, credits)))
            except _Stopped:
                self._give_back(credits)
                raise

    def _give_back(self, credits: int) -> None:
        if self._budget is not None:
            self._budget.release(credits)

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
            close = getattr(self._items, "close", None)
            if close is not None:
                close()  # (its pipelines give back what they hold; rows passed land here)
            _ON_READER.reader = None
            credits, self.credits = self.credits, 0  # rows dropped with the failed realm
            self._give_back(credits)

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
    readers = [
        _Reader(c["realm_id"], read_realm(c), out, settings.page_size, run.budget) for c in contexts
    ]
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
                rows, credits = value
                try:
                    yield from rows
                finally:
                    _release(run.budget, credits)
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
        while True:  # batches never written (the run is stopping): their rows are let go
            try:
                kind, value = out.get_nowait()
            except queue.Empty:
                break
            if kind == "rows":
                _release(run.budget, value[1])


def _release(budget: ReadAhead | None, credits: int) -> None:
    if budget is not None:
        budget.release(credits)
