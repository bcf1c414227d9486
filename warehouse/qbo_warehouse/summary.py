"""Per-table counts: rows, distinct keys, deletes, inactive rows, windows, LastUpdatedTime range.

One line per stream of the tap (`qbo_warehouse.streams`), in the tap's order.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from psycopg import sql

from qbo_warehouse.streams import NAME_LIST, STREAMS, by_table

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    import psycopg

    from qbo_warehouse.streams import Stream


@dataclasses.dataclass(frozen=True)
class TableSummary:
    """What one raw table holds."""

    schema: str
    table: str
    exists: bool
    kind: str = ""
    rows: int = 0
    distinct_keys: int = 0
    windows: int = 0
    deleted: int = 0
    inactive: int | None = None
    """Live rows with `Active` false (name lists only; None for other kinds)."""
    min_last_updated: dt.datetime | None = None
    max_last_updated: dt.datetime | None = None

    @property
    def name(self) -> str:
        """Schema-qualified table name."""
        return f"{self.schema}.{self.table}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly view (timestamps as ISO-8601 text)."""
        return {
            "table": self.name,
            "exists": self.exists,
            "kind": self.kind,
            "rows": self.rows,
            "distinct_keys": self.distinct_keys,
            "windows": self.windows,
            "deleted": self.deleted,
            "inactive": self.inactive,
            "min_last_updated_time": _iso(self.min_last_updated),
            "max_last_updated_time": _iso(self.max_last_updated),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _columns(conn: psycopg.Connection[tuple[object, ...]], schema: str, table: str) -> set[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    ).fetchall()
    return {str(row[0]) for row in rows}


def summarize_table(
    conn: psycopg.Connection[tuple[object, ...]], schema: str, table: str
) -> TableSummary:
    """Count one table; a table that does not exist yet is reported as empty."""
    stream = by_table(table)
    kind = stream.kind if stream else ""
    columns = _columns(conn, schema, table)
    if not columns:
        return TableSummary(schema=schema, table=table, exists=False, kind=kind)
    windows = (
        sql.SQL("count(DISTINCT (extract_window_start_utc, extract_window_end_utc))")
        if {"extract_window_start_utc", "extract_window_end_utc"} <= columns
        else sql.SQL("0")
    )
    has_deleted = "_sdc_deleted_at" in columns
    deleted = sql.SQL("count(_sdc_deleted_at)") if has_deleted else sql.SQL("0")
    counts_inactive = kind == NAME_LIST and "payload" in columns
    inactive = (
        sql.SQL(
            "count(*) FILTER (WHERE {live} jsonb_typeof(payload) = 'object'"
            " AND payload->>'Active' = 'false')"
        ).format(live=sql.SQL("_sdc_deleted_at IS NULL AND" if has_deleted else ""))
        if counts_inactive
        else sql.SQL("NULL")
    )
    query = sql.SQL(
        "SELECT count(*), count(DISTINCT (realm_id, id)), {windows}, {deleted}, {inactive},"
        " min(last_updated_time), max(last_updated_time) FROM {table}"
    ).format(
        windows=windows, deleted=deleted, inactive=inactive, table=sql.Identifier(schema, table)
    )
    row = conn.execute(query).fetchone()
    assert row is not None  # an aggregate always returns one row
    rows, keys, n_windows, n_deleted, n_inactive, low, high = row
    return TableSummary(
        schema=schema,
        table=table,
        exists=True,
        kind=kind,
        rows=int(str(rows)),
        distinct_keys=int(str(keys)),
        windows=int(str(n_windows)),
        deleted=int(str(n_deleted)),
        inactive=None if n_inactive is None else int(str(n_inactive)),
        min_last_updated=low,  # type: ignore[arg-type]
        max_last_updated=high,  # type: ignore[arg-type]
    )


def summarize(
    conn: psycopg.Connection[tuple[object, ...]],
    schema: str = "raw",
    streams: Sequence[Stream] = STREAMS,
) -> list[TableSummary]:
    """Count the raw table of every stream."""
    return [summarize_table(conn, schema, stream.table) for stream in streams]


def render_table(summaries: Sequence[TableSummary]) -> str:
    """Fixed-width text table, one line per raw table."""
    header = (
        "table",
        "kind",
        "rows",
        "distinct keys",
        "deleted",
        "inactive",
        "windows",
        "min last_updated_time",
        "max last_updated_time",
    )
    lines: list[tuple[str, ...]] = [header]
    for s in summaries:
        kind = s.kind.replace("_", " ")
        if not s.exists:
            lines.append((s.name, kind, "-", "-", "-", "-", "-", "(table not created yet)", ""))
            continue
        lines.append(
            (
                s.name,
                kind,
                str(s.rows),
                str(s.distinct_keys),
                str(s.deleted),
                "-" if s.inactive is None else str(s.inactive),
                str(s.windows),
                _iso(s.min_last_updated) or "-",
                _iso(s.max_last_updated) or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}
    out = []
    for line in lines:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def render_json(summaries: Sequence[TableSummary]) -> str:
    """JSON list, one object per raw table."""
    return json.dumps([s.as_dict() for s in summaries], indent=2)
