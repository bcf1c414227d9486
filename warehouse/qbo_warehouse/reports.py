"""Report tables: their flattened `_lines` views, and report totals checked against QuickBooks.

`raw.qb_report_<name>` holds one QuickBooks report body per realm, accounting method and period
(`payload`). `raw.qb_report_<name>_lines` is a view with one row per cell of every data and
summary line, so SQL never walks `Rows/Row/ColData`.

Its columns are documented in the warehouse README ("Report lines"). The walk itself is the SQL
function `<schema>.qb_report_lines(payload jsonb)`, usable on any report body; its SQL is the file
`report_lines.sql` of this package, which the dbt project reads too (as a macro).

`check(...)` compares, for every loaded period, the summary lines of the stored report with a
fresh answer of QuickBooks (through the tap's connection): the totals a report shows for a month
must not change unless QuickBooks' do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import sys
import typing as t
from decimal import Decimal, InvalidOperation
from importlib import resources

from psycopg import sql
from tap_quickbooks import reports as tap_reports
from tap_quickbooks.auth import TokenStore
from tap_quickbooks.client import RealmConnection, RequestStats
from tap_quickbooks.report_streams import REPORT_STREAM_TYPES, ReportStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import psycopg
    from tap_quickbooks.settings import Settings

#: Table -> stream (each report stream class sets its own `name`).
TABLES: dict[str, type[ReportStream]] = {f"qb_{vars(s)['name']}": s for s in REPORT_STREAM_TYPES}
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")

#: The report line walk: `report_lines.sql` beside this module, the one copy of its SQL (dbt reads
#: the same file as a macro). The body names the function as FUNCTION_NAME.
LINES_FUNCTION = resources.files("qbo_warehouse").joinpath("report_lines.sql").read_text("utf-8")
FUNCTION_NAME = "{{ function }}"

LINES_VIEW = """
CREATE OR REPLACE VIEW {view} AS
SELECT t.realm_id, t.accounting_method, t.period_start, t.period_end, l.*
FROM {table} AS t
CROSS JOIN LATERAL {function}(t.payload) AS l
"""


def existing_tables(conn: psycopg.Connection[t.Any], schema: str) -> list[str]:
    """The report tables (`qb_report_*`, not views) present in `schema`, in stream order."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        (schema,),
    ).fetchall()
    present = {str(r[0]) for r in rows}
    return [name for name in TABLES if name in present]


def lines_function(function: sql.Identifier) -> sql.Composed:
    """The statement creating the walk as `function` (the file, its one name filled in)."""
    head, found, tail = LINES_FUNCTION.partition(FUNCTION_NAME)
    if not found or FUNCTION_NAME in tail:
        msg = f"report_lines.sql must name the function once, as {FUNCTION_NAME}"
        raise ValueError(msg)
    return sql.Composed([sql.SQL(head), function, sql.SQL(tail)])


def create_line_views(conn: psycopg.Connection[t.Any], schema: str = "raw") -> list[str]:
    """Create or replace `<table>_lines` for every report table of `schema`; their names."""
    made = []
    function = sql.Identifier(schema, "qb_report_lines")
    conn.execute(lines_function(function))
    for table in existing_tables(conn, schema):
        view = f"{table}_lines"
        conn.execute(
            sql.SQL(LINES_VIEW).format(
                view=sql.Identifier(schema, view),
                table=sql.Identifier(schema, table),
                function=function,
            )
        )
        made.append(view)
    return made


# ---------------------------------------------------------------------------- Python twin


@dataclasses.dataclass(frozen=True)
class Line:
    """One summary cell, as the view shows it (keyed the same way)."""

    path: tuple[str, ...]
    label: str
    col_key: str
    value: Decimal


def summary_lines(payload: Mapping[str, t.Any]) -> dict[tuple[tuple[str, ...], str, str], Decimal]:
    """(section path, label, column key) -> number, for every numeric summary cell."""
    columns = (payload.get("Columns") or {}).get("Column") or []
    keys = []
    for n, col in enumerate(columns):
        key = next(
            (m.get("Value") for m in col.get("MetaData") or [] if m.get("Name") == "ColKey"),
            None,
        )
        keys.append(str(key) if key is not None else f"col_{n}")
    out: dict[tuple[tuple[str, ...], str, str], Decimal] = {}

    def walk(rows: Iterable[Mapping[str, t.Any]], path: tuple[str, ...]) -> None:
        for row in rows:
            title = str(((row.get("Header") or {}).get("ColData") or [{}])[0].get("value", ""))
            cells = (row.get("Summary") or {}).get("ColData")
            if isinstance(cells, list) and cells:
                label = str(cells[0].get("value", ""))
                for i, cell in enumerate(cells[1:], start=1):
                    value = str(cell.get("value", ""))
                    if _NUMBER.match(value) and i < len(keys):
                        out[((*path, title), label, keys[i])] = Decimal(value)
            inner = (row.get("Rows") or {}).get("Row")
            if isinstance(inner, list):
                walk(inner, (*path, title))

    rows = (payload.get("Rows") or {}).get("Row")
    walk(rows if isinstance(rows, list) else [], ())
    return out


# ---------------------------------------------------------------------------- the check


@dataclasses.dataclass
class Mismatch:
    realm_id: str
    table: str
    accounting_method: str
    period_start: dt.date
    period_end: dt.date
    line: str
    col_key: str
    warehouse: Decimal | None
    quickbooks: Decimal | None

    def __str__(self) -> str:
        def show(v: Decimal | None) -> str:
            return "absent" if v is None else f"{v:.2f}"

        return (
            f"{self.table} realm {self.realm_id} {self.accounting_method} "
            f"{self.period_start}..{self.period_end}: {self.line} [{self.col_key}] "
            f"warehouse {show(self.warehouse)}, QuickBooks {show(self.quickbooks)}"
        )


@dataclasses.dataclass
class ReportCheck:
    periods: int = 0
    requests: int = 0
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.missing


def warehouse_totals(
    conn: psycopg.Connection[t.Any], schema: str, table: str, realm: str
) -> dict[tuple[str, dt.date, dt.date], dict[tuple[tuple[str, ...], str, str], Decimal]]:
    """Summary cells of every loaded period of a realm, read through the `_lines` view."""
    rows = conn.execute(
        sql.SQL(
            "SELECT accounting_method, period_start, period_end, section_path, label, col_key, "
            "value_number FROM {} WHERE realm_id = %s AND line_kind = 'Summary' "
            "AND value_number IS NOT NULL"
        ).format(sql.Identifier(schema, f"{table}_lines")),
        (realm,),
    ).fetchall()
    periods = conn.execute(
        sql.SQL(
            "SELECT DISTINCT accounting_method, period_start, period_end FROM {} "
            "WHERE realm_id = %s"
        ).format(sql.Identifier(schema, table)),
        (realm,),
    ).fetchall()
    out: dict[tuple[str, dt.date, dt.date], dict[tuple[tuple[str, ...], str, str], Decimal]] = {
        (str(m), s, e): {} for m, s, e in periods
    }
    for method, start, end, path, label, key, value in rows:
        out[(str(method), start, end)][(tuple(path), str(label), str(key))] = Decimal(value)
    return out


#: (realm, report stream, query parameters) -> the report body QuickBooks answers.
Fetch = t.Callable[[str, type[ReportStream], dict[str, str]], t.Mapping[str, t.Any]]


def compare_realm(
    conn: psycopg.Connection[t.Any],
    realm: str,
    fetch: Fetch,
    result: ReportCheck,
    *,
    schema: str = "raw",
    expected: list[tuple[dt.date, dt.date]] | None = None,
    methods: tuple[str, ...] = (tap_reports.ACCRUAL,),
) -> None:
    """Add to `result` how the loaded reports of one realm differ from `fetch`'s answers.

    With `expected` periods, those not loaded (in every table holding a row) count as missing;
    only loaded periods among them are compared (all of them without `expected`).
    """
    for table in existing_tables(conn, schema):
        stream = TABLES[table]
        loaded = warehouse_totals(conn, schema, table, realm)
        if not loaded:
            continue
        wanted = (tap_reports.ACCRUAL,) if stream.as_of else methods
        if expected is not None:
            for first, last in expected:
                for method in wanted:
                    if (method, first, last) not in loaded:
                        result.missing.append(
                            f"{table} realm {realm} {method} {first}..{last}: not loaded"
                        )
        for (method, first, last), ours in sorted(loaded.items()):
            if expected is not None and (first, last) not in expected:
                continue
            result.periods += 1
            theirs = summary_lines(fetch(realm, stream, stream.params(first, last, method)))
            for key in sorted(set(ours) | set(theirs)):
                a, b = ours.get(key), theirs.get(key)
                if a != b:
                    path, label, col = key
                    line = " > ".join((*[p for p in path if p], label))
                    result.mismatches.append(
                        Mismatch(realm, table, method, first, last, line, col, a, b)
                    )


def _fetcher(qbo: RealmConnection, stats: RequestStats) -> Fetch:
    def fetch(
        realm: str, stream: type[ReportStream], params: dict[str, str]
    ) -> Mapping[str, t.Any]:
        return qbo.get(f"reports/{stream.entity}", params, stats)

    return fetch


def check(
    conn: psycopg.Connection[t.Any],
    settings: Settings,
    config: Mapping[str, t.Any],
    *,
    schema: str = "raw",
    now: dt.datetime | None = None,
) -> ReportCheck:
    """Compare the summary lines of every loaded report period with QuickBooks' answer.

    Periods the tap would read (complete periods from `start_date`, or `report_start_date`, to
    `end_date`) that are not loaded are listed as missing, for every table holding a row.
    """
    report_settings = tap_reports.load_report_settings(config)
    create_line_views(conn, schema)
    result = ReportCheck()
    end = (settings.end_date or now or dt.datetime.now(dt.UTC)).date()
    start = max(settings.start_date.date(), report_settings.start_date or dt.date.min)
    expected = tap_reports.complete_periods(start, end, report_settings.period)
    store = TokenStore(settings.token_store_path)
    for realm in settings.realm_ids:
        qbo = RealmConnection(settings, realm, store)
        stats = RequestStats()

        fetch = _fetcher(qbo, stats)
        try:
            compare_realm(
                conn,
                realm,
                fetch,
                result,
                schema=schema,
                expected=expected,
                methods=report_settings.methods,
            )
        except InvalidOperation as exc:  # a malformed number in a stored payload
            result.missing.append(f"realm {realm}: unreadable amount in a report ({exc})")
        finally:
            result.requests += stats.requests
            qbo.close()
    return result


def render(result: ReportCheck, limit: int = 50) -> str:
    """The report check as text."""
    spent = f", {result.requests} requests" if result.requests else ""
    lines = [
        f"reports: {result.periods} periods compared with QuickBooks{spent}, "
        + ("all totals match" if result.ok else "DIFFERENCES")
    ]
    lines += [f"  MISSING {m}" for m in result.missing[:limit]]
    lines += [f"  MISMATCH {m}" for m in result.mismatches[:limit]]
    hidden = max(0, len(result.missing) - limit) + max(0, len(result.mismatches) - limit)
    if hidden:
        lines.append(f"  … and {hidden} more")
    return "\n".join(lines)


def run(config: Mapping[str, t.Any], settings: Settings, dsn: str, schema: str) -> int:
    """`qbo-warehouse reconcile --reports`: print the check; 0 when it matches, else 1."""
    from tap_quickbooks.errors import SettingError, TapQuickBooksError

    from qbo_warehouse.db import connect

    config = dict(config)
    for name in tap_reports.REPORT_SETTINGS:  # as the tap reads them: TAP_QUICKBOOKS_<SETTING>
        value = os.environ.get(f"TAP_QUICKBOOKS_{name.upper()}")
        if value not in (None, ""):
            config[name] = value
    try:
        with connect(dsn) as conn:
            result = check(conn, settings, config, schema=schema)
    except SettingError as exc:
        print(f"qbo-warehouse: {exc}", file=sys.stderr)
        return 2
    except TapQuickBooksError as exc:
        print(f"qbo-warehouse: QuickBooks: {exc}", file=sys.stderr)
        return 1
    print(render(result))
    return 0 if result.ok else 1
