from __future__ import annotations

import datetime as dt
import json

from qbo_warehouse import cli
from qbo_warehouse.db import libpq_dsn
from qbo_warehouse.summary import render_table, summarize

DDL = """
CREATE SCHEMA raw;
CREATE TABLE raw.qb_invoices (
    realm_id text, id text, sync_token text, last_updated_time timestamp,
    payload jsonb, extract_window_start_utc timestamp, extract_window_end_utc timestamp,
    _sdc_deleted_at timestamp
);
"""

ROWS = [
    # realm, id, updated, window start, deleted
    ("1", "10", "2023-01-02 00:00:00", "2023-01-01", None),
    ("1", "11", "2023-01-05 00:00:00", "2023-01-01", "2024-01-01 00:00:00"),
    ("2", "10", "2023-03-01 12:00:00", "2023-03-01", None),
    ("2", "10", "2023-03-01 12:00:00", "2023-03-01", None),  # a duplicate key
]


def _load(conn) -> None:
    conn.execute(DDL)
    for realm, ident, updated, start, deleted in ROWS:
        conn.execute(
            "INSERT INTO raw.qb_invoices VALUES (%s, %s, '0', %s, '{}', %s,"
            " %s::timestamp + interval '1 month', %s)",
            (realm, ident, updated, start, start, deleted),
        )


def test_counts_rows_keys_windows_and_range(conn) -> None:
    _load(conn)
    invoices, customers, items = summarize(conn)
    assert (invoices.rows, invoices.distinct_keys, invoices.windows, invoices.deleted) == (
        4,
        3,
        2,
        1,
    )
    assert invoices.min_last_updated == dt.datetime(2023, 1, 2)
    assert invoices.max_last_updated == dt.datetime(2023, 3, 1, 12)
    assert not customers.exists
    assert not items.exists
    text = render_table([invoices, customers, items])
    assert "raw.qb_invoices" in text
    assert "(table not created yet)" in text


def test_cli_json_output(conn, pg_dsn, capsys) -> None:
    _load(conn)
    assert cli.main(["summary", "--dsn", pg_dsn, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["table"] for t in out] == ["raw.qb_invoices", "raw.qb_customers", "raw.qb_items"]
    assert out[0]["rows"] == 4
    assert out[0]["min_last_updated_time"] == "2023-01-02T00:00:00"


def test_cli_names_the_dsn_when_nothing_answers(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PG_DSN", raising=False)
    assert cli.main(["summary"]) == 2
    assert capsys.readouterr().err.startswith("qbo-warehouse: dsn:")
    assert cli.main(["summary", "--dsn", "postgresql://postgres@127.0.0.1:1/x"]) == 2
    assert "dsn: cannot connect" in capsys.readouterr().err


def test_sqlalchemy_urls_are_accepted() -> None:
    assert libpq_dsn("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"
    assert libpq_dsn("postgresql://u@/db?host=/s") == "postgresql://u@/db?host=/s"
