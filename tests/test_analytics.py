"""The pipeline with the models: `meltano run tap-quickbooks target-postgres dbt-postgres:build`.

dbt builds every model and runs every test of transform/ (keys, references, the books balance)
on what the tap loaded; here we check what it built against the raw tables it read, and
`qbo-warehouse reconcile --statements-only` compares its statements with the reports the tap
loaded (the demo environment loads both bases).
"""

from __future__ import annotations

import subprocess
from typing import Any

import psycopg
from conftest import BIN
from qbo_warehouse.streams import STREAMS as TAP_STREAMS


def one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else tuple(row)


def test_run_with_dbt_build_makes_the_books(emulator, make_project) -> None:
    project = make_project(emulator)
    project.meltano(
        "--environment=demo", "run", "tap-quickbooks", "target-postgres", "dbt-postgres:build"
    )

    with psycopg.connect(project.dsn) as conn:
        raw_tables = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
        ).fetchall()
        # dbt reads raw and writes nothing there: raw holds the streams' tables only (the demo
        # environment selects every stream, reports included).
        assert {r[0] for r in raw_tables} == {s.table for s in TAP_STREAMS}
        # Nothing depends on the raw tables: the loader can still alter or drop them.
        dependents = one(
            conn,
            "select count(*) from information_schema.view_table_usage where table_schema = 'raw'",
        )
        assert dependents == 0
        # The report lines are built in the same dbt run (no step of their own).
        lines = one(conn, "select count(*) from staging.stg_qbo__report_profit_and_loss_lines")
        assert lines > 0
        months = one(
            conn,
            "select count(distinct period_start) from staging.stg_qbo__report_balance_sheet_lines",
        )
        assert months > 12
        live = one(conn, "select count(*) from raw.qb_invoices where _sdc_deleted_at is null")
        assert live > 0
        assert one(conn, "select count(*) from staging.stg_qbo__invoices") == live
        # Every live invoice with an amount posts.
        posted = one(
            conn,
            "select count(distinct transaction_id) from analytics.general_ledger"
            " where transaction_type = 'Invoice'",
        )
        assert posted == one(
            conn, "select count(*) from staging.stg_qbo__invoices where total_amount <> 0"
        )
        # Every month's trial balance nets to zero, on each basis.
        months, unbalanced = one(
            conn,
            "select count(*), count(*) filter (where total <> 0) from ("
            " select realm_id, accounting_method, period_month, sum(closing_balance) as total"
            " from analytics.trial_balance group by 1, 2, 3) as m",
        )
        assert months > 24
        assert unbalanced == 0
        # The P&L's income is what the ledger credits to income accounts, net of debits, and
        # the sales documents put some there (the exact match with the emulator's own ledger and
        # reports is transform/tests/test_emulator_books.py).
        income = one(
            conn,
            "select sum(amount) from analytics.profit_and_loss"
            " where section = 'Income' and accounting_method = 'Accrual'",
        )
        assert income > 0
        assert income == one(
            conn,
            "select sum(credit - debit) from analytics.general_ledger"
            " where account_type = 'Income'",
        )
        invoiced = one(
            conn,
            "select sum(amount) from staging.int_qbo__invoice_lines"
            " where detail_type = 'SalesItemLineDetail'",
        )
        assert 0 < invoiced <= income

    # The statements equal the reports the tap loaded, every month and basis, to the cent.
    proc = subprocess.run(
        [str(BIN / "qbo-warehouse"), "reconcile", "--statements-only"],
        env=project.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stdout
    assert proc.stdout.splitlines()[-1] == "statements: everything matches"
    for basis in ("Accrual", "Cash"):
        assert f"OK       9341450000000001 {basis}: ProfitAndLoss " in proc.stdout
