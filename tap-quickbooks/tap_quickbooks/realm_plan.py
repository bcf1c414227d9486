"""How each stream of one company is read this run, decided and prepared in one round trip.

Intuit meters reads, so the first stream of a realm plans the run of every selected
stream of that realm at once and spends as few requests as it can:

- **CDC**: every stream that QuickBooks' change feed serves and that was read completely
  less than 30 days ago (minus a margin) is read from a single `/cdc` request for all of
  them. An answer that reaches the 1,000-object cap is split (the entities in two halves,
  again as needed); an entity that alone fills the cap is read by query windows.
- **Batch**: the singletons (`SELECT *`), the first page of every other stream that was
  read before (most runs find fewer rows than a page: the stream is then done), and the
  `COUNT(*)` of every stream read for the first time go out as `/batch` statements, 30 to
  a request.
- **Windows**: everything else (a backfill, a stream CDC cannot serve, a page that came
  back full) is read by verified query windows; the count from the batch sizes them.

Once the counts are in, the streams that fit in a page are read in `/batch` requests that
are not waited for: planning ends while they are in flight, so the first pages of the
large streams go out in the same wave (see `QuickBooksStream`), and each small stream
waits for its own batch only when its turn comes (:meth:`RealmPlan.settle`).

Deletes of transactions come from the same `/cdc` request: for a stream read by windows
its deletes are asked from the moment they were last checked (clamped to CDC's 30 days).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import typing as t

from tap_quickbooks import connection, envelope, query, records, windows
from tap_quickbooks.errors import AuthError, RetriesExhaustedError, TapQuickBooksError

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from tap_quickbooks.connection import RealmConnection, RequestStats
    from tap_quickbooks.settings import Settings

logger = logging.getLogger("tap-quickbooks.plan")

CDC_WINDOW = dt.timedelta(days=30)  # Intuit: CDC tracks changes within the last 30 days
# CDC is never asked further back than CDC_WINDOW less this (a clock behind QuickBooks' by up
# to an hour, or a company that counts the 30 days in its own time zone, still gets a start it
# covers).
CDC_SKEW_MARGIN = dt.timedelta(hours=1)
# Margin for clock skew between this machine and QuickBooks, and for changes committed
# with a time slightly before the moment they became visible.
CHECK_MARGIN = dt.timedelta(minutes=5)
# Margin under QuickBooks' own time of a /cdc answer (no skew: changes still committing).
CDC_MARGIN = dt.timedelta(seconds=60)
CHUNK_PAGES = 25  # pages between two verifying COUNT(*) requests of a window (and commits)
# Pages of one window at most (STARTPOSITION stays below 100,000 at 1,000 rows a page). The
# verifying counts do not depend on it (one per chunk), so a backfill reads as few windows
# as this allows: no partial pages and no empty windows between them.
MAX_WINDOW_PAGES = 4 * CHUNK_PAGES
# Streams that fit in one page are read during planning, in /batch: at most this many pages
# of rows in one answer, and this many pages of rows held until their streams' turn.
SMALL_PAGES_PER_BATCH = 2
SMALL_PAGES_HELD = 10
CHECKED_THROUGH = "checked_through"  # the stream is complete up to here (state key)
DELETES_CHECKED_AT = "deletes_checked_at"  # deletes are reported up to here (state key)


def cdc_since(wanted: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The `changedSince` to ask for changes since `wanted`: never older than CDC covers.

    QuickBooks documents CDC as covering the last 30 days; an older start is answered either
    silently or with a 400 fault ("... older than fixed days is not supported"), depending on
    the company. So the start is clamped to `now` - 30 days + a margin for clock skew.
    """
    oldest = (now - CDC_WINDOW + CDC_SKEW_MARGIN).replace(microsecond=0)
    return max(wanted, oldest)


class StreamFacts(t.Protocol):
    """What the plan needs to know of a stream (its class attributes)."""

    @property
    def name(self) -> str: ...

    @property
    def entity(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def cdc(self) -> bool: ...

    @property
    def tombstones(self) -> bool: ...

    @property
    def include_inactive(self) -> bool: ...


@dataclasses.dataclass
class Route:
    """How one stream of one realm is read this run, and what was read for it already."""

    # "rows": `held` is all there is; "windows": query windows from `start`; "single": one
    # `SELECT *` (a singleton whose planning batch failed); "batch": a planning `/batch`
    # request is reading its rows (`pending`), "rows" (or "windows") once settled
    mode: str
    start: dt.datetime
    end: dt.datetime
    entity: str = ""
    include_inactive: bool = False
    held: envelope.Held | None = None  # the rows read by the plan ("rows")
    count: int | None = None  # COUNT(*) of [start, end), when counted
    # The windows to read and their counts, when the plan counted them (a backfill).
    windows: list[tuple[windows.Window, int]] | None = None
    tombstones: list[dict[str, t.Any]] = dataclasses.field(default_factory=list)
    checked_through: dt.datetime | None = None  # after success, complete up to here
    deletes_checked_at: dt.datetime | None = None  # after success, deletes known to here
    warnings: list[str] = dataclasses.field(default_factory=list)
    pending: Future[None] | None = dataclasses.field(default=None, repr=False, compare=False)

    def hold(self, objects: t.Sequence[t.Any], source: envelope.Source) -> None:
        """Keep the rows of an answer for the stream's turn ("rows")."""
        self.held = envelope.Held(objects, source)
        self.mode = "rows"

    @property
    def held_rows(self) -> int:
        """How many rows are kept."""
        return self.held.count if self.held is not None else 0

    def take_rows(self) -> list[dict[str, t.Any]]:
        """The records of the rows kept (once: they are let go)."""
        held, self.held = self.held, None
        return held.records() if held is not None else []


def _parse(value: t.Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    with contextlib.suppress(ValueError):
        return windows.to_utc(dt.datetime.fromisoformat(value))
    return None


def bookmark_of(state: dict[str, t.Any]) -> dt.datetime | None:
    """The row bookmark (`replication_key_value`) of a partition state."""
    if state.get("replication_key") != "last_updated_time":
        return None
    return _parse(state.get("replication_key_value"))


def checkpoint_of(state: dict[str, t.Any]) -> dt.datetime | None:
    """The moment up to which a stream is known complete (bookmark or `checked_through`)."""
    found = [m for m in (bookmark_of(state), _parse(state.get(CHECKED_THROUGH))) if m]
    return max(found) if found else None


class RealmPlan:
    """The routes of every selected stream of one realm for this run."""

    def __init__(
        self,
        conn: RealmConnection,
        settings: Settings,
        run_started_at: dt.datetime,
        stats: RequestStats,
    ) -> None:
        """Nothing is requested before :meth:`prepare`."""
        self.conn = conn
        self.settings = settings
        self.now = run_started_at
        self.stats = stats
        self._requests_logged = 0
        self._logging = threading.Lock()
        self.routes: dict[str, Route] = {}
        self.prepared = False
        # Why a planning request failed after its retries (the first window attempt of the
        # stream that planned, for its circuit breaker).
        self.failure: RetriesExhaustedError | None = None
        self._lock = threading.Lock()

    # -- deciding --------------------------------------------------------------------------

    def prepare(
        self, streams: t.Sequence[tuple[StreamFacts, dict[str, t.Any]]]
    ) -> dict[str, Route]:
        """Decide and prepare the route of each `(stream, its partition state)`, once."""
        with self._lock:
            if not self.prepared:
                self._prepare(streams)
                self.prepared = True
            return self.routes

    def _prepare(self, streams: t.Sequence[tuple[StreamFacts, dict[str, t.Any]]]) -> None:
        settings = self.settings
        end = settings.end_date or self.now
        live = settings.end_date is None or settings.end_date >= self.now
        horizon = cdc_since(dt.datetime.min.replace(tzinfo=dt.UTC), self.now)
        cdc_rows: list[StreamFacts] = []
        cdc_deletes: list[tuple[StreamFacts, dt.datetime]] = []
        batch: list[tuple[StreamFacts, str, str]] = []  # (stream, what, statement)
        for stream, state in streams:
            checkpoint = checkpoint_of(state)
            start = max(settings.start_date, checkpoint) if checkpoint else settings.start_date
            route = Route("windows", start, end, stream.entity, stream.include_inactive)
            self.routes[stream.name] = route
            if stream.kind == "singleton":
                route.mode = "rows"
                batch.append((stream, "all", query.select_all(stream.entity)))
                continue
            if start >= end:
                route.mode = "rows"
                continue
            use_cdc = (
                stream.cdc
                and settings.use_cdc
                and live
                and checkpoint is not None
                and checkpoint >= horizon
            )
            deletes_wanted = None
            if stream.tombstones and settings.include_deletes and checkpoint is not None:
                # Deletes are unchecked since they were last checked (else since the rows
                # the last run emitted: its bookmark).
                deletes_wanted = (
                    _parse(state.get(DELETES_CHECKED_AT)) or bookmark_of(state) or checkpoint
                )
            if use_cdc:
                cdc_rows.append(stream)
                if deletes_wanted is not None and deletes_wanted < start:
                    cdc_deletes.append((stream, deletes_wanted))
                continue
            rng = query.Range(start, end)
            if checkpoint is None:
                text = query.count_query(
                    stream.entity, rng, include_inactive=stream.include_inactive
                )
                batch.append((stream, "count", text))
            else:
                text = query.select_query(
                    stream.entity,
                    rng,
                    start_position=1,
                    max_results=settings.page_size,
                    include_inactive=stream.include_inactive,
                )
                batch.append((stream, "page", text))
            if stream.tombstones and settings.include_deletes:
                if deletes_wanted is None:
                    # A first read: nothing emitted earlier can have been deleted.
                    route.deletes_checked_at = self.now - CHECK_MARGIN
                else:
                    cdc_deletes.append((stream, deletes_wanted))
        futures = []
        executor = self.conn.executor
        for group in _chunks(batch, connection.MAX_BATCH_ITEMS):
            futures.append(executor.submit(self._run_batch, group))
        if cdc_rows or cdc_deletes:
            futures.append(executor.submit(self._run_cdc, cdc_rows, cdc_deletes))
        for future in futures:
            future.result()
        # The small streams' batches are not waited for (each stream settles its own), and
        # the windows of the large streams are counted meanwhile.
        self._read_small()
        self._count_windows()
        modes = [route.mode for route in self.routes.values()]
        logger.info(
            "Plan realm=%s streams=%d cdc=%d read_by_plan=%d windows=%d requests=%d",
            self.conn.realm_id,
            len(modes),
            len(cdc_rows),
            modes.count("rows") + modes.count("batch"),
            modes.count("windows"),
            self.stats.requests,
        )

    def requests_not_logged(self) -> int:
        """The plan's requests sent since the last call (for the streams' request metrics)."""
        with self._logging:
            sent = self.stats.requests
            unlogged, self._requests_logged = sent - self._requests_logged, sent
        return unlogged

    def settle(self, route: Route) -> None:
        """Wait until the planning `/batch` reading `route`'s rows (if any) is answered.

        The route is then "rows" (or "windows" when that batch failed after its retries, or
        found more rows than counted). A refused statement raises here, at the stream's turn.
        """
        pending, route.pending = route.pending, None
        if pending is not None:
            pending.result()

    # -- small streams of a backfill -------------------------------------------------------

    def _read_small(self) -> None:
        """Send a `/batch` read of every stream counted at one page or less; do not wait.

        Up to 30 streams go in one request, as long as their rows fit in
        `SMALL_PAGES_PER_BATCH` pages; the rows wait for their stream's turn (at most
        `SMALL_PAGES_HELD` pages of them; the other small streams read their page then).
        Each of those routes is "batch" until :meth:`settle`; the requests count in the
        connection's `in_flight`, so that the windows sent meanwhile leave them their slots.
        Not when `window_days` is set: then every stream reads (and logs) its windows.
        """
        if not self.settings.merge_windows:
            return  # window_days set: every stream reads its windows (and logs them)
        page = self.settings.page_size
        held = 0
        groups: list[list[tuple[Route, str]]] = [[]]
        rows_in: list[int] = [0]
        for route in self.routes.values():
            count = route.count
            if route.mode != "windows" or count is None or not 0 < count <= page:
                continue
            if held + count > SMALL_PAGES_HELD * page:
                break
            held += count
            if (
                len(groups[-1]) >= connection.MAX_BATCH_ITEMS
                or rows_in[-1] + count > SMALL_PAGES_PER_BATCH * page
            ):
                groups.append([])
                rows_in.append(0)
            text = query.select_query(
                route.entity,
                query.Range(route.start, route.end),
                start_position=1,
                max_results=page,
                include_inactive=route.include_inactive,
            )
            groups[-1].append((route, text))
            rows_in[-1] += count

        def run(group: list[tuple[Route, str]]) -> None:
            try:
                answers, _ = self.conn.batch(
                    [text for _, text in group], self.stats, [route.entity for route, _ in group]
                )
            except RetriesExhaustedError as exc:  # those streams read their page themselves
                logger.warning(
                    "Reading small streams of realm %s failed (%s)", self.conn.realm_id, exc
                )
                for route, _ in group:
                    route.mode = "windows"
                return
            for (route, text), answer in zip(group, answers, strict=True):
                objects = answer.get(route.entity) or []
                if len(objects) > (route.count or 0):
                    # (rows only leave a window that ends before the run started)
                    route.mode = "windows"
                    continue
                source = envelope.Source(
                    realm_id=self.conn.realm_id,
                    window_start=route.start.isoformat(),
                    window_end=route.end.isoformat(),
                    request_payload=self.conn.request_payload(
                        "batch", {"query": text, "start_position": 1, "max_results": page}
                    ),
                    page_number=1,
                    page_size=page,
                )
                route.hold(objects, source)
                route.checked_through = route.end - CHECK_MARGIN

        for group in groups:
            if not group:
                continue
            for route, _ in group:
                route.mode = "batch"  # before the request can answer (and set "rows")
            future = self.conn.executor.submit(run, group)
            self.conn.in_flight.add(future)
            for route, _ in group:
                route.pending = future

    # -- windows of a backfill -------------------------------------------------------------

    def _count_windows(self) -> None:
        """Count the windows of every large stream at once (`/batch`) and merge them.

        A stream of up to `MAX_WINDOW_PAGES` pages is one window (its count is known); a
        larger one is cut into `window_days` windows, counted 30 to a request, and adjacent
        windows are merged while they fit in `MAX_WINDOW_PAGES`: each window costs its pages
        and a verifying count per chunk, and an empty one nothing.
        """
        page = self.settings.page_size
        todo: list[tuple[Route, windows.Window, str]] = []
        for route in self.routes.values():
            if route.mode != "windows" or route.count is None or route.count <= page:
                continue
            if route.count <= MAX_WINDOW_PAGES * page and self.settings.merge_windows:
                route.windows = [(windows.Window(route.start, route.end), route.count)]
                continue
            for window in windows.plan_windows(route.start, route.end, self.settings.window_days):
                text = query.count_query(
                    route.entity, window.range, include_inactive=route.include_inactive
                )
                todo.append((route, window, text))
        if not todo:
            return
        counts: dict[tuple[int, windows.Window], int] = {}

        def run(group: list[tuple[Route, windows.Window, str]]) -> None:
            answers, _ = self.conn.batch([text for _, _, text in group], self.stats)
            for (route, window, _), answer in zip(group, answers, strict=True):
                counts[(id(route), window)] = _total(answer)

        futures = [
            self.conn.executor.submit(run, group)
            for group in _chunks(todo, connection.MAX_BATCH_ITEMS)
        ]
        try:
            for future in futures:
                future.result()
        except RetriesExhaustedError as exc:
            logger.warning(
                "Counting windows for realm %s failed (%s); each stream counts its own",
                self.conn.realm_id,
                exc,
            )
            return
        for route in {id(r): r for r, _, _ in todo}.values():
            merged: list[tuple[windows.Window, int]] = []
            group: list[tuple[windows.Window, int]] = []
            for window in windows.plan_windows(route.start, route.end, self.settings.window_days):
                n = counts[(id(route), window)]
                if n == 0:
                    continue
                total = sum(c for _, c in group) + n
                limit = MAX_WINDOW_PAGES if self.settings.merge_windows else 0
                if group and -(-total // page) > limit:
                    merged.append(_merge(group))
                    group = []
                group.append((window, n))
            if group:
                merged.append(_merge(group))
            route.windows = merged

    # -- batch -----------------------------------------------------------------------------

    def _run_batch(self, group: list[tuple[StreamFacts, str, str]]) -> None:
        try:
            answers, _ = self.conn.batch(
                [text for _, _, text in group],
                self.stats,
                [None if what == "count" else stream.entity for stream, what, _ in group],
            )
        except RetriesExhaustedError as exc:
            # A statement QuickBooks refuses is final (QueryFaultError, raised); after failed
            # retries each stream reads on its own (and fails there, with its own message).
            self.failure = exc
            logger.warning(
                "Planning batch for realm %s failed (%s); each stream is read on its own",
                self.conn.realm_id,
                exc,
            )
            for stream, what, _ in group:
                self.routes[stream.name].mode = "single" if what == "all" else "windows"
            return
        for (stream, what, text), answer in zip(group, answers, strict=True):
            route = self.routes[stream.name]
            if what == "count":
                total = answer.get("totalCount", 0)
                if not isinstance(total, int) or total < 0:
                    msg = f"QuickBooks answered COUNT(*) of {stream.entity} with {total!r}"
                    raise TapQuickBooksError(msg)
                route.count = total
                if total == 0:
                    route.mode = "rows"
                    route.checked_through = route.end - CHECK_MARGIN
                continue
            objects = answer.get(stream.entity) or []
            if what == "page" and len(objects) >= self.settings.page_size:
                continue  # more than a page changed: read by windows
            source = envelope.Source(
                realm_id=self.conn.realm_id,
                window_start=route.start.isoformat() if what == "page" else None,
                window_end=route.end.isoformat() if what == "page" else None,
                request_payload=self.conn.request_payload(
                    "batch", {"query": text, "start_position": 1}
                ),
                page_number=1,
                page_size=self.settings.page_size,
            )
            route.hold(objects, source)
            if what == "page":
                route.checked_through = route.end - CHECK_MARGIN

    # -- CDC -------------------------------------------------------------------------------

    def _run_cdc(
        self,
        rows: list[StreamFacts],
        deletes: list[tuple[StreamFacts, dt.datetime]],
    ) -> None:
        """One `/cdc` request for every stream that needs one (split at the cap)."""
        since_of: dict[str, dt.datetime] = {}
        wanted_of: dict[str, dt.datetime] = {}
        for stream in rows:
            since_of[stream.entity] = self.routes[stream.name].start
        for stream, wanted in deletes:
            wanted_of[stream.entity] = wanted
            since = cdc_since(wanted, self.now)
            if since > wanted:
                self._warn_old_deletes(stream, wanted, since)
            since_of[stream.entity] = min(since, since_of.get(stream.entity, since))
        by_entity = {s.entity: s for s in rows} | {s.entity: s for s, _ in deletes}
        since = min(since_of.values())
        try:
            answers = self._cdc_split(list(since_of), since)
        except AuthError:
            raise
        except TapQuickBooksError as exc:
            # The change feed refused: rows are read by windows; deletes stay unchecked from
            # where they were, for the next run.
            for stream in by_entity.values():
                route = self.routes[stream.name]
                entity = stream.entity
                if stream in rows:
                    route.warnings.append(
                        f"{stream.name} for realm {self.conn.realm_id}: CDC from "
                        f"{since_of[entity].isoformat()} failed ({exc}); reading query windows"
                    )
                if stream.tombstones and self.settings.include_deletes:
                    route.warnings.append(
                        f"Deletes of {stream.name} for realm {self.conn.realm_id} were not "
                        f"checked this run (CDC from {since_of[entity].isoformat()} failed: "
                        f"{exc}); the rows and the state are saved, and the next run checks "
                        "deletes again."
                    )
                    route.deletes_checked_at = wanted_of.get(entity, since_of[entity])
            return
        read_rows = {s.entity for s in rows}
        for entity, (answer, capped) in answers.items():
            stream = by_entity[entity]
            route = self.routes[stream.name]
            server_now = answer.server_time or self.now
            checked = max(server_now - CDC_MARGIN, since_of[entity])
            # QuickBooks' clock decides what CDC still covers (this machine's may differ).
            stale = server_now - since_of[entity] > CDC_WINDOW - CHECK_MARGIN
            objects = answer.objects.get(entity, [])
            live = [o for o in objects if not envelope.is_tombstone(o)]
            dead = [o for o in objects if envelope.is_tombstone(o) and o.get("Id")]
            window_start = since_of[entity].isoformat()
            window_end = server_now.isoformat()
            if stream.tombstones and self.settings.include_deletes:
                source = envelope.Source(
                    realm_id=self.conn.realm_id,
                    window_start=window_start,
                    window_end=window_end,
                    request_payload=answer.request_payload,
                    deleted=True,
                )
                route.tombstones = envelope.envelopes(
                    envelope.object_rows(records.strip_nul(o) for o in dead), source
                )
                route.deletes_checked_at = checked
                if server_now - since_of[entity] > CDC_WINDOW:  # QuickBooks' clock ahead
                    self._warn_old_deletes(stream, since_of[entity], since_of[entity])
                if capped:
                    route.warnings.append(
                        f"CDC returned {len(objects)} objects for {stream.name} realm "
                        f"{self.conn.realm_id} (its limit is {connection.CDC_MAX_OBJECTS}): some "
                        "deletes may be missing; run `qbo-warehouse reconcile --mark-deleted` "
                        "to check"
                    )
            if entity not in read_rows or capped or stale:
                continue  # rows: by windows
            source = envelope.Source(
                realm_id=self.conn.realm_id,
                window_start=window_start,
                window_end=window_end,
                request_payload=answer.request_payload,
            )
            route.hold(live, source)
            route.checked_through = checked

    def _warn_old_deletes(
        self, stream: StreamFacts, wanted: dt.datetime, since: dt.datetime
    ) -> None:
        self.routes[stream.name].warnings.append(
            f"Deletes of {stream.name} for realm {self.conn.realm_id} were last checked "
            f"at {wanted.isoformat()}, more than 30 days ago: QuickBooks CDC covers only the "
            f"last 30 days, so deletes were read from {since.isoformat()}. "
            f"{stream.entity} objects deleted before then may be missing: run "
            "`qbo-warehouse reconcile --mark-deleted` (make reconcile ARGS=--mark-deleted), "
            "a full id reconciliation, to mark those rows deleted."
        )

    def _cdc_split(
        self, entities: list[str], since: dt.datetime
    ) -> dict[str, tuple[connection.CdcAnswer, bool]]:
        """`entity -> (its answer, whether that answer alone filled the cap)`."""
        answer = self.conn.cdc(entities, since, self.stats)
        if answer.total < connection.CDC_MAX_OBJECTS:
            return {entity: (answer, False) for entity in entities}
        if len(entities) == 1:
            return {entities[0]: (answer, True)}
        half = len(entities) // 2
        logger.info(
            "CDC answer for realm %s reached %d objects: asking for %d and %d entities apart",
            self.conn.realm_id,
            answer.total,
            half,
            len(entities) - half,
        )
        del answer
        return self._cdc_split(entities[:half], since) | self._cdc_split(entities[half:], since)


def _merge(group: list[tuple[windows.Window, int]]) -> tuple[windows.Window, int]:
    """Adjacent counted windows as one (the empty ones between them included)."""
    return windows.Window(group[0][0].start, group[-1][0].end), sum(n for _, n in group)


def _total(answer: dict[str, t.Any]) -> int:
    total = answer.get("totalCount", 0)
    if not isinstance(total, int) or total < 0:
        msg = f"QuickBooks answered COUNT(*) with {total!r}"
        raise TapQuickBooksError(msg)
    return total


def _chunks(items: list[t.Any], size: int) -> list[list[t.Any]]:
    """`items` in consecutive groups of at most `size`, as even as possible."""
    if not items:
        return []
    groups = -(-len(items) // size)
    per = -(-len(items) // groups)
    return [items[i : i + per] for i in range(0, len(items), per)]
