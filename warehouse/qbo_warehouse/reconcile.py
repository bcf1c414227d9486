"""Reconcile the raw tables with QuickBooks: per stream and window, QBO `COUNT(*)` vs Postgres.

QuickBooks is asked through the tap's own modules (settings, token store, connection, query
text, windows), so a reconcile run refreshes tokens exactly as the tap does and leaves the
latest rotated refresh token in the same token store.

Every stream of the tap is covered (`qbo_warehouse.streams`). For every realm, name-list or
transaction stream and window of `[start_date, end_date)` (cut like the tap's):

* QuickBooks: ``SELECT COUNT(*)`` over the tap's WHERE clause (inactive rows included for
  name lists);
* Postgres: distinct live keys (``_sdc_deleted_at IS NULL``) whose `last_updated_time` lies
  in the window, and duplicate keys (rows minus distinct keys).

Name lists are also compared on their inactive rows over the whole range (``Active = false``
in QuickBooks, `payload->>'Active'` in Postgres). Singletons (CompanyInfo, Preferences) are read
whole, whatever their LastUpdatedTime, and compared id by id and SyncToken by SyncToken. Report
streams are not counted (``--reports`` compares their totals with QuickBooks' answer again).

The dbt statements are compared with the loaded reports too (`qbo_warehouse.statements`, no
QuickBooks request): by default when the analytics models and a report table exist,
``--statements`` to require it, ``--no-statements`` to skip it, ``--statements-only`` for it
alone.

A window whose counts differ is then compared id by id: ids QuickBooks has and Postgres lacks
(*missing*, or *stale* when Postgres holds an older version of the row in another window), and
ids Postgres has and QuickBooks does not place in the window (*stale* when the id still exists
upstream, *deleted upstream* when it does not). ``--full`` compares ids in every window;
``--mark-deleted`` does that and sets `_sdc_deleted_at` on the rows deleted upstream (the path
for gaps longer than the 30 days QuickBooks' change data capture covers).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import typing as t
from urllib.parse import quote

import psycopg
from psycopg import sql
from tap_quickbooks import pagination, query, windows
from tap_quickbooks.auth import Store, open_store
from tap_quickbooks.connection import MAX_BATCH_ITEMS, RealmConnection, RequestStats
from tap_quickbooks.errors import SettingError, TapQuickBooksError
from tap_quickbooks.settings import load_settings

from qbo_warehouse import reports as report_totals
from qbo_warehouse import statements
from qbo_warehouse.db import DsnError, connect
from qbo_warehouse.streams import NAME_LIST, SINGLETON, STREAMS, Stream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from tap_quickbooks.settings import Settings

ENV_PREFIX = "TAP_QUICKBOOKS_"
TARGET_ENV_PREFIX = "TARGET_POSTGRES_"
TAP_SETTINGS = (
    "client_id",
    "client_secret",
    "refresh_token",
    "realm_id",
    "environment",
    "api_url",
    "auth_url",
    "start_date",
    "end_date",
    "window_days",
    "page_size",
    "minor_version",
    "token_store_path",
    "token_store_url",
    "max_requests_per_minute",
    "max_concurrent_requests",
    "request_timeout",
    "max_retries",
    "user_agent",
)
IDS_PER_QUERY = 100
SHOW_IDS = 20
"""Ids named per window and kind in the text report (the JSON report has them all)."""


class ReconcileError(Exception):
    """A setting or input problem: one line naming it, exit code 2."""


RECONCILED = tuple(s for s in STREAMS if s.is_entity)
"""The streams reconcile compares: every stream of QuickBooks objects (not reports)."""


@dataclasses.dataclass
class WindowResult:
    """The comparison of one realm, stream and window."""

    realm_id: str
    stream: str
    window: windows.Window | None
    """None for a singleton, read whole whatever its LastUpdatedTime."""
    qbo: int
    postgres: int
    duplicates: int = 0
    compared_ids: bool = False
    missing: list[str] = dataclasses.field(default_factory=list)
    stale: list[str] = dataclasses.field(default_factory=list)
    deleted_upstream: list[str] = dataclasses.field(default_factory=list)
    marked_deleted: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Counts agree, no duplicates, and (when compared) the same ids."""
        live = self.postgres - len(self.marked_deleted)
        unresolved = (
            self.missing or self.stale or set(self.deleted_upstream) - set(self.marked_deleted)
        )
        return self.qbo == live and not self.duplicates and not unresolved

    @property
    def status(self) -> str:
        """Short text for the report."""
        if self.ok:
            return "ok" if not self.marked_deleted else "ok (marked deleted)"
        parts = []
        live = self.postgres - len(self.marked_deleted)
        if live < self.qbo:
            parts.append(f"missing {self.qbo - live} row(s)")
        elif live > self.qbo:
            parts.append(f"{live - self.qbo} extra row(s)")
        if self.duplicates:
            parts.append(f"{self.duplicates} duplicate key(s)")
        if not parts:
            singleton_changed = self.window is None and self.stale
            parts.append("SyncTokens differ" if singleton_changed else "ids differ")
        return "MISMATCH: " + ", ".join(parts)

    @property
    def label(self) -> str:
        """The window as text (`whole object` for a singleton)."""
        return self.window.label if self.window else "whole object (read every run)"

    def as_dict(self) -> dict[str, t.Any]:
        """JSON-friendly view."""
        return {
            "realm_id": self.realm_id,
            "stream": self.stream,
            "window_start": self.window.start.isoformat() if self.window else None,
            "window_end": self.window.end.isoformat() if self.window else None,
            "qbo_count": self.qbo,
            "postgres_count": self.postgres,
            "duplicates": self.duplicates,
            "ok": self.ok,
            "compared_ids": self.compared_ids,
            "missing_ids": self.missing,
            "stale_ids": self.stale,
            "deleted_upstream_ids": self.deleted_upstream,
            "marked_deleted_ids": self.marked_deleted,
        }


@dataclasses.dataclass
class StreamReport:
    """Totals of one realm and stream."""

    realm_id: str
    stream: str
    kind: str
    table: str
    table_exists: bool
    windows: list[WindowResult]
    duplicate_keys: list[tuple[str, int]]
    before_range: int = 0
    after_range: int = 0
    tombstones: int = 0
    """Rows marked deleted (`_sdc_deleted_at` set), anywhere in time."""
    qbo_inactive: int | None = None
    postgres_inactive: int | None = None
    """Name lists: rows with `Active` false in the range (None for other kinds)."""

    @property
    def inactive_ok(self) -> bool:
        """Both sides count the same inactive rows (always true for other kinds)."""
        return self.qbo_inactive == self.postgres_inactive

    @property
    def ok(self) -> bool:
        """Every window matches, inactive rows agree and the table has no duplicate key."""
        return all(w.ok for w in self.windows) and not self.duplicate_keys and self.inactive_ok

    def as_dict(self) -> dict[str, t.Any]:
        """JSON-friendly view."""
        return {
            "realm_id": self.realm_id,
            "stream": self.stream,
            "kind": self.kind,
            "table": self.table,
            "table_exists": self.table_exists,
            "ok": self.ok,
            "qbo_rows": sum(w.qbo for w in self.windows),
            "postgres_rows": sum(w.postgres - len(w.marked_deleted) for w in self.windows),
            "windows": len(self.windows),
            "mismatched_windows": sum(not w.ok for w in self.windows),
            "duplicate_keys": [{"id": i, "rows": n} for i, n in self.duplicate_keys],
            "rows_before_start_date": self.before_range,
            "rows_after_end_date": self.after_range,
            "tombstones": self.tombstones,
            "qbo_inactive": self.qbo_inactive,
            "postgres_inactive": self.postgres_inactive,
            "window_results": [w.as_dict() for w in self.windows],
        }


@dataclasses.dataclass
class Report:
    """The whole reconciliation."""

    start: dt.datetime
    end: dt.datetime
    streams: list[StreamReport]
    requests: int = 0

    @property
    def ok(self) -> bool:
        """Everything matches."""
        return all(s.ok for s in self.streams)


# Settings ---------------------------------------------------------------------------------


def tap_config(path: str | None, environ: Mapping[str, str] | None = None) -> dict[str, t.Any]:
    """The tap's config: a JSON file (`-` = stdin) overlaid with `TAP_QUICKBOOKS_*` env vars."""
    environ = os.environ if environ is None else environ
    config: dict[str, t.Any] = {}
    if path:
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            loaded = json.loads(text)
        except OSError as exc:
            msg = f"tap-config: cannot read {path}: {exc.strerror or type(exc).__name__}"
            raise ReconcileError(msg) from None
        except ValueError:
            msg = f"tap-config: {path} is not a JSON object"
            raise ReconcileError(msg) from None
        if not isinstance(loaded, dict):
            msg = f"tap-config: {path} is not a JSON object"
            raise ReconcileError(msg)
        config.update(loaded)
    for name in TAP_SETTINGS:
        value = environ.get(ENV_PREFIX + name.upper())
        if value not in (None, ""):
            config[name] = value
    return config


def postgres_dsn(dsn: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The Postgres to check, from the first of these that is set.

    `--dsn`, `PG_DSN`, `TARGET_POSTGRES_SQLALCHEMY_URL`, then the target's separate settings
    `TARGET_POSTGRES_HOST`, `_PORT`, `_USER`, `_PASSWORD`, `_DATABASE`.
    """
    environ = os.environ if environ is None else environ
    for value in (dsn, environ.get("PG_DSN"), environ.get(TARGET_ENV_PREFIX + "SQLALCHEMY_URL")):
        if value and value.strip():
            return value.strip()
    host = environ.get(TARGET_ENV_PREFIX + "HOST", "").strip()
    if not host:
        msg = (
            "dsn: no Postgres connection given (pass --dsn, or set PG_DSN, "
            "TARGET_POSTGRES_SQLALCHEMY_URL or TARGET_POSTGRES_HOST)"
        )
        raise ReconcileError(msg)
    user = environ.get(TARGET_ENV_PREFIX + "USER", "").strip()
    password = environ.get(TARGET_ENV_PREFIX + "PASSWORD", "")
    port = environ.get(TARGET_ENV_PREFIX + "PORT", "").strip() or "5432"
    database = environ.get(TARGET_ENV_PREFIX + "DATABASE", "").strip()
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"postgresql://{auth + '@' if auth else ''}{host}:{port}/{quote(database, safe='')}"


def target_schema(schema: str | None, environ: Mapping[str, str] | None = None) -> str:
    """`--schema`, else `TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA`, else `raw`."""
    environ = os.environ if environ is None else environ
    return schema or environ.get(TARGET_ENV_PREFIX + "DEFAULT_TARGET_SCHEMA", "").strip() or "raw"


# QuickBooks side ---------------------------------------------------------------------------


class QuickBooks:
    """Counts and ids from one realm, through the tap's connection."""

    def __init__(self, settings: Settings, realm_id: str, store: Store) -> None:
        """Open the tap's realm connection (no request until the first call)."""
        self.settings = settings
        self.conn = RealmConnection(settings, realm_id, store)
        self.stats = RequestStats()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def ask(self, statements: Sequence[str]) -> list[dict[str, t.Any]]:
        """Each statement's `QueryResponse`, in order, `MAX_BATCH_ITEMS` to a `/batch` request."""
        answers: list[dict[str, t.Any]] = []
        for i in range(0, len(statements), MAX_BATCH_ITEMS):
            found, _ = self.conn.batch(statements[i : i + MAX_BATCH_ITEMS], self.stats)
            answers.extend(found)
        return answers

    def window_ids(self, stream: Stream, window: windows.Window, total: int) -> set[str]:
        """Ids in the window, read with the tap's pages (`total` = the window's count)."""
        ids: set[str] = set()
        size = self.settings.page_size
        for page in pagination.plan_pages(total, size):
            text = query.select_query(
                stream.entity,
                window.range,
                start_position=page.start_position,
                max_results=page.max_results,
                include_inactive=stream.include_inactive,
            )
            rows = self.conn.query(text, self.stats).get(stream.entity) or []
            ids.update(str(row["Id"]) for row in rows if isinstance(row, dict) and "Id" in row)
            if len(rows) < page.max_results:
                break
        return ids

    def existing(self, stream: Stream, ids: Iterable[str]) -> set[str]:
        """Which of `ids` still exist upstream (any LastUpdatedTime, any Active state)."""
        wanted = sorted(set(ids), key=_id_order)
        found: set[str] = set()
        entity = query.validate_entity(stream.entity)
        for i in range(0, len(wanted), IDS_PER_QUERY):
            chunk = wanted[i : i + IDS_PER_QUERY]
            values = ", ".join(query.quote_literal(v) for v in chunk)
            active = " AND Active IN (true, false)" if stream.include_inactive else ""
            text = (
                f"SELECT * FROM {entity} WHERE Id IN ({values}){active} "  # noqa: S608 - QBO query, quoted
                f"STARTPOSITION 1 MAXRESULTS {query.MAX_PAGE_SIZE}"
            )
            rows = self.conn.query(text, self.stats).get(stream.entity) or []
            found.update(str(row["Id"]) for row in rows if isinstance(row, dict) and "Id" in row)
        return found


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (1 << 62, value)


def count_statement(stream: Stream, window: windows.Window) -> str:
    """`COUNT(*)` of the window, with the tap's WHERE clause."""
    return query.count_query(stream.entity, window.range, include_inactive=stream.include_inactive)


def inactive_statement(stream: Stream, rng: query.Range) -> str:
    """`COUNT(*)` of the range's inactive rows (`Active = false`) of a name list."""
    return (
        f"SELECT COUNT(*) FROM {query.validate_entity(stream.entity)} "  # noqa: S608 - QBO query
        f"{query.where_clause(rng, include_inactive=False)} AND Active = false"
    )


def singleton_statement(stream: Stream) -> str:
    """Every object of a singleton entity (one per company), whatever its LastUpdatedTime."""
    return f"SELECT * FROM {query.validate_entity(stream.entity)}"  # noqa: S608 - validated


def _total(answer: dict[str, t.Any]) -> int:
    total = answer.get("totalCount", 0)
    if not isinstance(total, int) or total < 0:
        msg = f"QuickBooks answered COUNT(*) with {total!r}"
        raise TapQuickBooksError(msg)
    return total


def _versions(stream: Stream, answer: dict[str, t.Any]) -> dict[str, str]:
    rows = answer.get(stream.entity) or []
    return {
        str(row["Id"]): str(row.get("SyncToken"))
        for row in rows
        if isinstance(row, dict) and "Id" in row
    }


# Postgres side -----------------------------------------------------------------------------


class Table:
    """One raw table, read per realm."""

    def __init__(self, conn: psycopg.Connection[tuple[t.Any, ...]], schema: str, name: str) -> None:
        """Look the table up (it may not exist yet)."""
        self.conn = conn
        self.ident = sql.Identifier(schema, name)
        self.name = f"{schema}.{name}"
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (schema, name),
        ).fetchall()
        self.columns = {str(r[0]) for r in rows}
        self.exists = bool(self.columns)
        if self.exists:
            needed = {"realm_id", "id", "last_updated_time", "_sdc_deleted_at"}
            lacking = sorted(needed - self.columns)
            if lacking:
                msg = f"schema: table {self.name} has no column {', '.join(lacking)}"
                raise ReconcileError(msg)

    def buckets(
        self, realm: str, start: dt.datetime, end: dt.datetime, step: dt.timedelta
    ) -> dict[int, tuple[int, int]]:
        """`{window index: (live distinct keys, live rows)}`; -1 before start, -2 at/after end."""
        if not self.exists:
            return {}
        query_text = sql.SQL(
            "SELECT CASE WHEN last_updated_time < %(start)s THEN -1"
            " WHEN last_updated_time >= %(end)s THEN -2"
            " ELSE floor(extract(epoch FROM last_updated_time - %(start)s) / %(step)s)::bigint"
            " END AS bucket, count(DISTINCT id), count(*)"
            " FROM {table} WHERE realm_id = %(realm)s AND _sdc_deleted_at IS NULL"
            " GROUP BY 1"
        ).format(table=self.ident)
        rows = self.conn.execute(
            query_text,
            {"start": start, "end": end, "step": step.total_seconds(), "realm": realm},
        ).fetchall()
        return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}

    def ids_between(self, realm: str, window: windows.Window) -> set[str]:
        """Live ids with `last_updated_time` in the window."""
        if not self.exists:
            return set()
        rows = self.conn.execute(
            sql.SQL(
                "SELECT DISTINCT id FROM {table} WHERE realm_id = %s AND _sdc_deleted_at IS NULL"
                " AND last_updated_time >= %s AND last_updated_time < %s"
            ).format(table=self.ident),
            (realm, window.start, window.end),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def live(self, realm: str, ids: Iterable[str]) -> set[str]:
        """Which of `ids` are live rows (anywhere in time)."""
        wanted = list(set(ids))
        if not self.exists or not wanted:
            return set()
        rows = self.conn.execute(
            sql.SQL(
                "SELECT DISTINCT id FROM {table} WHERE realm_id = %s AND _sdc_deleted_at IS NULL"
                " AND id = ANY(%s)"
            ).format(table=self.ident),
            (realm, wanted),
        ).fetchall()
        return {str(r[0]) for r in rows}

    def versions(self, realm: str) -> dict[str, str]:
        """`{id: sync_token}` of the live rows (a duplicate key keeps one of its tokens)."""
        if not self.exists:
            return {}
        if "sync_token" not in self.columns:
            msg = f"schema: table {self.name} has no column sync_token"
            raise ReconcileError(msg)
        rows = self.conn.execute(
            sql.SQL(
                "SELECT id, sync_token FROM {table} WHERE realm_id = %s AND _sdc_deleted_at IS NULL"
            ).format(table=self.ident),
            (realm,),
        ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def tombstones(self, realm: str) -> int:
        """Rows marked deleted, anywhere in time."""
        if not self.exists:
            return 0
        row = self.conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {table} WHERE realm_id = %s AND _sdc_deleted_at IS NOT NULL"
            ).format(table=self.ident),
            (realm,),
        ).fetchone()
        return int(row[0]) if row else 0

    def inactive(self, realm: str, start: dt.datetime, end: dt.datetime) -> int:
        """Live rows with `Active` false whose `last_updated_time` lies in `[start, end)`."""
        if not self.exists:
            return 0
        if "payload" not in self.columns:
            msg = f"schema: table {self.name} has no column payload"
            raise ReconcileError(msg)
        row = self.conn.execute(
            sql.SQL(
                "SELECT count(*) FROM {table} WHERE realm_id = %s AND _sdc_deleted_at IS NULL"
                " AND last_updated_time >= %s AND last_updated_time < %s"
                " AND payload->>'Active' = 'false'"
            ).format(table=self.ident),
            (realm, start, end),
        ).fetchone()
        return int(row[0]) if row else 0

    def duplicate_keys(self, realm: str, limit: int = 100) -> list[tuple[str, int]]:
        """Keys stored more than once (only possible without a primary key)."""
        if not self.exists:
            return []
        rows = self.conn.execute(
            sql.SQL(
                "SELECT id, count(*) FROM {table} WHERE realm_id = %s"
                " GROUP BY id HAVING count(*) > 1 ORDER BY count(*) DESC, id LIMIT %s"
            ).format(table=self.ident),
            (realm, limit),
        ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]

    def mark_deleted(self, realm: str, ids: Sequence[str], when: dt.datetime) -> list[str]:
        """Set `_sdc_deleted_at` on live rows of `ids`; return the ids changed."""
        if not ids:
            return []
        with self.conn.transaction():
            rows = self.conn.execute(
                sql.SQL(
                    "UPDATE {table} SET _sdc_deleted_at = %s WHERE realm_id = %s"
                    " AND id = ANY(%s) AND _sdc_deleted_at IS NULL RETURNING id"
                ).format(table=self.ident),
                (when, realm, list(ids)),
            ).fetchall()
        return sorted({str(r[0]) for r in rows}, key=_id_order)


# The comparison ----------------------------------------------------------------------------


def reconcile(
    conn: psycopg.Connection[tuple[t.Any, ...]],
    settings: Settings,
    *,
    schema: str = "raw",
    streams: Sequence[Stream] = RECONCILED,
    compare_all_ids: bool = False,
    mark_deleted: bool = False,
    now: dt.datetime | None = None,
) -> Report:
    """Compare every realm, stream and window; with `mark_deleted`, soft-delete what is gone."""
    conn.execute("SET TIME ZONE 'UTC'")
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    end = settings.end_date or now
    plan = windows.plan_windows(settings.start_date, end, settings.window_days)
    if not plan:
        msg = "start_date: nothing to reconcile before end_date"
        raise ReconcileError(msg)
    start, end = plan[0].start, plan[-1].end
    step = dt.timedelta(days=settings.window_days)
    store = open_store(settings.token_store_path, settings.token_store_url)
    report = Report(start=start, end=end, streams=[])
    streams = [overridden(stream, settings) for stream in streams]
    compare_all_ids = compare_all_ids or mark_deleted
    streams = [s for s in streams if s.is_entity]
    rng = query.Range(start, end)
    # Every count (and each singleton) of a realm, asked together in /batch requests.
    statements: dict[str, list[str]] = {}
    for stream in streams:
        if stream.kind == SINGLETON:
            statements[stream.name] = [singleton_statement(stream)]
            continue
        statements[stream.name] = [count_statement(stream, w) for w in plan]
        if stream.kind == NAME_LIST and stream.include_inactive:
            statements[stream.name].append(inactive_statement(stream, rng))
    for realm in settings.realm_ids:
        qbo = QuickBooks(settings, realm, store)
        try:
            answers = iter(qbo.ask([text for s in streams for text in statements[s.name]]))
            for stream in streams:
                mine = [next(answers) for _ in statements[stream.name]]
                table = Table(conn, schema, stream.table)
                if stream.kind == SINGLETON:
                    result = _reconcile_singleton(table, realm, stream, _versions(stream, mine[0]))
                else:
                    counts = [_total(answer) for answer in mine]
                    result = _reconcile_stream(
                        qbo, table, realm, stream, plan, step, counts, compare_all_ids, now
                    )
                    if mark_deleted:
                        _mark_deleted(table, realm, result, now)
                report.streams.append(result)
        finally:
            report.requests += qbo.stats.requests
            qbo.close()
    return report


def overridden(stream: Stream, settings: Settings) -> Stream:
    """The stream as the tap reads it: `entity_overrides` may change its flags."""
    flags = (getattr(settings, "entity_overrides", None) or {}).get(stream.entity) or {}
    return dataclasses.replace(
        stream,
        cdc=bool(flags.get("cdc", stream.cdc)),
        include_inactive=bool(flags.get("include_inactive", stream.include_inactive)),
        tombstones=bool(flags.get("tombstones", stream.tombstones)),
    )


def _reconcile_stream(
    qbo: QuickBooks,
    table: Table,
    realm: str,
    stream: Stream,
    plan: Sequence[windows.Window],
    step: dt.timedelta,
    counts: Sequence[int],
    compare_all_ids: bool,
    now: dt.datetime,
) -> StreamReport:
    """`counts`: QuickBooks' count of each window, then (name lists) of the inactive rows."""
    buckets = table.buckets(realm, plan[0].start, plan[-1].end, step)
    results: list[WindowResult] = []
    for index, window in enumerate(plan):
        distinct, rows = buckets.get(index, (0, 0))
        result = WindowResult(
            realm_id=realm,
            stream=stream.name,
            window=window,
            qbo=counts[index],
            postgres=distinct,
            duplicates=rows - distinct,
        )
        if compare_all_ids or result.qbo != result.postgres:
            _compare_ids(qbo, table, stream, result)
        results.append(result)
    inactive: tuple[int | None, int | None] = (None, None)
    if len(counts) > len(plan):
        inactive = (counts[len(plan)], table.inactive(realm, plan[0].start, plan[-1].end))
    return StreamReport(
        realm_id=realm,
        stream=stream.name,
        kind=stream.kind,
        table=table.name,
        table_exists=table.exists,
        windows=results,
        duplicate_keys=table.duplicate_keys(realm),
        before_range=buckets.get(-1, (0, 0))[0],
        after_range=buckets.get(-2, (0, 0))[0],
        tombstones=table.tombstones(realm),
        qbo_inactive=inactive[0],
        postgres_inactive=inactive[1],
    )


def _mark_deleted(table: Table, realm: str, report: StreamReport, now: dt.datetime) -> None:
    """Set `_sdc_deleted_at` on the rows QuickBooks no longer has."""
    if not table.exists:
        return
    gone = [i for w in report.windows for i in w.deleted_upstream]
    marked = set(table.mark_deleted(realm, gone, now))
    for w in report.windows:
        w.marked_deleted = [i for i in w.deleted_upstream if i in marked]
    report.tombstones = table.tombstones(realm)


def _reconcile_singleton(
    table: Table, realm: str, stream: Stream, upstream: Mapping[str, str]
) -> StreamReport:
    """A singleton is read whole on every run: compare ids and SyncTokens, not windows."""
    stored = table.versions(realm)
    duplicates = table.duplicate_keys(realm)
    result = WindowResult(
        realm_id=realm,
        stream=stream.name,
        window=None,
        qbo=len(upstream),
        postgres=len(stored),
        duplicates=sum(n - 1 for _, n in duplicates),
        compared_ids=True,
        missing=sorted(upstream.keys() - stored.keys(), key=_id_order),
        stale=sorted(
            (i for i in upstream.keys() & stored.keys() if upstream[i] != stored[i]), key=_id_order
        ),
        deleted_upstream=sorted(stored.keys() - upstream.keys(), key=_id_order),
    )
    return StreamReport(
        realm_id=realm,
        stream=stream.name,
        kind=stream.kind,
        table=table.name,
        table_exists=table.exists,
        windows=[result],
        duplicate_keys=duplicates,
        tombstones=table.tombstones(realm),
    )


def _compare_ids(qbo: QuickBooks, table: Table, stream: Stream, result: WindowResult) -> None:
    window = result.window
    assert window is not None  # only singletons have none, and they are compared whole
    upstream = qbo.window_ids(stream, window, result.qbo) if result.qbo else set()
    stored = table.ids_between(result.realm_id, window)
    lacking = upstream - stored
    surplus = stored - upstream
    elsewhere = table.live(result.realm_id, lacking)  # an older version sits in another window
    still_there = qbo.existing(stream, surplus) if surplus else set()
    result.compared_ids = True
    result.missing = sorted(lacking - elsewhere, key=_id_order)
    result.stale = sorted(elsewhere | still_there, key=_id_order)
    result.deleted_upstream = sorted(surplus - still_there, key=_id_order)


# Output ------------------------------------------------------------------------------------


def _ids(label: str, ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:SHOW_IDS])
    more = f" (+{len(ids) - SHOW_IDS} more)" if len(ids) > SHOW_IDS else ""
    return f"{label} {len(ids)}: {shown}{more}"


def render_text(report: Report, *, all_windows: bool = False) -> str:
    """A table of the windows that differ (all with `all_windows`) and a summary per stream."""
    lines = [
        f"Reconciling [{report.start.isoformat()}, {report.end.isoformat()}) "
        f"({report.requests} QuickBooks requests)",
        "",
    ]
    header = ("realm", "stream", "window", "quickbooks", "postgres", "dup", "status")
    rows: list[tuple[str, ...]] = [header]
    details: dict[int, list[str]] = {}
    for s in report.streams:
        for w in s.windows:
            if w.ok and not all_windows and not w.marked_deleted:
                continue
            rows.append(
                (
                    w.realm_id,
                    w.stream,
                    w.label,
                    str(w.qbo),
                    str(w.postgres),
                    str(w.duplicates),
                    w.status,
                )
            )
            notes = [
                _ids(label, ids)
                for label, ids in (
                    ("missing in Postgres", w.missing),
                    ("stale in Postgres (changed upstream)", w.stale),
                    ("deleted upstream", w.deleted_upstream),
                    ("marked deleted", w.marked_deleted),
                )
                if ids
            ]
            if notes:
                details[len(rows) - 1] = notes
    if len(rows) > 1:
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for n, row in enumerate(rows):
            cells = [
                c.rjust(widths[i]) if i in {3, 4, 5} else c.ljust(widths[i])
                for i, c in enumerate(row)
            ]
            lines.append("  ".join(cells).rstrip())
            lines.extend("    " + note for note in details.get(n, []))
        lines.append("")
    for s in report.streams:
        d = s.as_dict()
        extra = []
        if s.duplicate_keys:
            extra.append(_ids("duplicate keys", [f"{i} (x{n})" for i, n in s.duplicate_keys]))
        if not s.table_exists:
            extra.append(f"table {s.table} does not exist")
        if s.before_range or s.after_range:
            extra.append(
                f"outside the range: {s.before_range} before start_date, "
                f"{s.after_range} at or after end_date (not compared)"
            )
        if s.qbo_inactive is not None:
            extra.append(
                f"inactive: quickbooks {s.qbo_inactive}, postgres {s.postgres_inactive}"
                + ("" if s.inactive_ok else " (MISMATCH)")
            )
        if s.tombstones:
            extra.append(f"{s.tombstones} marked deleted")
        compared = (
            "ids and SyncTokens compared (read whole every run)"
            if s.kind == SINGLETON
            else f"windows {d['windows']} ({d['mismatched_windows']} differ)"
        )
        lines.append(
            f"{'OK      ' if s.ok else 'MISMATCH'} {s.realm_id} {s.stream}: "
            f"quickbooks {d['qbo_rows']}, postgres {d['postgres_rows']}, {compared}"
            + ("; " + "; ".join(extra) if extra else "")
        )
    marked = sum(len(w.marked_deleted) for s in report.streams for w in s.windows)
    if marked:
        lines.append(f"Marked {marked} row(s) deleted (_sdc_deleted_at set).")
    lines.append(
        "reconcile: everything matches"
        if report.ok
        else "reconcile: differences found (see the windows above)"
    )
    return "\n".join(lines)


def render_json(
    report: Report, checked: statements.StatementCheck | None = None, note: str = ""
) -> str:
    """The whole report as JSON: `statements` holds the statement check, or null and
    `statements_note` says why it did not run."""
    body: dict[str, t.Any] = {
        "ok": report.ok and (checked is None or checked.ok),
        "start": report.start.isoformat(),
        "end": report.end.isoformat(),
        "requests": report.requests,
        "streams": [s.as_dict() for s in report.streams],
        "statements": checked.as_dict() if checked is not None else None,
    }
    if checked is None and note:
        body["statements_note"] = note
    return json.dumps(body, indent=2)


def load(config: Mapping[str, t.Any]) -> Settings:
    """Validate the tap's settings with the tap's own rules."""
    return load_settings(config, default_user_agent="qbo-warehouse-reconcile")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `reconcile` subcommand's options."""
    parser.add_argument(
        "--tap-config",
        metavar="FILE",
        help="the tap's config JSON ('-' reads stdin); TAP_QUICKBOOKS_<SETTING> env vars override",
    )
    parser.add_argument(
        "--dsn",
        help="Postgres DSN or SQLAlchemy URL (default: $PG_DSN, $TARGET_POSTGRES_SQLALCHEMY_URL, "
        "or $TARGET_POSTGRES_HOST/_PORT/_USER/_PASSWORD/_DATABASE)",
    )
    parser.add_argument(
        "--schema",
        help="schema of the raw tables (default: $TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA or raw)",
    )
    parser.add_argument("--start-date", help="check from here (default: the tap's start_date)")
    parser.add_argument("--end-date", help="check up to here, exclusive (default: end_date or now)")
    parser.add_argument(
        "--stream",
        action="append",
        choices=[s.name for s in RECONCILED],
        help="only this stream (repeatable; default: all)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="compare ids in every window, not only in those whose counts differ",
    )
    parser.add_argument(
        "--mark-deleted",
        action="store_true",
        help="full id reconciliation: set _sdc_deleted_at on rows deleted in QuickBooks",
    )
    parser.add_argument(
        "--reports",
        action="store_true",
        help="also compare the totals of every loaded report period (raw.qb_report_*) with "
        "QuickBooks' answer (one report request per period, method and report)",
    )
    parser.add_argument(
        "--statements",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="compare the dbt statements (analytics.profit_and_loss, balance_sheet, ar_aging, "
        "ap_aging) with the loaded ProfitAndLoss, BalanceSheet and aging reports, per account "
        "and month (default: when the analytics models and a report table exist)",
    )
    parser.add_argument(
        "--statements-only",
        action="store_true",
        help="only the statement check: no QuickBooks request, no tap settings needed, "
        "every realm in the database",
    )
    parser.add_argument(
        "--analytics-schema",
        default="analytics",
        help="schema of the dbt statements (default: analytics)",
    )
    parser.add_argument("--all-windows", action="store_true", help="list matching windows too")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand: 0 when everything matches, 1 on differences, 2 on bad input."""
    if args.statements_only:
        if args.statements is False:
            msg = "statements: --statements-only and --no-statements contradict each other"
            raise ReconcileError(msg)
        return _run_statements(args, postgres_dsn(args.dsn), target_schema(args.schema), None)
    config = tap_config(args.tap_config)
    if args.start_date:
        config["start_date"] = args.start_date
    if args.end_date:
        config["end_date"] = args.end_date
    try:
        settings = load(config)
    except SettingError as exc:
        raise ReconcileError(str(exc)) from None
    dsn = postgres_dsn(args.dsn)
    schema = target_schema(args.schema)
    streams = [s for s in RECONCILED if not args.stream or s.name in args.stream]
    result: statements.StatementCheck | None = None
    try:
        with connect(dsn) as conn:
            if args.statements:  # asked for: say so before any QuickBooks request
                reason = statements.available(
                    conn, raw_schema=schema, analytics=args.analytics_schema
                )
                if reason is not None:
                    raise ReconcileError(f"statements: {reason}")
            report = reconcile(
                conn,
                settings,
                schema=schema,
                streams=streams,
                compare_all_ids=args.full,
                mark_deleted=args.mark_deleted,
            )
            result, note = _statements(conn, args, schema, settings.realm_ids)
    except DsnError as exc:
        raise ReconcileError(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise _cannot_connect(exc) from None
    except TapQuickBooksError as exc:
        print(f"qbo-warehouse: QuickBooks: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        print(render_json(report, result, note))
    else:
        print(render_text(report, all_windows=args.all_windows))
        print(statements.render(result) if result is not None else note)
    code = 0 if report.ok and (result is None or result.ok) else 1
    if getattr(args, "reports", False):
        return max(code, report_totals.run(config, settings, dsn, schema))
    return code


def _cannot_connect(exc: psycopg.OperationalError) -> ReconcileError:
    """The one-line error of a Postgres that does not answer (its first line, no DSN)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ReconcileError(f"dsn: cannot connect to Postgres: {first}")


def _statements(
    conn: psycopg.Connection[t.Any],
    args: argparse.Namespace,
    schema: str,
    realms: Sequence[str] | None,
) -> tuple[statements.StatementCheck | None, str]:
    """The statement check, or None and a one-line note when it is off or cannot run.

    `--statements` makes "cannot run" an error; by default the check runs when it can.
    """
    if args.statements is False:
        return None, "statements: not checked (--no-statements)"
    analytics = args.analytics_schema
    reason = statements.available(conn, raw_schema=schema, analytics=analytics)
    if reason is not None:
        if args.statements:
            raise ReconcileError(f"statements: {reason}")
        return None, f"statements: not checked: {reason}"
    return statements.check(conn, raw_schema=schema, analytics=analytics, realms=realms), ""


def _run_statements(
    args: argparse.Namespace, dsn: str, schema: str, realms: Sequence[str] | None
) -> int:
    """`--statements-only`: the statement check alone (Postgres only)."""
    args.statements = True
    try:
        with connect(dsn) as conn:
            result, _ = _statements(conn, args, schema, realms)
    except DsnError as exc:
        raise ReconcileError(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise _cannot_connect(exc) from None
    assert result is not None  # forced on: _statements raised otherwise
    if args.format == "json":
        print(json.dumps({"ok": result.ok, "statements": result.as_dict()}, indent=2))
    else:
        print(statements.render(result))
    return 0 if result.ok else 1
