"""The general ledger of the emulator's whole company equals the emulator's own ledger.

The emulator keeps a ledger of what each of its documents posts (`qbo_emulator.postings`, the
same QuickBooks rules written in Python). Every object of every entity of its seeded company goes
into the raw tables as the API renders it, `dbt build` runs, and each document's postings per
account must equal the emulator's to the cent, as must every month's balance per account.

When the emulator also answers reports (`qbo_emulator.reports`) and the warehouse makes their
line views (`qbo_warehouse.reports`), its ProfitAndLoss, BalanceSheet, AgedReceivables and
AgedPayables of every month are loaded as the report streams store them, and
`analytics.statement_differences` must be empty: the statements match QuickBooks to the cent.
"""

from __future__ import annotations

import calendar
import importlib
import importlib.util
import json
import re
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

if TYPE_CHECKING:
    from conftest import Warehouse

postings = pytest.importorskip(
    "qbo_emulator.postings", reason="this emulator keeps no ledger (qbo_emulator.postings)"
)
data = pytest.importorskip("qbo_emulator.data")

REPORTS = {
    "ProfitAndLoss": "qb_report_profit_and_loss",
    "BalanceSheet": "qb_report_balance_sheet",
    "AgedReceivables": "qb_report_aged_receivables",
    "AgedPayables": "qb_report_aged_payables",
}
SPECIAL = {"Class": "classes", "CompanyInfo": "company_info", "Preferences": "preferences"}


def stream_of(entity: str) -> str:
    """The tap's stream name of a QuickBooks entity: the snake_case plural."""
    if entity in SPECIAL:
        return SPECIAL[entity]
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", entity).lower()
    return snake[:-1] + "ies" if snake.endswith("y") else snake + "s"


@pytest.fixture(scope="module")
def company(warehouse: Warehouse) -> Any:
    companies = data.build_companies(seed=8, customers=150, items=50, invoices=1600, realms=1)
    ((realm, c),) = companies.items()
    for entity, table in c.tables.items():
        objects = [json.loads(c.render(entity, row)) for row in table.rows.values()]
        warehouse.load(stream_of(entity), realm, objects)
    if reports_available():
        load_reports(warehouse, realm, c)
    result = warehouse.dbt("build")
    if result.returncode != 0:
        pytest.fail("dbt build failed:\n" + "\n".join(result.stdout.splitlines()[-60:]))
    return realm, c


def reports_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("qbo_emulator.reports", "qbo_emulator.reporting", "qbo_warehouse.reports")
    )


def load_reports(warehouse: Warehouse, realm: str, c: Any) -> None:
    """Every month's reports of the emulator, stored as the report streams store them."""
    # Imported by name: these modules exist only in versions with reports.
    books = importlib.import_module("qbo_emulator.reporting").Books
    build_report = importlib.import_module("qbo_emulator.reports").build_report
    create_line_views = importlib.import_module("qbo_warehouse.reports").create_line_views

    ledger = books(c).ledger()
    months = sorted({day[:7] for day, *_ in postings.journal(c)})
    with psycopg.connect(warehouse.dsn, autocommit=True) as conn:
        for name, table in REPORTS.items():
            target = sql.Identifier("raw", table)
            conn.execute(
                sql.SQL(
                    "create table {} (realm_id text, accounting_method text, period_start date,"
                    " period_end date, payload jsonb, _sdc_deleted_at timestamp,"
                    " primary key (realm_id, accounting_method, period_start, period_end))"
                ).format(target)
            )
            for month in months:
                year, number = int(month[:4]), int(month[5:])
                start = f"{month}-01"
                end = f"{month}-{calendar.monthrange(year, number)[1]:02d}"
                if name.startswith("Aged"):
                    params = {"report_date": end, "accounting_method": "Accrual"}
                else:
                    params = {"start_date": start, "end_date": end, "accounting_method": "Accrual"}
                body = build_report(
                    ledger, name, params, today="2030-01-01", time_text="2030-01-01T00:00:00-08:00"
                )
                conn.execute(
                    sql.SQL("insert into {} values (%s, 'Accrual', %s, %s, %s, null)").format(
                        target
                    ),
                    (realm, start, end, json.dumps(body)),
                )
        create_line_views(conn, "raw")


def test_every_document_posts_what_the_emulator_posts(warehouse: Warehouse, company: Any) -> None:
    realm, c = company
    expected: dict[tuple[str, str, str], int] = defaultdict(int)
    for _day, entity, doc_id, account, cents in postings.journal(c):
        expected[(entity, str(doc_id), str(account))] += cents
    found: dict[tuple[str, str, str], int] = defaultdict(int)
    for row in warehouse.query(
        "select transaction_type, transaction_id, account_id, sum(amount) * 100 as cents"
        " from analytics.general_ledger where realm_id = %s group by 1, 2, 3",
        realm,
    ):
        key = (row["transaction_type"], row["transaction_id"], str(row["account_id"]))
        found[key] += int(row["cents"])
    expected = {k: v for k, v in expected.items() if v}
    found = {k: v for k, v in found.items() if v}
    missing = sorted(set(expected) - set(found))[:10]
    extra = sorted(set(found) - set(expected))[:10]
    wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])[:10]
    assert (missing, extra, wrong) == ([], [], [])
    assert len(found) > 5000


def test_month_end_balances_equal_the_emulators(warehouse: Warehouse, company: Any) -> None:
    realm, c = company
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for day, _entity, _doc_id, account, cents in postings.journal(c):
        moves[(day[:7], str(account))] += cents
    found = {
        (row["month"], row["account_id"]): int(row["cents"])
        for row in warehouse.query(
            "select to_char(period_month, 'YYYY-MM') as month, account_id,"
            " period_net * 100 as cents from analytics.trial_balance where realm_id = %s",
            realm,
        )
        if row["cents"]
    }
    assert found == {k: v for k, v in moves.items() if v}


def test_statements_match_the_emulators_reports(warehouse: Warehouse, company: Any) -> None:
    if not reports_available():
        pytest.skip("this emulator answers no reports, or the warehouse makes no report line views")
    compared = warehouse.query(
        "select count(*) as n from raw.qb_report_profit_and_loss_lines"
        " where line_kind = 'Data' and col_key = 'total' and account_id is not null"
    )[0]["n"]
    assert compared > 100
    differences = warehouse.query(
        "select statement, period_month::text as month, account_id, quickbooks_amount,"
        " model_amount from analytics.statement_differences order by 1, 2, 3 limit 10"
    )
    assert differences == []
