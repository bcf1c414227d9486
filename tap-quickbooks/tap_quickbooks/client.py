"""The base stream: glue between the SDK, the realm plan and the verified window pipeline.

A stream declares what it is (`entity`, `kind`, `cdc`, `tombstones`); this class knows
what that means. The connection (`connection.py`) talks to QuickBooks, the plan
(`realm_plan.py`) decides how each stream is read this run, and records are built by
`envelope.py` only.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import gc
import threading
import time
import typing as t
from dataclasses import dataclass

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform
from typing_extensions import override

from tap_quickbooks import (
    connection,
    envelope,
    limits,
    pagination,
    pipeline,
    query,
    realm_plan,
    realms,
    records,
    windows,
)
from tap_quickbooks.base import RealmStream
from tap_quickbooks.connection import (
    RealmConnection,
    RequestStats,
    close_connections,
    gc_paused,
)
from tap_quickbooks.envelope import ENVELOPE_SCHEMA
from tap_quickbooks.errors import QueryFaultError, RetriesExhaustedError, WindowFailedError
from tap_quickbooks.realm_metrics import log_requests
from tap_quickbooks.sdk_internals import partition_state

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_quickbooks.settings import Settings

__all__ = [
    "ENVELOPE_SCHEMA",
    "KINDS",
    "QuickBooksStream",
    "RealmConnection",
    "RequestStats",
    "StreamTotals",
    "close_connections",
]

CHUNK_PAGES = realm_plan.CHUNK_PAGES  # pages between two verifying counts (and commits)
PREFETCH_DEPTH = 3  # pipelines of the next streams prepared ahead (see _prefetch_next)
MAX_CHURN_RESTARTS = 5  # restarts of a window in a row without the bookmark moving
KINDS = ("name_list", "transaction", "singleton")


@dataclass
class StreamTotals:
    """Volumetry of one stream and realm."""

    rows: int = 0
    windows: int = 0
    restarts: int = 0
    tombstones: int = 0


class QuickBooksStream(RealmStream):
    """One QBO entity of every configured company, keyed by `(realm_id, id)`.

    The stream-list contract (every stream of `streams.STREAM_TYPES` declares these; the
    table is always `raw.qb_<name>`):

    - `name`: snake_case plural; `entity`: QuickBooks' name of the entity;
    - `kind`: "name_list" (inactive rows included), "transaction" (hard-deleted in
      QuickBooks) or "singleton" (one object per company, read again every run);
    - `cdc`: QuickBooks' change feed serves the entity;
    - `tombstones`: deletes reach the table as tombstones (`_sdc_deleted_at`).

    Declared as class keywords on a subclass (`class X(QuickBooksStream, kind=...)`) or as
    class attributes. Rows are read by the realm plan (CDC or `/batch`) or by verified
    windows: bookmarks move only after a chunk of pages has been emitted and a second
    COUNT(*) of the window shows that no row left it meanwhile (in a window that ends
    before the run started rows can only leave, so an unchanged count proves that no
    offset shifted).
    """

    entity: t.ClassVar[str]
    kind: t.ClassVar[str] = "transaction"
    cdc: t.ClassVar[bool] = True
    tombstones: t.ClassVar[bool] = True
    include_inactive: t.ClassVar[bool] = False  # `Active IN (true, false)` in every query
    primary_keys: t.ClassVar[list[str]] = ["realm_id", "id"]
    replication_key = "last_updated_time"
    is_sorted = True
    schema = ENVELOPE_SCHEMA
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are built JSON-ready

    def __init_subclass__(
        cls,
        *,
        kind: str | None = None,
        cdc: bool | None = None,
        tombstones: bool | None = None,
        include_inactive: bool | None = None,
        **kwargs: t.Any,
    ) -> None:
        """Set the declared behaviour; unset flags follow from the kind.

        A name list includes inactive rows and has no tombstones (QuickBooks deactivates
        names); a transaction has tombstones when CDC serves it; a singleton is neither
        served by CDC nor deleted.
        """
        super().__init_subclass__(**kwargs)
        if kind is not None:
            if kind not in KINDS:
                msg = f"{cls.__name__}: kind must be one of {KINDS}, not {kind!r}"
                raise TypeError(msg)
            cls.kind = kind
            cls.include_inactive = kind == "name_list"
            cls.cdc = kind != "singleton"
        if cdc is not None:
            cls.cdc = cdc
        if include_inactive is not None:
            cls.include_inactive = include_inactive
        if tombstones is not None:
            cls.tombstones = tombstones
        elif kind is not None or cdc is not None:
            cls.tombstones = cls.kind == "transaction" and cls.cdc

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up per-run bookkeeping."""
        super().__init__(*args, **kwargs)
        self._committed: dict[str, dt.datetime] = {}
        self._maps_read_payload: bool | None = None
        settings: Settings | None = getattr(self.tap, "settings", None)
        overrides = settings.entity_overrides.get(self.entity, {}) if settings else {}
        for flag, value in overrides.items():  # facts Intuit leaves open, set by the user
            setattr(self, flag, value)

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Decode the pre-encoded payload when a stream map has to look inside it.

        This runs before the SDK evaluates map filters, so filters see it decoded too.
        """
        row = t.cast("dict[str, t.Any]", super().post_process(row, context))  # counted per realm
        if self._maps_read_payload is None:
            self._maps_read_payload = self._stream_maps_read_payload()
        if self._maps_read_payload:
            payload = row.get("payload")
            if isinstance(payload, records.RawJSON):
                row["payload"] = payload.value()
        return row

    def _stream_maps_read_payload(self) -> bool:
        """True when a stream map flattens records or evaluates an expression or filter.

        Renaming the stream (`__alias__`, `__source__`), removing properties or the stream
        and `__key_properties__` never look inside a record's values.
        """
        maps = self.stream_maps
        if any(stream_map.flattening_enabled for stream_map in maps):
            return True
        if all(isinstance(m, SameRecordTransform | RemoveRecordTransform) for m in maps):
            return False
        mapper = self.tap.mapper
        for key, definition in (mapper.stream_maps_dict if mapper else {}).items():
            if not isinstance(definition, dict):
                continue
            if not fnmatch.fnmatchcase(self.name, str(definition.get("__source__", key))):
                continue
            for prop, expression in definition.items():
                if prop in {"__alias__", "__source__", "__key_properties__"}:
                    continue
                if expression is not None and expression != "__NULL__":
                    return True
        return False

    def _selected_in_order(self) -> list[tuple[QuickBooksStream, dict[str, t.Any]]]:
        """`(stream, partition)` of every selected stream, in the order the SDK syncs them."""
        return [
            (stream, partition)
            for stream in self.tap.streams.values()
            if isinstance(stream, QuickBooksStream) and stream.selected
            for partition in stream.partitions or []
        ]

    def _route(self, realm: str) -> realm_plan.Route:
        """The route of this stream in the realm's plan (planned for every stream on first use)."""
        plan = self.connections.plan(realm)
        if not plan.prepared:
            streams = [
                (stream, partition_state(self.tap, stream.name, partition))
                for stream, partition in self._selected_in_order()
                if partition["realm_id"] == realm
            ]
            if self not in [s for s, _ in streams]:
                streams.append((self, partition_state(self.tap, self.name, {"realm_id": realm})))
            plan.prepare(streams)
        routes = plan.routes
        if self.name not in routes:  # not selected when planned (e.g. a direct call)
            state = partition_state(self.tap, self.name, {"realm_id": realm})
            start = realm_plan.checkpoint_of(state) or self.settings.start_date
            routes[self.name] = realm_plan.Route(
                "windows",
                max(start, self.settings.start_date),
                self.settings.end_date or self.connections.run_started_at,
                self.entity,
                self.include_inactive,
            )
        return routes[self.name]

    def _bookmark(self, context: Context) -> dt.datetime | None:
        return realm_plan.bookmark_of(self.get_context_state(context))

    def _commit(self, context: Context, value: str) -> None:
        """Move the bookmark to `value` (never backwards) and emit STATE."""
        realms.on_sync_thread(lambda: self._commit_now(context, value))

    def _commit_now(self, context: Context, value: str) -> None:
        realm = context["realm_id"]
        moment = dt.datetime.fromisoformat(value)
        if realm in self._committed and moment <= self._committed[realm]:
            return
        self._committed[realm] = moment
        state = self.get_context_state(context)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.emit_state()

    def _plan(self, route: realm_plan.Route) -> list[windows.Window]:
        """The windows of a windows route: as few as its counts allow."""
        if route.mode != "windows" or route.start >= route.end or route.count == 0:
            return []
        if route.windows is not None:  # counted and merged by the plan
            return [window for window, _ in route.windows]
        if route.count is not None and route.count <= self.settings.page_size:
            return [windows.Window(route.start, route.end)]
        return windows.plan_windows(route.start, route.end, self.settings.window_days)

    def _pipeline(
        self,
        conn: RealmConnection,
        plan: list[windows.Window],
        stats: RequestStats,
        committed: dt.datetime | None,
        counted: dict[windows.Window, int] | None = None,
    ) -> pipeline.WindowPipeline[dict[str, t.Any]]:
        settings = self.settings
        counter = WindowCounter(self, conn, stats, plan, asked=counted or {})
        return pipeline.WindowPipeline(
            plan,
            count=counter,
            fetch=self._page_fetcher(conn, stats),
            mark=_last_updated,
            executor=conn.executor,
            max_in_flight=settings.max_concurrent_requests,
            page_size=settings.page_size,
            chunk_pages=CHUNK_PAGES,
            max_churn_restarts=MAX_CHURN_RESTARTS,
            committed=committed,
            in_flight=conn.in_flight,
            counted=counted,
            budget=realms.budget(self),
        )

    def _windows_of(
        self, route: realm_plan.Route, committed: dt.datetime | None
    ) -> tuple[list[windows.Window], dict[windows.Window, int]]:
        """The plan of a windows route and the counts already known for it."""
        plan = self._plan(route)
        counted: dict[windows.Window, int] = {}
        if committed is None and route.windows is not None:
            counted = dict(route.windows)
        elif len(plan) == 1 and route.count is not None and committed is None:
            counted[plan[0]] = route.count
        return plan, counted

    def _prefetch_next(
        self, context: Context, depth: int = PREFETCH_DEPTH
    ) -> pipeline.WindowPipeline[t.Any] | None:
        """Prepare the pipeline of the next stream that reads windows, and of `depth` - 1 more.

        Each is the successor of the one before: a pipeline gives its successor the slots
        it leaves free, so the short streams of a backfill overlap instead of each waiting
        for its own verifying count (at most `depth` pipelines buffer pages ahead).
        """
        order = self._selected_in_order()
        if realms.active(self):  # each realm has its own reader: the same realm's next stream
            order = [(s, c) for s, c in order if c["realm_id"] == context["realm_id"]]
        here = [i for i, (s, c) in enumerate(order) if s is self and c == dict(context)]
        if not here:
            return None
        # The next stream that reads windows (those read by the plan need no requests).
        for stream, partition in order[here[0] + 1 :]:
            realm = partition["realm_id"]
            plan_of_realm = stream.connections.plan(realm)
            if not plan_of_realm.prepared:
                return None
            route = plan_of_realm.routes.get(stream.name)
            # (a route still being read by a planning batch is skipped: it will be "rows")
            if route is not None and route.mode == "windows" and route.pending is None:
                break
        else:
            return None
        conn = stream.connections.get(realm)
        bookmark = realm_plan.bookmark_of(partition_state(self.tap, stream.name, partition))
        plan, counted = stream._windows_of(route, bookmark)
        if not plan:
            return None
        existing = conn.prefetched.get(stream.name)
        if existing is not None and (existing[0].plan, existing[0].committed) == (plan, bookmark):
            run = existing[0]
        else:
            stats = RequestStats()
            run = stream._pipeline(conn, plan, stats, bookmark, counted)
            old = conn.prefetched.pop(stream.name, None)
            if old is not None:
                old[0].close()
            conn.prefetched[stream.name] = (run, stats)
        if depth > 1:
            # Also when `run` was prepared by an earlier stream, with fewer streams after it:
            # the chain reaches `depth` streams ahead of this one (existing pipelines reused).
            found = stream._prefetch_next(partition, depth - 1)
            if found is not None:
                run.successor = found
        return run

    @override
    def drop_realm(self, context: Context) -> None:
        """What was read ahead for a company that will not be read (its token failed)."""
        realm = context["realm_id"]
        route = self.connections.plan(realm).routes.get(self.name)
        if route is not None:
            route.take_rows()
            route.tombstones = []
        found = self.connections.get(realm).prefetched.pop(self.name, None)
        if found is not None:
            found[0].close()

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        if realms.active(self):
            yield from realms.records(self, dict(context), self._realm_records)
        else:
            yield from self._realm_records(context)

    def _realm_records(self, context: Context) -> t.Iterator[dict[str, t.Any]]:
        """The records of one realm."""
        realm = context["realm_id"]
        conn = self.connections.get(realm)
        totals = StreamTotals()
        started = time.monotonic()
        plan_of_realm = self.connections.plan(realm)
        preparing = not plan_of_realm.prepared
        route = self._route(realm)
        prior = plan_of_realm.failure if preparing else None
        if route.mode != "windows":
            # The rows are (or are being) read by the plan: meanwhile the next streams that
            # read windows send their first requests, so that no slot waits for this one.
            successor = self._prefetch_next(context)
            if successor is not None and route.pending is not None:
                successor.prefill_until(route.pending)
            elif successor is not None:
                successor.prefill(0)
            plan_of_realm.settle(route)
        # The plan's requests (/batch, /cdc) of the company, each counted once: by the stream
        # that planned, and the later ones (small streams' reads answered since) by the stream
        # that sees them answered.
        plan_requests = plan_of_realm.requests_not_logged()
        if plan_requests:
            log_requests(self.name, realm, f"/v3/company/{realm}", plan_requests)
        for warning in route.warnings:
            self.logger.warning("%s", warning)

        bookmark = self._bookmark(context)
        if bookmark is not None:
            self._committed[realm] = bookmark
        stats = RequestStats()
        if route.mode == "single":
            answer = conn.query(query.select_all(self.entity), stats)
            source = envelope.Source(
                realm_id=realm,
                window_start=None,
                window_end=None,
                request_payload=conn.request_payload(
                    "query", {"query": query.select_all(self.entity)}
                ),
            )
            route.hold(answer.get(self.entity) or [], source)
        if route.mode == "rows":
            self.logger.info(
                "Extracting %s for realm %s from %s to %s: read by the plan (%d rows, %d "
                "tombstones)",
                self.name,
                realm,
                route.start.isoformat(),
                route.end.isoformat(),
                route.held_rows,
                len(route.tombstones),
            )
            # (companies read at once: the rows count against the read-ahead budget from now
            # until they are written)
            credits = realms.take(self, route.held_rows)
            try:
                rows = route.take_rows()
                totals.rows = len(rows)
                yield from rows
            finally:
                realms.passed(self, credits)
            # Every change up to the plan's answer is emitted: the newest row is the bookmark
            # (CDC does not promise an order).
            stamps = [r["last_updated_time"] for r in rows if r["last_updated_time"]]
            value = max(stamps) if stamps and self.kind != "singleton" else None
            if value is not None and (bookmark is None or value > bookmark.isoformat()):
                self._commit(context, value)
        else:
            plan, counted = self._windows_of(route, bookmark)
            self.logger.info(
                "Extracting %s for realm %s from %s to %s in %d windows",
                self.name,
                realm,
                route.start.isoformat(),
                route.end.isoformat(),
                len(plan),
            )
            # Started while the previous stream finished, for this very plan (else dropped).
            first, stats = conn.prefetched.pop(self.name, (None, RequestStats()))
            if first is not None and (first.plan, first.committed) != (plan, bookmark):
                first.close()
                first, stats = None, RequestStats()
            with gc_paused():
                yield from self._sync_windows(
                    conn, context, plan, stats, totals, first, counted, prior
                )
            route.checked_through = route.end - realm_plan.CHECK_MARGIN
        tombstones, route.tombstones = route.tombstones, []
        totals.tombstones = len(tombstones)
        yield from tombstones
        self._checkpoint(context, route)

        log_requests(self.name, realm, f"/v3/company/{realm}", stats.requests)
        self.logger.info(
            "Summary %s realm=%s rows=%d windows=%d requests=%d retries=%d throttles=%d "
            "restarts=%d tombstones=%d seconds=%.1f",
            self.name,
            realm,
            totals.rows,
            totals.windows,
            stats.requests,
            stats.retries,
            stats.throttles,
            totals.restarts,
            totals.tombstones,
            time.monotonic() - started,
        )

    def _checkpoint(self, context: Context, route: realm_plan.Route) -> None:
        """Record how far the stream (and its deletes) is complete, after a success."""
        realms.on_sync_thread(lambda: self._checkpoint_now(context, route))

    def _checkpoint_now(self, context: Context, route: realm_plan.Route) -> None:
        state = self.get_context_state(context)
        changed = False
        for key, moment in (
            (realm_plan.CHECKED_THROUGH, route.checked_through),
            (realm_plan.DELETES_CHECKED_AT, route.deletes_checked_at),
        ):
            if moment is None or self.kind == "singleton":
                continue
            moment = moment.replace(microsecond=0)
            old = realm_plan.checkpoint_of({"checked_through": state.get(key)})
            if old is None or moment > old:
                state[key] = moment.isoformat()
                changed = True
        if changed:
            self.emit_state()

    def _sync_windows(
        self,
        conn: RealmConnection,
        context: Context,
        plan: list[windows.Window],
        stats: RequestStats,
        totals: StreamTotals,
        first: pipeline.WindowPipeline[dict[str, t.Any]] | None = None,
        counted: dict[windows.Window, int] | None = None,
        prior: RetriesExhaustedError | None = None,
    ) -> t.Iterator[dict[str, t.Any]]:
        """Emit every row of the windows in order, committing at verified points.

        A window that keeps failing is retried from the last verified bookmark (with a
        back-off) until it fails `max_window_failures` times in a row. `first`: the
        pipeline for `plan` if one was started already.
        """
        realm = context["realm_id"]
        settings = self.settings
        todo = list(plan)
        failures = 0
        started = time.monotonic()
        successor = self._prefetch_next(context)
        while todo:
            try:
                if prior is not None:  # the planning request was this window's first attempt
                    failed, prior = prior, None
                    raise failed
                conn.auth.clear_failure()  # a failed token refresh is tried again per attempt
                run = first or self._pipeline(
                    conn, todo, stats, self._committed.get(realm), counted if todo == plan else None
                )
                first = None
                run.successor = successor
                for event in run:
                    if isinstance(event, list):
                        yield from event
                    elif isinstance(event, pipeline.Verified):
                        self._commit(context, event.value)
                    elif isinstance(event, pipeline.WindowDone):
                        todo.pop(0)
                        failures = 0
                        totals.windows += 1
                        totals.rows += event.rows
                        self.logger.info(
                            "Window %s realm=%s window=%s pages=%d rows=%d seconds=%.2f",
                            self.name,
                            realm,
                            event.window.label,
                            event.pages,
                            event.rows,
                            time.monotonic() - started,
                        )
                        started = time.monotonic()
                        gc.collect(0)  # the few cycles a window leaves (e.g. retried errors)
                    else:
                        totals.restarts += 1
                        self.logger.info(
                            "%s realm=%s: COUNT(*) changed %d -> %d while paging %s; re-reading "
                            "from the last verified bookmark %s",
                            self.name,
                            realm,
                            event.expected,
                            event.found,
                            event.paged.label,
                            event.resume.start.isoformat(),
                        )
            except (RetriesExhaustedError, WindowFailedError) as exc:
                failures += 1
                resume = todo[0].starting_at(self._committed.get(realm, todo[0].start))
                if failures >= settings.max_window_failures:
                    msg = (
                        f"{self.name}, realm {realm}: window {resume.label} failed "
                        f"{failures} times in a row (setting max_window_failures); last error: "
                        f"{exc}. State is kept at the last verified bookmark; rerun to resume "
                        f"from {resume.start.isoformat()}"
                    )
                    raise WindowFailedError(msg) from None
                delay = limits.backoff_delay(failures + 2)
                self.logger.warning(
                    "%s realm=%s window %s failed (%d/%d): %s; retrying the window in %.0f s",
                    self.name,
                    realm,
                    resume.label,
                    failures,
                    settings.max_window_failures,
                    exc,
                    delay,
                )
                limits.sleep(delay)

    def _page_fetcher(
        self, conn: RealmConnection, stats: RequestStats
    ) -> t.Callable[[windows.Window, pagination.Page], list[dict[str, t.Any]]]:
        realm = conn.realm_id
        entity = self.entity
        page_size = self.settings.page_size
        inactive = self.include_inactive

        def fetch(window: windows.Window, page: pagination.Page) -> list[dict[str, t.Any]]:
            text = query.select_query(
                entity,
                window.range,
                start_position=page.start_position,
                max_results=page.max_results,
                include_inactive=inactive,
            )
            source = envelope.Source(
                realm_id=realm,
                window_start=window.start.isoformat(),
                window_end=window.end.isoformat(),
                request_payload=conn.request_payload(
                    "query",
                    {
                        "query": text,
                        "start_position": page.start_position,
                        "max_results": page.max_results,
                    },
                ),
                page_number=page.number,
                page_size=page_size,
            )

            def spliced(body: bytes) -> list[dict[str, t.Any]] | None:
                # Each payload is the row's bytes as received: nothing is parsed beyond the
                # few envelope fields, nothing re-encoded. None: parse the page as a whole.
                rows = records.split_page(body, entity)
                if rows is None:
                    return None
                return envelope.envelopes(
                    (
                        (head.Id, head.SyncToken, head.last_updated(), records.RawJSON(data))
                        for head, data in rows
                    ),
                    source,
                )

            def parsed(response: dict[str, t.Any]) -> list[dict[str, t.Any]]:
                # Each payload is encoded here, once: the parsed page is dropped right after.
                return envelope.envelopes(envelope.object_rows(response.get(entity) or []), source)

            return conn.query_decoded(text, stats, parsed, spliced)

        return fetch


class WindowCounter:
    """`COUNT(*)` of windows for the pipeline: first counts in `/batch`, 30 at a time.

    The first count of a planned window is asked together with those of the next planned
    windows (one request for up to 30 windows, most of them empty in a long backfill);
    a count asked again (the verifying count of a chunk) or of a window not planned (the
    rest of a window after a restart) is a query of its own.
    """

    def __init__(
        self,
        stream: QuickBooksStream,
        conn: RealmConnection,
        stats: RequestStats,
        plan: list[windows.Window],
        asked: t.Iterable[windows.Window] = (),
    ) -> None:
        """Count the windows of `plan`; `asked`: those whose first count the pipeline has.

        Every count of those is a verifying count (a request of its own, never a count
        remembered from planning).
        """
        self._stream = stream
        self._conn = conn
        self._stats = stats
        self._plan = list(plan)
        self._known: dict[windows.Window, int] = {}  # first counts batched ahead, used once
        self._asked: set[windows.Window] = set(asked)
        self._lock = threading.Lock()

    def _text(self, window: windows.Window) -> str:
        stream = self._stream
        return query.count_query(
            stream.entity, window.range, include_inactive=stream.include_inactive
        )

    def __call__(self, window: windows.Window) -> int:
        """The row count of `window`."""
        with self._lock:
            if window in self._known:
                return self._known.pop(window)
            if window not in self._asked and window in self._plan:
                i = self._plan.index(window)
                group = [w for w in self._plan[i:] if w not in self._asked]
                group = group[: connection.MAX_BATCH_ITEMS]
                if len(group) > 1:
                    answers, _ = self._conn.batch([self._text(w) for w in group], self._stats)
                    for w, answer in zip(group, answers, strict=True):
                        self._asked.add(w)
                        self._known[w] = _total(answer)
                    return self._known.pop(window)
            self._asked.add(window)
        return self._conn.count(self._text(window), self._stats)


def _total(answer: dict[str, t.Any]) -> int:
    total = answer.get("totalCount", 0)
    if not isinstance(total, int) or total < 0:
        msg = f"QuickBooks answered COUNT(*) with {total!r}"
        raise QueryFaultError(msg)
    return total


def _last_updated(rows: list[dict[str, t.Any]]) -> str | None:
    """The replication key of the last of `rows` that has one."""
    for row in reversed(rows):
        value = row["last_updated_time"]
        if value:
            return t.cast("str", value)
    return None
