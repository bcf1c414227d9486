"""Per-table counts: rows, distinct keys, windows and the LastUpdatedTime range."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from psycopg import sql

from qbo_warehouse import TABLES

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    import psycopg


@dataclasses.dataclass(frozen=True)
class TableSummary:
    """What one raw table holds."""

    schema: str
    table: str
    exists: bool
    rows: int = 0
    distinct_keys: int = 0
    windows: int = 0
    deleted: int = 0
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
            "rows": self.rows,
            "distinct_keys": self.distinct_keys,
            "windows": self.windows,
            "deleted": self.deleted,
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
    columns = _columns(conn, schema, table)
    if not columns:
        return TableSummary(schema=schema, table=table, exists=False)
    windows = (
        sql.SQL("count(DISTINCT (extract_window_start_utc, extract_window_end_utc))")
        if {"extract_window_start_utc", "extract_window_end_utc"} <= columns
        else sql.SQL("0")
    )
    deleted = sql.SQL("count(_sdc_deleted_at)") if "_sdc_deleted_at" in columns else sql.SQL("0")
    query = sql.SQL(
        "SELECT count(*), count(DISTINCT (realm_id, id)), {windows}, {deleted},"
        " min(last_updated_time), max(last_updated_time) FROM {table}"
    ).format(windows=windows, deleted=deleted, table=sql.Identifier(schema, table))
    row = conn.execute(query).fetchone()
    assert row is not None  # an aggregate always returns one row
    rows, keys, n_windows, n_deleted, low, high = row
    return TableSummary(
        schema=schema,
        table=table,
        exists=True,
        rows=int(str(rows)),
        distinct_keys=int(str(keys)),
        windows=int(str(n_windows)),
        deleted=int(str(n_deleted)),
        min_last_updated=low,  # type: ignore[arg-type]
        max_last_updated=high,  # type: ignore[arg-type]
    )


def summarize(
    conn: psycopg.Connection[tuple[object, ...]],
    schema: str = "raw",
    tables: Sequence[str] = TABLES,
) -> list[TableSummary]:
    """Count every raw table."""
    return [summarize_table(conn, schema, table) for table in tables]


def render_table(summaries: Sequence[TableSummary]) -> str:
    """Fixed-width text table, one line per raw table."""
    header = (
        "table",
        "rows",
        "distinct keys",
        "windows",
        "deleted",
        "min last_updated_time",
        "max last_updated_time",
    )
    lines: list[tuple[str, ...]] = [header]
    for s in summaries:
        if not s.exists:
            lines.append((s.name, "-", "-", "-", "-", "(table not created yet)", ""))
            continue
        lines.append(
            (
                s.name,
                str(s.rows),
                str(s.distinct_keys),
                str(s.windows),
                str(s.deleted),
                _iso(s.min_last_updated) or "-",
                _iso(s.max_last_updated) or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {1, 2, 3, 4}
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
