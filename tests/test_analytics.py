"""The whole pipeline with the models: `meltano run tap-quickbooks target-postgres dbt-postgres:build`.

dbt builds every model and runs every test of transform/ (keys, references, the books balance)
on what the tap loaded; here we check what it built against the raw tables it read.
"""

from __future__ import annotations

import psycopg


def test_run_with_dbt_build_makes_the_books(emulator, make_project) -> None:
    project = make_project(emulator)
    project.meltano("--environment=demo", "run", "tap-quickbooks", "target-postgres", "dbt-postgres:build")

    with psycopg.connect(project.dsn) as conn:
        raw_tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            )
        ]
        # dbt reads raw and writes nothing there, not even the tables of streams not loaded.
        assert raw_tables == ["qb_customers", "qb_invoices", "qb_items"]
        live = conn.execute("select count(*) from raw.qb_invoices where _sdc_deleted_at is null").fetchone()
        staged = conn.execute("select count(*) from staging.stg_qbo__invoices").fetchone()
        assert live is not None and staged is not None and staged[0] == live[0] > 0
        # Every live invoice with an amount posts, and every month's trial balance nets to zero.
        posted = conn.execute(
            "select count(distinct transaction_id) from analytics.general_ledger where transaction_type = 'Invoice'"
        ).fetchone()
        nonzero = conn.execute("select count(*) from staging.stg_qbo__invoices where total_amount <> 0").fetchone()
        assert posted == nonzero
        months = conn.execute(
            "select count(*), count(*) filter (where total <> 0) from ("
            " select realm_id, period_month, sum(closing_balance) as total"
            " from analytics.trial_balance group by 1, 2) as m"
        ).fetchone()
        assert months is not None and months[0] > 12 and months[1] == 0
        income = conn.execute(
            "select sum(amount) from analytics.profit_and_loss where section = 'Income'"
        ).fetchone()
        lines = conn.execute(
            "select sum(amount) from staging.int_qbo__invoice_lines where detail_type = 'SalesItemLineDetail'"
        ).fetchone()
        assert income == lines
