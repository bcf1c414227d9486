"""Verified paging of consecutive date windows with the fetch slots kept busy (pure).

QuickBooks only pages by offset, so a row that leaves a window while it is paged shifts
every later offset and another row is skipped. Each window is therefore counted
(`COUNT(*)`), its pages fetched, and after every chunk of pages counted again: in a
window that ended before the run started rows can only leave, so an unchanged count
proves that no offset moved while the chunk's pages were read, and the bookmark may move
to the chunk's last row. A changed count re-reads the rest of the window from the last
verified bookmark.

:class:`WindowPipeline` runs that plan with up to `max_in_flight` requests at once and
never waits for a count when it does not have to:

- a chunk's verifying count is sent as soon as all of that chunk's pages have been
  received, and the next chunk's pages keep going out (and their rows are emitted) while
  it is in flight; its answer is applied in order (commit, or restart from the last
  verified bookmark: rows already emitted after it are real rows, the target upserts the
  few that are emitted twice);
- the first counts of the next windows (up to `count_ahead` of them) are sent while the
  current window's last pages are in flight, so that a run of small windows (or the start
  of the next stream) does not wait for one count after another; a window counted empty
  is done without a second count, and a window that fits in one page needs none either
  (one page is read at one moment, so no offset can move under it);
- once every window is counted and the pages left fit in the slots, the first counts of
  its `successor` (the next stream's pipeline) go out ahead of those pages, and once all
  of its pages are sent, free slots go to the successor's pages, which wait in its
  bounded buffer until it is iterated.

Rows are emitted strictly in page order, window after window, and a bookmark is only
reported (:class:`Verified`) once every row up to it has been emitted and verified.
The pipeline does no HTTP itself: `count` and `fetch` run on the given executor.

With a `budget` (:class:`Budget`, shared by the pipelines of several companies), a page is
only sent once the rows it is expected to hold are taken from it, and they are handed on
with the rows (`passed`) or given back when the page is dropped. A pipeline that is not
iterated yet (a successor) reads ahead: it never waits for the budget.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import typing as t
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

from tap_quickbooks import pagination, windows
from tap_quickbooks.errors import WindowFailedError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from concurrent.futures import Executor

R = t.TypeVar("R")


@dataclass(frozen=True)
class Verified:
    """Every row up to `value` (the last row of a verified chunk) is emitted and verified."""

    value: str


@dataclass(frozen=True)
class WindowDone:
    """All of `window` (as planned) is emitted and verified."""

    window: windows.Window
    pages: int
    rows: int


@dataclass(frozen=True)
class Restarted:
    """The count of `paged` changed from `expected` to `found`; re-reading from `resume`."""

    window: windows.Window
    paged: windows.Window
    expected: int
    found: int
    resume: windows.Window


Event = list[R] | Verified | WindowDone | Restarted


class Budget(t.Protocol):
    """Rows that may be held at once, shared with other pipelines (`realms.ReadAhead`)."""

    def try_take(self, rows: int, *, ahead: bool) -> bool: ...

    def wait(self, rows: int) -> None: ...

    def passed(self, rows: int) -> None: ...

    def release(self, rows: int) -> None: ...


class _Window:
    """One attempt at one window: its first count and its planned pages."""

    def __init__(self, origin: windows.Window, window: windows.Window, count: Future[int]) -> None:
        self.origin = origin  # as planned (logs, WindowDone)
        self.window = window  # the range queried (the rest of origin after a restart)
        self.count = count
        self.expected: int | None = None
        self.pages: list[tuple[_Chunk, pagination.Page]] = []
        self.submitted = 0  # pages handed to the executor
        self.truncated = False  # an empty page ended it early


class _Chunk:
    """Consecutive pages of a window followed by one verifying count."""

    def __init__(self, win: _Window, size: int, *, last: bool, verify: bool = True) -> None:
        self.win = win
        self.size = size
        self.is_last = last  # the window is done once this chunk is verified
        self.needs_verify = verify
        self.sent = 0  # pages handed to the executor
        # Pages sent and not emitted yet (emitted ones are dropped: their rows are gone).
        self.pending: set[Future[t.Any]] = set()
        self.emitted = 0  # pages consumed (rows emitted)
        self.last_value: str | None = None  # replication key of the last row emitted
        self.verify: Future[int] | None = None

    def received(self) -> bool:
        """Every page of the chunk has been answered (the verifying count may go)."""
        return self.sent >= self.size and all(f.done() for f in self.pending)


@dataclass
class _Slot:
    """A position in emission order: a window's first count (`chunk` None) or a page."""

    win: _Window
    chunk: _Chunk | None
    future: Future[t.Any]
    credits: int = 0  # rows of the budget taken for the page


class WindowPipeline(t.Generic[R]):
    """Verified, in-order paging of consecutive windows with `max_in_flight` requests at once.

    `count(window)` returns the window's row count; `fetch(window, page)` its rows on
    `page`; `mark(rows)` the replication key value of the last of `rows` (None if none).
    `committed` is the bookmark the run resumes from (rows before it are verified).
    """

    def __init__(
        self,
        plan: list[windows.Window],
        *,
        count: Callable[[windows.Window], int],
        fetch: Callable[[windows.Window, pagination.Page], list[R]],
        mark: Callable[[list[R]], str | None],
        executor: Executor,
        max_in_flight: int,
        page_size: int,
        chunk_pages: int,
        max_churn_restarts: int,
        committed: dt.datetime | None = None,
        in_flight: set[Future[t.Any]] | None = None,
        count_ahead: int = 4,
        counted: Mapping[windows.Window, int] | None = None,
        budget: Budget | None = None,
    ) -> None:
        """Prepare the run of `plan` (nothing is requested before iteration or `prefill`).

        `in_flight`: the requests in flight of every pipeline sharing `executor` (so that
        together they stay within `max_in_flight`); by default this pipeline's own.
        `counted`: first counts already known (e.g. from planning): those windows' pages
        are planned at once, without a request or a wait for a count. `budget`: the rows
        this pipeline may hold, shared with others (see the module's doc).
        """
        if max_in_flight < 1 or chunk_pages < 1 or count_ahead < 1:
            msg = "max_in_flight, chunk_pages and count_ahead must be >= 1"
            raise ValueError(msg)
        self._count_ahead = count_ahead
        self._counted = dict(counted or {})  # used once each (a restart counts again)
        self._count = count
        self._fetch = fetch
        self._mark = mark
        self._executor = executor
        self._max_in_flight = max_in_flight
        # Pages received and waiting for their turn: bounded, so memory does not grow when
        # one slow page holds up the ones behind it.
        self._max_buffered = max_in_flight + max(2, max_in_flight // 2)
        # ... and together with the pipelines after it (its successor, theirs): pages sent
        # ahead for the next streams use what this one leaves of this budget.
        self._max_chain = 2 * self._max_buffered
        self._page_size = page_size
        self._chunk_pages_default = chunk_pages
        self._max_churn_restarts = max_churn_restarts
        self._committed = committed
        self.plan = list(plan)  # as given (to recognise a pipeline prepared in advance)
        self.committed = committed
        first = plan[0].starting_at(committed) if plan and committed else None
        self._todo: list[tuple[windows.Window, windows.Window]] = [
            (w, first if i == 0 and first else w) for i, w in enumerate(plan)
        ]
        self._reset_head()
        self._totals: dict[windows.Window, list[int]] = {}  # origin -> [pages, rows]
        self._running: set[Future[t.Any]] = set()  # this pipeline's requests not answered
        self._in_flight = in_flight if in_flight is not None else set()
        # The pipeline that runs next (e.g. the next stream): once every request of this
        # one has been sent, free slots go to it, so that the end of this one and the
        # start of the next do not leave slots idle. Its rows wait in its bounded buffer.
        self.successor: WindowPipeline[t.Any] | None = None
        self._slots: deque[_Slot] = deque()
        self._verifies: deque[_Chunk] = deque()
        self._planned = 0  # index in _todo of the window whose pages go out next
        self._planning: _Window | None = None
        # Windows after the one being planned whose first count has been sent, in order.
        self._prefetched: deque[_Window] = deque()
        self._restarts = 0
        self._budget = budget
        self._iterated = False  # before iteration its pages are read ahead
        self._short = 0  # rows the next page waits for (the budget was short)

    def _reset_head(self) -> None:
        """Churn bookkeeping of the first unfinished window."""
        self._chunk_pages = self._chunk_pages_default  # shrinks under churn
        # After a restart the rest of the window is read one chunk at a time (no page goes
        # out before the previous chunk is verified): with rows moving, every request sent
        # between a count and its verification makes a changed count more likely.
        self._serial = False
        self._stalled = 0  # restarts since the bookmark last moved
        self._mark_at = self._committed

    # -- submitting --------------------------------------------------------------------

    def _free(self, reserve: int = 0) -> bool:
        self._running = {f for f in self._running if not f.done()}
        for future in [f for f in self._in_flight if f.done()]:
            self._in_flight.discard(future)
        return len(self._in_flight | self._running) < self._max_in_flight - reserve

    def _submit(self, fn: Callable[..., t.Any], *args: t.Any) -> Future[t.Any]:
        future = self._executor.submit(fn, *args)
        self._running.add(future)
        self._in_flight.add(future)
        return future

    def prefill(self, reserve: int, budget: int | None = None) -> None:
        """Send what may be sent before iteration starts, leaving `reserve` slots free.

        Before iteration this pipeline and its successors hold at most `budget` pages sent
        and not emitted, together (memory); by default the budget of a whole chain.
        """
        self._fill(reserve, self._max_chain if budget is None else budget)

    def prefill_until(self, other: Future[t.Any], reserve: int = 0) -> None:
        """:meth:`prefill` each time a slot frees, until `other` (not ours) is answered."""
        while True:
            self.prefill(reserve)
            if other.done():
                return
            waiting = {f for f in self._in_flight | self._running if not f.done()}
            wait({other, *waiting}, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        """Give up a pipeline that will not be iterated: cancel or finish its requests."""
        self._abandon()

    def _open(self, index: int) -> _Window:
        origin, window = self._todo[index]
        known = self._counted.pop(window, None)
        if known is not None:
            count: Future[int] = Future()
            count.set_result(known)
            return _Window(origin, window, count)
        return _Window(origin, window, self._submit(self._count, window))

    def _plan(self, win: _Window) -> None:
        """Lay out the pages and chunks of a counted window."""
        expected = win.expected or 0
        if expected == 0:
            self._verifies.append(_Chunk(win, 0, last=True, verify=False))
            return
        pages = pagination.plan_pages(expected, self._page_size)
        size = self._chunk_pages if self._planned == 0 else self._chunk_pages_default
        chunks = pagination.chunked(pages, size)
        for i, chunk_pages in enumerate(chunks):
            last = i == len(chunks) - 1
            chunk = _Chunk(win, len(chunk_pages), last=last, verify=len(pages) > 1)
            self._verifies.append(chunk)
            win.pages.extend((chunk, page) for page in chunk_pages)

    def _fill(self, reserve: int = 0, buffered: int | None = None) -> None:
        """Send what may be sent: verifying counts first, then first counts and pages.

        `buffered`: the pages this pipeline and its successors may hold (prefill), else
        `max_buffered` pages for this one and the rest of the chain's budget for the others.
        """
        for chunk in self._verifies:
            if chunk.needs_verify and chunk.verify is None and chunk.received():
                if not self._free(reserve):
                    return
                chunk.verify = self._submit(self._count, chunk.win.window)
        if self.successor is not None and self._nearly_sent():
            # The next pipeline's first counts go before this one's last pages: each
            # unlocks pages that can fill the slots this one's last pages leave, instead
            # of a count that starts only once they are all sent.
            self.successor.open_counts(reserve)
        cap = self._max_buffered if buffered is None else buffered
        while self._free(reserve) and self._pages_buffered() < cap and self._produce():
            pass
        if self.successor is not None and self._all_sent():
            # Everything of this pipeline has been sent but its last verifications. No
            # slot is kept for them: each goes out in the slot its chunk's last page
            # frees (verifications are sent first, above). The successor may use what
            # this one's pages leave of the chain's budget: while this stream waits for
            # its last verification, the next one keeps every slot busy.
            budget = self._max_chain if buffered is None else buffered
            self.successor.prefill(reserve, budget - self._pages_buffered())

    def open_counts(self, reserve: int) -> None:
        """Send the first counts of the windows this pipeline starts with, and no page."""
        while not self._serial and self._free(reserve):
            win = self._planning
            if win is None:
                if self._planned >= len(self._todo):
                    return
                self._produce()  # the first window's count (sent now or counted ahead)
            elif not self._open_ahead(self._unsent(win)):
                return

    def _nearly_sent(self) -> bool:
        """Every window is counted or being counted, and the pages left fit in the slots."""
        win = self._planning
        opened = self._planned + (win is not None) + len(self._prefetched)
        if self._serial or opened < len(self._todo):
            return False
        left = self._unsent(win) if win is not None else 0
        return left + self._unsent_ahead() <= self._max_in_flight

    def _all_sent(self) -> bool:
        """Every page and first count of the plan has been sent (verifications may be left).

        Also when the last window's last page went out and the plan has not moved past it
        yet (the buffer was full): the successor must not wait for this one's rows.
        """
        if self._planned >= len(self._todo):
            return True
        win = self._planning
        return (
            win is not None
            and self._planned == len(self._todo) - 1
            and win.expected is not None
            and self._unsent(win) == 0
        )

    def _unsent(self, win: _Window) -> int:
        """Pages of `win` not sent yet (a count not answered yet stands for one)."""
        if win.truncated:
            return 0
        if win.expected is not None:
            return len(win.pages) - win.submitted
        if not win.count.done() or win.count.exception() is not None:
            return 1
        return math.ceil(win.count.result() / self._page_size)

    def _pages_buffered(self) -> int:
        """Pages sent and not consumed yet (what the buffer bound is about: counts are tiny)."""
        return sum(1 for slot in self._slots if slot.chunk is not None)

    def _produce(self) -> bool:
        """Send one request of the plan; False when the plan must wait (or is done)."""
        win = self._planning
        if win is None:
            if self._planned >= len(self._todo) or (self._serial and self._planned > 0):
                return False
            win = self._prefetched.popleft() if self._prefetched else self._open(self._planned)
            self._planning = win
            self._slots.append(_Slot(win, None, win.count))
            return True
        if win.expected is None:
            if not win.count.done() or win.count.exception() is not None:
                # Its pages are not known yet (an error is raised when the consumer
                # reaches this window): meanwhile, count the next windows.
                return self._open_ahead(1)
            win.expected = win.count.result()
            self._plan(win)
        left = self._unsent(win)
        if left and self._serial and self._verifies[0] is not win.pages[win.submitted][0]:
            return False  # after a restart: not before the previous chunk is verified
        if self._open_ahead(left):
            return True
        if left:
            chunk, page = win.pages[win.submitted]
            credits = self._take(win, page)
            if credits is None:
                return False
            win.submitted += 1
            future = self._submit(self._fetch, win.window, page)
            chunk.sent += 1
            chunk.pending.add(future)
            self._slots.append(_Slot(win, chunk, future, credits))
            return True
        self._planning = None
        self._planned += 1
        return True

    def _take(self, win: _Window, page: pagination.Page) -> int | None:
        """The rows `page` should hold, taken from the budget (0 without; None: not now)."""
        if self._budget is None:
            return 0
        rows = max(1, min(page.max_results, (win.expected or 0) - page.start_position + 1))
        if not self._budget.try_take(rows, ahead=not self._iterated):
            self._short = rows
            return None
        self._short = 0
        return rows

    def _give_back(self, slots: t.Iterable[_Slot]) -> None:
        if self._budget is not None:
            for slot in slots:
                self._budget.release(slot.credits)

    def _open_ahead(self, left: int) -> bool:
        """Send the first count of one more window ahead; False when it is not the time.

        It is the time when the pages known to be left (`left` of the window being planned,
        and those of the windows counted ahead) do not fill the slots.
        """
        ahead = self._planned + 1 + len(self._prefetched)
        if (
            self._serial
            or len(self._prefetched) >= self._count_ahead
            or ahead >= len(self._todo)
            or left + self._unsent_ahead() > self._max_in_flight
        ):
            return False
        self._prefetched.append(self._open(ahead))
        return True

    def _unsent_ahead(self) -> int:
        """Pages the prefetched windows will need (none of them is sent yet).

        A count not answered yet stands for one page. Counting stops this far ahead of the
        slots, so that a count is not taken long before its pages are read (rows move
        meanwhile).
        """
        return sum(self._unsent(win) for win in self._prefetched)

    def _abandon(self) -> None:
        """Cancel everything not started and let running requests finish; clear the plan."""
        for future in self._running:
            future.cancel()
        for future in self._running:
            if not future.cancelled():
                with contextlib.suppress(Exception):  # nobody wants the answer any more
                    future.result()
        self._running.clear()
        self._give_back(self._slots)
        self._slots.clear()
        self._verifies.clear()
        self._planned = 0
        self._planning = None
        self._prefetched.clear()

    # -- consuming ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[Event[R]]:
        """Run the plan: rows (lists, in order) and progress events."""
        try:
            yield from self._run()
        finally:
            self._abandon()

    def _run(self) -> Iterator[Event[R]]:
        self._iterated = True
        while self._todo:
            self._fill()
            if self._verifies and self._ready(self._verifies[0]):
                yield from self._apply(self._verifies.popleft())
                continue
            if self._slots and self._slots[0].future.done():
                slot = self._slots.popleft()
                try:
                    result = slot.future.result()
                except Exception:
                    self._give_back([slot])
                    restarted = yield from self._drain()
                    if restarted:
                        continue
                    raise
                if slot.chunk is not None:
                    slot.chunk.pending.discard(slot.future)
                    try:
                        yield from self._emit(slot.chunk, result)
                    finally:
                        if self._budget is not None:  # the rows go on, and their share
                            self._budget.passed(slot.credits)
                continue
            others = self.successor._running if self.successor is not None else set()
            waiting = {f for f in self._running | self._in_flight | others if not f.done()}
            if not waiting and self._short and self._budget is not None:
                # Nothing of ours is held or in flight: the budget is held by rows read and
                # not written yet (other companies', or read ahead), which it waits for.
                self._budget.wait(self._short)
                continue
            if not waiting:  # pragma: no cover - the plan always leaves something to do
                msg = "pipeline stalled with nothing in flight"
                raise RuntimeError(msg)
            wait(waiting, return_when=FIRST_COMPLETED)

    def _ready(self, chunk: _Chunk) -> bool:
        if chunk.emitted < chunk.size:
            return False
        return not chunk.needs_verify or (chunk.verify is not None and chunk.verify.done())

    def _emit(self, chunk: _Chunk, rows: list[R]) -> Iterator[Event[R]]:
        win = chunk.win
        chunk.emitted += 1
        totals = self._totals.setdefault(win.origin, [0, 0])
        if not rows:
            # Fewer rows than counted: the rest of the window is gone. Verify what was
            # emitted (the count will tell whether rows moved) and end the window there.
            self._truncate(chunk)
            return
        totals[0] += 1
        totals[1] += len(rows)
        chunk.last_value = self._mark(rows) or chunk.last_value
        yield rows

    def _truncate(self, chunk: _Chunk) -> None:
        win = chunk.win
        win.truncated = True
        chunk.size = chunk.emitted
        chunk.is_last = True
        for slot in self._slots:
            if slot.win is win:
                slot.future.cancel()
        self._give_back(s for s in self._slots if s.win is win)
        self._slots = deque(s for s in self._slots if s.win is not win)
        index = self._verifies.index(chunk)
        self._verifies = deque(
            c for i, c in enumerate(self._verifies) if c.win is not win or i <= index
        )

    def _apply(self, chunk: _Chunk) -> Iterator[Event[R]]:
        """Apply a chunk's verification in order: commit, or restart the window."""
        win = chunk.win
        if chunk.verify is not None:
            found = chunk.verify.result()
            if found != win.expected:
                yield self._restart(win, found)
                return
        if chunk.last_value is not None:
            moment = dt.datetime.fromisoformat(chunk.last_value)
            if self._committed is None or moment > self._committed:
                self._committed = moment
            yield Verified(chunk.last_value)
        if chunk.is_last:
            pages, rows = self._totals.pop(win.origin, [0, 0])
            self._todo.pop(0)
            if self._planning is win:  # its last pages went out, the plan had not moved on yet
                self._planning = None
            else:
                self._planned -= 1
            self._reset_head()
            yield WindowDone(win.origin, pages, rows)

    def _restart(self, win: _Window, found: int) -> Restarted:
        self._restarts += 1
        self._abandon()
        moved = self._committed != self._mark_at
        self._mark_at = self._committed
        self._stalled = 0 if moved else self._stalled + 1
        if self._stalled > self._max_churn_restarts:
            msg = (
                f"rows kept changing in window {win.origin.label} "
                f"({self._stalled} restarts without progress)"
            )
            raise WindowFailedError(msg)
        self._chunk_pages = max(1, self._chunk_pages // 5)
        self._serial = True
        resume = win.origin.starting_at(self._committed or win.origin.start)
        self._todo[0] = (win.origin, resume)
        return Restarted(win.origin, win.window, win.expected or 0, found, resume)

    def _drain(self) -> t.Generator[Event[R], None, bool]:
        """Before a failure ends the run: apply the verifications of what was emitted.

        Returns True when one of them restarted the window (the failure may be a
        consequence of rows moving, and the re-read will tell).
        """
        while self._verifies:
            chunk = self._verifies[0]
            if chunk.emitted < chunk.size:
                return False
            if chunk.needs_verify and chunk.verify is None:
                chunk.verify = self._submit(self._count, chunk.win.window)
            if chunk.verify is not None:
                wait([chunk.verify])
            self._verifies.popleft()
            restarts = self._restarts
            yield from self._apply(chunk)
            if self._restarts != restarts:
                return True
        return False
