"""The verified window pipeline with fake count/fetch functions (no HTTP)."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import typing as t
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from tap_quickbooks.errors import WindowFailedError
from tap_quickbooks.pipeline import Restarted, Verified, WindowDone, WindowPipeline
from tap_quickbooks.realms import ReadAhead
from tap_quickbooks.windows import Window, plan_windows

if t.TYPE_CHECKING:
    from tap_quickbooks.pagination import Page

DAY = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
WAIT = 10.0  # seconds a fake waits for the pipeline to get somewhere (never reached if correct)


def stamp(second: int) -> str:
    return (DAY + dt.timedelta(seconds=second)).isoformat()


class FakeEntity:
    """Rows are their replication key values; offsets page over the sorted rows of a window."""

    def __init__(self, seconds: t.Iterable[int]) -> None:
        self.rows = sorted(stamp(s) for s in seconds)
        self.lock = threading.Lock()
        self.calls: list[tuple[str, Window, int | None]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.on_count: t.Callable[[Window, int], None] = lambda window, n: None
        self.on_fetch: t.Callable[[Window, Page], None] = lambda window, page: None

    def _in(self, window: Window) -> list[str]:
        lo, hi = window.start.isoformat(), window.end.isoformat()
        return [r for r in self.rows if lo <= r < hi]

    def _track(self, delta: int) -> None:
        with self.lock:
            self.in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def count(self, window: Window) -> int:
        self._track(1)
        try:
            with self.lock:
                n = sum(1 for kind, _, _ in self.calls if kind == "count")
                self.calls.append(("count", window, None))
            self.on_count(window, n)
            with self.lock:
                return len(self._in(window))
        finally:
            self._track(-1)

    def fetch(self, window: Window, page: Page) -> list[str]:
        self._track(1)
        try:
            with self.lock:
                self.calls.append(("page", window, page.number))
            self.on_fetch(window, page)
            with self.lock:
                rows = self._in(window)
                return rows[page.start_position - 1 : page.start_position - 1 + page.max_results]
        finally:
            self._track(-1)

    def delete(self, value: str) -> None:
        with self.lock:
            self.rows.remove(value)


def pipeline_of(
    entity: FakeEntity,
    plan: list[Window],
    pool: ThreadPoolExecutor,
    *,
    fetch: t.Callable[[Window, Page], list[str]] | None = None,
    page_size: int = 2,
    chunk_pages: int = 2,
    max_in_flight: int = 4,
    **options: t.Any,
) -> WindowPipeline[str]:
    """A pipeline over the fake's rows (their values are their replication keys)."""
    return WindowPipeline(
        plan,
        count=entity.count,
        fetch=fetch or entity.fetch,
        mark=lambda rows: rows[-1] if rows else None,
        executor=pool,
        max_in_flight=max_in_flight,
        page_size=page_size,
        chunk_pages=chunk_pages,
        max_churn_restarts=5,
        **options,
    )


def run(
    entity: FakeEntity,
    plan: list[Window],
    *,
    page_size: int = 2,
    chunk_pages: int = 2,
    max_in_flight: int = 4,
    committed: dt.datetime | None = None,
) -> t.Iterator[t.Any]:
    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        yield from pipeline_of(
            entity,
            plan,
            pool,
            page_size=page_size,
            chunk_pages=chunk_pages,
            max_in_flight=max_in_flight,
            committed=committed,
        )


def run_chained(
    first: FakeEntity,
    first_plan: list[Window],
    second: FakeEntity,
    second_plan: list[Window],
    *,
    max_in_flight: int,
) -> list[t.Any]:
    """Both pipelines' events, the second the first's successor (one pool, shared slots)."""
    in_flight: set[t.Any] = set()
    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        head, tail = (
            pipeline_of(
                entity,
                plan,
                pool,
                chunk_pages=10,
                max_in_flight=max_in_flight,
                in_flight=in_flight,
            )
            for entity, plan in ((first, first_plan), (second, second_plan))
        )
        head.successor = tail
        return [*head, *tail]


def check_state_never_ahead(events: list[t.Any]) -> list[str]:
    """The rows in emission order; asserts every Verified is at or before a row already seen."""
    rows: list[str] = []
    for event in events:
        if isinstance(event, list):
            rows.extend(event)
        elif isinstance(event, Verified):
            assert rows
            assert event.value <= max(rows)
    return rows


def test_rows_in_order_windows_done_and_empty_windows_counted_once():
    entity = FakeEntity([*range(0, 40, 2), *range(3 * 86400, 3 * 86400 + 9)])
    plan = plan_windows(DAY, DAY + dt.timedelta(days=5), 1)
    together = threading.Barrier(3, timeout=WAIT)

    def on_fetch(window: Window, page: Page) -> None:
        if window == plan[0] and page.number <= 3:
            together.wait()  # pages 1-3 are in flight at once (or this breaks)

    entity.on_fetch = on_fetch
    events = list(run(entity, plan, max_in_flight=3))
    rows = check_state_never_ahead(events)
    assert rows == entity.rows  # every row once, in order
    done = [e for e in events if isinstance(e, WindowDone)]
    assert [d.window for d in done] == plan
    assert [d.rows for d in done] == [20, 0, 0, 9, 0]
    verified = [e.value for e in events if isinstance(e, Verified)]
    assert verified == sorted(verified)
    assert verified[-1] == rows[-1]
    counts = [window for kind, window, _ in entity.calls if kind == "count"]
    # 20 rows: 10 pages, 5 chunks of 2 -> 1 + 5 counts; 9 rows: 5 pages, 3 chunks -> 1 + 3;
    # three empty windows: one count each.
    assert len(counts) == 6 + 4 + 3
    assert entity.max_in_flight == 3


def test_next_chunk_pages_go_out_while_the_verifying_count_is_in_flight():
    entity = FakeEntity(range(20))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    chunk2_emitted = threading.Event()
    chunk1_received = threading.Event()

    def on_count(window: Window, n: int) -> None:
        if n == 1:  # the first verifying count: hold it until chunk 2's rows are out
            assert chunk1_received.is_set()
            chunk2_emitted.wait(WAIT)

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 2:
            chunk1_received.set()  # (set just before page 2 answers)

    entity.on_count = on_count
    entity.on_fetch = on_fetch
    order: list[str] = []
    for event in run(entity, plan, page_size=2, chunk_pages=2):
        if isinstance(event, list):
            order.append("rows")
            if event[0] >= stamp(4):  # a row of chunk 2 (pages 3-4)
                chunk2_emitted.set()
        elif isinstance(event, Verified):
            order.append(f"verified {event.value}")
    # Chunk 2 (rows 4..7) was emitted before chunk 1 (rows 0..3) was verified.
    first_verified = order.index(f"verified {stamp(3)}")
    assert order[:first_verified].count("rows") >= 3
    calls = entity.calls
    verify = next(i for i, c in enumerate(calls) if c[0] == "count" and i > 0)
    # The verifying count went out only after both pages of chunk 1 were requested.
    assert {c[2] for c in calls[:verify] if c[0] == "page"} >= {1, 2}


def test_failed_verification_after_the_next_chunk_was_emitted_restarts_and_loses_nothing():
    seconds = list(range(24))
    entity = FakeEntity(seconds)
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    chunk3_emitted = threading.Event()
    victim = stamp(5)  # a row of chunk 2: deleting it shifts every later offset by one

    def on_count(window: Window, n: int) -> None:
        if n == 2:  # the second verifying count (chunk 2): rows moved meanwhile
            chunk3_emitted.wait(WAIT)
            entity.delete(victim)

    entity.on_count = on_count
    events: list[t.Any] = []
    for event in run(entity, plan, page_size=2, chunk_pages=2):
        events.append(event)
        if isinstance(event, list) and event[0] >= stamp(8):  # chunk 3 (rows 8..11)
            chunk3_emitted.set()
    rows = check_state_never_ahead(events)
    restart = next(i for i, e in enumerate(events) if isinstance(e, Restarted))
    before = [r for e in events[:restart] if isinstance(e, list) for r in e]
    assert stamp(8) in before  # the next chunk's rows were emitted before the count returned
    event = events[restart]
    assert isinstance(event, Restarted)
    assert (event.expected, event.found) == (24, 23)
    committed = [e.value for e in events[:restart] if isinstance(e, Verified)]
    assert committed == [stamp(3)]  # chunk 1 only: chunk 2 was never verified
    assert event.resume.start == DAY + dt.timedelta(seconds=3)
    after = [r for e in events[restart:] if isinstance(e, list) for r in e]
    assert after[0] == stamp(3)  # re-read from the committed bookmark (inclusive)
    assert set(entity.rows) <= set(rows)  # nothing lost
    assert rows[-1] == stamp(23)
    assert isinstance(events[-1], WindowDone)


def test_next_window_is_counted_while_the_last_pages_are_in_flight():
    entity = FakeEntity([*range(10), *range(86400, 86410)])
    plan = plan_windows(DAY, DAY + dt.timedelta(days=2), 1)
    second_counted = threading.Event()
    seen: list[bool] = []

    def on_count(window: Window, n: int) -> None:
        if window == plan[1]:
            second_counted.set()

    def on_fetch(window: Window, page: Page) -> None:
        if window == plan[0] and page.number == 5:  # the last page of the first window
            seen.append(second_counted.wait(WAIT))

    entity.on_count = on_count
    entity.on_fetch = on_fetch
    events = list(run(entity, plan, page_size=2, chunk_pages=10, max_in_flight=4))
    assert check_state_never_ahead(events) == entity.rows
    assert seen == [True]  # the second window's count went out before that page answered
    assert [e.window for e in events if isinstance(e, WindowDone)] == plan


def test_a_failing_page_raises_at_its_turn_after_committing_what_was_verified():
    entity = FakeEntity(range(20))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 4:
            msg = "boom"
            raise RuntimeError(msg)

    entity.on_fetch = on_fetch
    events: list[t.Any] = []
    with pytest.raises(RuntimeError, match="boom"):
        events.extend(run(entity, plan, page_size=2, chunk_pages=2))
    rows = check_state_never_ahead(events)
    assert rows == [stamp(s) for s in range(6)]  # pages 1-3, in order, then the failure
    assert [e.value for e in events if isinstance(e, Verified)] == [stamp(3)]


def test_resumes_after_the_committed_bookmark():
    entity = FakeEntity(range(10))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    events = list(run(entity, plan, committed=DAY + dt.timedelta(seconds=6)))
    assert check_state_never_ahead(events) == [stamp(s) for s in range(6, 10)]
    assert entity.calls[0] == ("count", Window(DAY + dt.timedelta(seconds=6), plan[0].end), None)


def test_rows_that_never_settle_fail_the_window():
    entity = FakeEntity(range(200))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    deleted = iter(range(199, -1, -1))

    def on_count(window: Window, n: int) -> None:
        if n:  # every verifying count finds one row fewer
            entity.delete(stamp(next(deleted)))

    entity.on_count = on_count
    with pytest.raises(WindowFailedError, match="rows kept changing"):
        list(run(entity, plan, page_size=2, chunk_pages=2))


def test_the_successor_starts_while_the_last_verification_is_in_flight():
    first = FakeEntity(range(6))
    second = FakeEntity(range(4))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    second_started = threading.Event()
    seen: list[bool] = []

    def on_count(window: Window, n: int) -> None:
        if n == 1:  # the first pipeline's last verification
            seen.append(second_started.wait(WAIT))

    first.on_count = on_count
    second.on_fetch = lambda window, page: second_started.set()
    events = run_chained(first, plan, second, plan, max_in_flight=4)
    assert seen == [True]  # the next pipeline's pages went out before the verification returned
    rows = check_state_never_ahead(events)
    assert rows == first.rows + second.rows
    assert len([e for e in events if isinstance(e, WindowDone)]) == 2


def test_the_successors_first_counts_go_before_the_last_pages():
    # Once every window is counted and the pages left fit in the slots, the next stream's
    # first count goes before them: its answer is back by the time this stream's last
    # pages free their slots. Here the next-to-last page is held until that count came.
    first = FakeEntity(range(12))
    second = FakeEntity([*range(4), *range(86400, 86403)])
    counted = threading.Event()
    seen: list[bool] = []

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 5:
            seen.append(counted.wait(WAIT))

    first.on_fetch = on_fetch
    second.on_count = lambda window, n: counted.set()
    events = run_chained(
        first,
        [Window(DAY, DAY + dt.timedelta(days=1))],
        second,
        plan_windows(DAY, DAY + dt.timedelta(days=2), 1),
        max_in_flight=2,
    )
    assert seen == [True]
    # Each of the next stream's windows still has its first count and one verification.
    assert sum(1 for call in second.calls if call[0] == "count") == 2 + 2
    assert check_state_never_ahead(events) == first.rows + second.rows


def test_no_slot_is_held_back_for_a_verification_that_cannot_go_yet():
    # The last chunk's verification can only go once its last page is answered, and then
    # it takes the slot that page frees: meanwhile the other slot serves the next stream.
    first = FakeEntity(range(6))
    second = FakeEntity(range(4))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    second_fetched = threading.Event()
    seen: list[bool] = []

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 3:  # the first stream's last page
            seen.append(second_fetched.wait(WAIT))

    first.on_fetch = on_fetch
    second.on_fetch = lambda window, page: second_fetched.set()
    events = run_chained(first, plan, second, plan, max_in_flight=2)
    assert seen == [True]  # the next stream's page went out while the last page was held
    assert check_state_never_ahead(events) == first.rows + second.rows


class Rows(list):  # type: ignore[type-arg]  # a list that can be weakly referenced
    pass


def test_emitted_pages_are_not_kept_while_their_chunk_waits_for_its_verification():
    entity = FakeEntity(range(20))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    checked = threading.Event()
    refs: dict[int, weakref.ref[Rows]] = {}
    fetch = entity.fetch

    def fetch_rows(window: Window, page: Page) -> Rows:
        rows = Rows(fetch(window, page))
        refs[page.number] = weakref.ref(rows)
        return rows

    def on_count(window: Window, n: int) -> None:
        if n == 1:  # hold the first verification until the test has looked
            checked.wait(WAIT)

    entity.on_count = on_count
    alive: list[int] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        run = pipeline_of(entity, plan, pool, fetch=fetch_rows, chunk_pages=10, max_in_flight=2)
        emitted = 0
        for event in run:
            if isinstance(event, list):
                emitted += 1
                del event
                if emitted == 5:  # half of the only chunk: nothing verified yet
                    gc.collect()
                    alive = [n for n in range(1, 5) if refs[n]() is not None]
                    checked.set()
    assert alive == []
    assert checked.is_set()


def test_small_windows_are_counted_together_and_one_page_needs_no_second_count():
    # Five windows of 3 rows, one page each: their first counts go out together (the
    # first count held until the others are in), and none is counted a second time.
    entity = FakeEntity(
        s for day in range(5) for s in (day * 86400, day * 86400 + 1, day * 86400 + 2)
    )
    plan = plan_windows(DAY, DAY + dt.timedelta(days=5), 1)
    others = threading.Barrier(4, timeout=WAIT)

    def on_count(window: Window, n: int) -> None:
        if window in plan[:4]:
            others.wait()  # windows 1-4 are counted at once (or this breaks)

    entity.on_count = on_count
    events = list(run(entity, plan, page_size=5, max_in_flight=4))
    assert check_state_never_ahead(events) == entity.rows
    assert [e.window for e in events if isinstance(e, WindowDone)] == plan
    counts = [window for kind, window, _ in entity.calls if kind == "count"]
    assert sorted(counts, key=lambda w: w.start) == plan  # one count each
    assert [e.value for e in events if isinstance(e, Verified)] == [
        stamp(day * 86400 + 2) for day in range(5)
    ]


def test_windows_are_not_counted_ahead_of_pages_that_fill_the_slots():
    # Windows of 10 one-row pages: the next window is counted only once the pages left
    # to send (of the windows before it) fit in the slots, so counts are not taken long
    # before their pages are read.
    entity = FakeEntity(s for day in range(4) for s in range(day * 86400, day * 86400 + 10))
    plan = plan_windows(DAY, DAY + dt.timedelta(days=4), 1)
    max_in_flight = 3
    events = list(run(entity, plan, page_size=1, chunk_pages=20, max_in_flight=max_in_flight))
    assert check_state_never_ahead(events) == entity.rows
    calls = entity.calls
    for k, window in enumerate(plan[1:], start=1):
        first = next(i for i, c in enumerate(calls) if c[0] == "count" and c[1] == window)
        unsent = sum(1 for c in calls[first:] if c[0] == "page" and c[1] in plan[:k])
        assert unsent <= max_in_flight, (k, unsent)


def test_a_window_counted_in_planning_sends_only_its_verifying_counts():
    # The plan's count is the window's first count: its pages go out at once, and each
    # chunk is still verified by a count of its own (never by the plan's number again).
    entity = FakeEntity(range(10))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        events = list(pipeline_of(entity, plan, pool, counted={plan[0]: 10}))
    assert check_state_never_ahead(events) == entity.rows
    assert entity.calls[0] == ("page", plan[0], 1)  # no first count
    counts = [call for call in entity.calls if call[0] == "count"]
    assert len(counts) == 3  # 5 pages, chunks of 2: three verifications


def test_a_counted_window_whose_rows_moved_is_restarted():
    # The plan counted 10; one row left before the pages were read: the first
    # verification finds 9, and the window is read again from its start.
    entity = FakeEntity(range(10))
    entity.delete(stamp(7))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        events = list(pipeline_of(entity, plan, pool, counted={plan[0]: 10}))
    restarted = [e for e in events if isinstance(e, Restarted)]
    assert [(e.expected, e.found) for e in restarted] == [(10, 9)]
    assert set(check_state_never_ahead(events)) == set(entity.rows)


def test_the_successor_starts_when_every_page_is_sent_and_the_buffer_is_full():
    # The first stream's first page is slow: its other pages are in, waiting behind it, and
    # fill its buffer. Every request of it has been sent, so the next stream takes the
    # free slots meanwhile (within the chain's budget of pages).
    first = FakeEntity(range(12))  # 6 pages: max_buffered for 4 in flight
    second = FakeEntity(range(4))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    second_fetched = threading.Event()
    seen: list[bool] = []

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 1:
            seen.append(second_fetched.wait(WAIT))

    first.on_fetch = on_fetch
    second.on_fetch = lambda window, page: second_fetched.set()
    events = run_chained(first, plan, second, plan, max_in_flight=4)
    assert seen == [True]
    assert check_state_never_ahead(events) == first.rows + second.rows


def test_the_successor_uses_the_chain_budget_while_the_last_verification_is_out():
    # While the first stream waits for its last verification, the next one may hold more
    # pages than there are slots (the chain's budget: twice max_buffered), so the slots
    # do not idle behind a count.
    first = FakeEntity(range(4))
    second = FakeEntity(range(20))  # 10 pages
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    fetched = threading.Semaphore(0)
    seen: list[bool] = []

    def on_count(window: Window, n: int) -> None:
        if n == 1:  # the first stream's verification: held until 6 pages of the next are in
            seen.append(all(fetched.acquire(timeout=WAIT) for _ in range(6)))

    first.on_count = on_count
    second.on_fetch = lambda window, page: fetched.release()
    events = run_chained(first, plan, second, plan, max_in_flight=2)
    assert seen == [True]  # 6 pages > 2 slots (the old cap: max_in_flight)
    assert check_state_never_ahead(events) == first.rows + second.rows


# -- a budget shared with other pipelines (companies read at once) ---------------------------


class WatchedBudget(ReadAhead):
    """The run's budget; `waiting` is set when a pipeline waits for it."""

    def __init__(self, limit: int, reserve: int) -> None:
        super().__init__(limit, reserve)
        self.waiting = threading.Event()

    def wait(self, rows: int) -> None:
        self.waiting.set()
        super().wait(rows)


def test_a_pipeline_not_iterated_yet_reads_ahead_only_the_budget_less_the_reserve():
    entity = FakeEntity(range(20))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    budget = WatchedBudget(limit=6, reserve=4)  # 2 rows (one page) may be read ahead
    with ThreadPoolExecutor(max_workers=4) as pool:
        ahead = pipeline_of(entity, plan, pool, counted={plan[0]: 20}, budget=budget)
        ahead.prefill(0)  # 4 slots free, one page fits: the others wait, nothing blocks
        pool.submit(lambda: None).result()
        assert [call for call in entity.calls if call[0] == "page"] == [("page", plan[0], 1)]
        assert budget.held == 2
        ahead.close()
    assert budget.held == 0  # a pipeline that will not be iterated gives its pages back
    assert not budget.waiting.is_set()


def test_rows_held_never_exceed_the_budget_shared_by_two_pipelines():
    # Rows fetched and not consumed yet, of both pipelines together, stay within the
    # budget whatever the timing; every row arrives once, and everything is given back.
    budget = WatchedBudget(limit=6, reserve=2)
    entities = [FakeEntity(range(40)), FakeEntity(range(30))]
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    lock = threading.Lock()
    outstanding = [0]
    peak = [0]
    got: list[list[str]] = [[], []]

    def fetching(entity: FakeEntity) -> t.Callable[[Window, Page], list[str]]:
        def fetch(window: Window, page: Page) -> list[str]:
            rows = entity.fetch(window, page)
            with lock:
                outstanding[0] += len(rows)
                peak[0] = max(peak[0], outstanding[0])
            return rows

        return fetch

    def consume(index: int, pool: ThreadPoolExecutor) -> None:
        entity = entities[index]
        run = pipeline_of(
            entity, plan, pool, fetch=fetching(entity), max_in_flight=4, budget=budget
        )
        for event in run:
            if isinstance(event, list):
                with lock:
                    outstanding[0] -= len(event)
                got[index].extend(event)

    with ThreadPoolExecutor(max_workers=4) as one, ThreadPoolExecutor(max_workers=4) as two:
        threads = [
            threading.Thread(target=consume, args=(i, pool)) for i, pool in enumerate((one, two))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert got == [entities[0].rows, entities[1].rows]
    assert 0 < peak[0] <= budget.limit
    assert budget.peak <= budget.limit
    assert budget.held == 0


def test_a_pipeline_waits_while_others_hold_the_budget_then_reads_on():
    entity = FakeEntity(range(8))
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    budget = WatchedBudget(limit=4, reserve=2)
    assert budget.try_take(4, ahead=False)  # another company's rows, not written yet
    events: list[t.Any] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        run = pipeline_of(entity, plan, pool, counted={plan[0]: 8}, budget=budget)
        reader = threading.Thread(target=lambda: events.extend(run))
        reader.start()
        assert budget.waiting.wait(WAIT)
        assert entity.calls == []  # no page went out without its rows in the budget
        budget.release(4)  # those rows are written
        reader.join(WAIT)
    assert check_state_never_ahead(events) == entity.rows
    assert budget.held == 0


def test_pages_dropped_by_a_failure_or_a_restart_are_given_back():
    plan = [Window(DAY, DAY + dt.timedelta(days=1))]
    failing = FakeEntity(range(20))

    def on_fetch(window: Window, page: Page) -> None:
        if page.number == 4:
            msg = "boom"
            raise RuntimeError(msg)

    failing.on_fetch = on_fetch
    budget = ReadAhead(limit=8, reserve=2)
    with ThreadPoolExecutor(max_workers=4) as pool, pytest.raises(RuntimeError, match="boom"):
        list(pipeline_of(failing, plan, pool, counted={plan[0]: 20}, budget=budget))
    assert budget.held == 0

    moved = FakeEntity(range(10))
    moved.delete(stamp(7))  # counted 10 by the plan, 9 when verified: read again
    with ThreadPoolExecutor(max_workers=4) as pool:
        events = list(pipeline_of(moved, plan, pool, counted={plan[0]: 10}, budget=budget))
    assert [type(e) for e in events].count(Restarted) == 1
    assert set(check_state_never_ahead(events)) == set(moved.rows)
    assert budget.held == 0
