from __future__ import annotations

import datetime as dt
import json

from qbo_warehouse import cli
from qbo_warehouse.db import libpq_dsn
from qbo_warehouse.streams import STREAMS, TABLES
from qbo_warehouse.summary import render_table, summarize

DDL = """
CREATE SCHEMA raw;
CREATE TABLE raw.qb_invoices (
    realm_id text, id text, sync_token text, last_updated_time timestamp,
    payload jsonb, extract_window_start_utc timestamp, extract_window_end_utc timestamp,
    _sdc_deleted_at timestamp
);
CREATE TABLE raw.qb_customers (LIKE raw.qb_invoices);
INSERT INTO raw.qb_customers (realm_id, id, last_updated_time, payload, _sdc_deleted_at) VALUES
    ('1', '1', '2023-01-01', '{"Active": true}', NULL),
    ('1', '2', '2023-01-01', '{"Active": false}', NULL),
    ('1', '3', '2023-01-01', '{"Active": false}', NULL),
    ('1', '4', '2023-01-01', '{}', NULL);
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
    summaries = summarize(conn)
    assert [s.table for s in summaries] == list(TABLES)  # every stream of the tap, in its order
    assert [s.kind for s in summaries] == [s.kind for s in STREAMS]
    by_table = {s.table: s for s in summaries}
    invoices, customers = by_table["qb_invoices"], by_table["qb_customers"]
    assert (invoices.rows, invoices.distinct_keys, invoices.windows, invoices.deleted) == (
        4,
        3,
        2,
        1,
    )
    assert invoices.inactive is None  # transactions have no Active
    assert customers.inactive == 2
    assert invoices.min_last_updated == dt.datetime(2023, 1, 2)
    assert invoices.max_last_updated == dt.datetime(2023, 3, 1, 12)
    assert {s.table for s in summaries if s.exists} == {"qb_customers", "qb_invoices"}
    text = render_table(summaries)
    assert len(text.splitlines()) == 1 + len(TABLES)
    assert "raw.qb_invoices" in text
    assert "(table not created yet)" in text
    line = next(x for x in text.splitlines() if x.startswith("raw.qb_customers "))
    assert line.split()[1:7] == ["name", "list", "4", "4", "0", "2"]


def test_cli_json_output(conn, pg_dsn, capsys) -> None:
    _load(conn)
    assert cli.main(["summary", "--dsn", pg_dsn, "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [t["table"] for t in out] == [f"raw.{table}" for table in TABLES]
    invoices = next(t for t in out if t["table"] == "raw.qb_invoices")
    assert invoices["rows"] == 4
    assert invoices["kind"] == "transaction"
    assert invoices["min_last_updated_time"] == "2023-01-02T00:00:00"


def test_cli_names_the_dsn_when_nothing_answers(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PG_DSN", raising=False)
    assert cli.main(["summary"]) == 2
    assert capsys.readouterr().err.startswith("qbo-warehouse: dsn:")
    assert cli.main(["summary", "--dsn", "postgresql://postgres@127.0.0.1:1/x"]) == 2
    assert "dsn: cannot connect" in capsys.readouterr().err


def test_sqlalchemy_urls_are_accepted() -> None:
    assert libpq_dsn("postgresql+psycopg://u@h:5/db") == "postgresql://u@h:5/db"
    assert libpq_dsn("postgresql://u@/db?host=/s") == "postgresql://u@/db?host=/s"
