"""The general ledger of the emulator's whole company equals the emulator's own ledger.

The emulator keeps a ledger of what each of its documents posts (`qbo_emulator.postings`, the
same QuickBooks rules written in Python). Every object of every entity of its seeded company goes
into the raw tables as the API renders it, `dbt build` runs, and each document's postings per
account must equal the emulator's to the cent, as must every month's balance per account.

When the emulator also answers reports (`qbo_emulator.reports`), its ProfitAndLoss and
BalanceSheet of every month on both bases (Accrual, Cash) and its AgedReceivables and
AgedPayables of every month end are loaded as the report streams store them (raw tables only:
dbt flattens them itself, `stg_qbo__report_<name>_lines`), and `analytics.statement_differences`
must be empty: the statements match QuickBooks to the cent. Each month's cash-basis net per
account must also equal the emulator's cash-basis ledger (`qbo_emulator.ledger`).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from company_loader import load_objects, load_reports

if TYPE_CHECKING:
    from conftest import Warehouse

postings = pytest.importorskip(
    "qbo_emulator.postings", reason="this emulator keeps no ledger (qbo_emulator.postings)"
)
data = pytest.importorskip("qbo_emulator.data")

TRANSFORM = Path(__file__).resolve().parent.parent
BASES = ("Accrual", "Cash")


@pytest.fixture(scope="module")
def company(warehouse: Warehouse) -> Any:
    companies = data.build_companies(seed=8, customers=150, items=50, invoices=1600, realms=1)
    ((realm, c),) = companies.items()
    load_objects(warehouse, realm, c)
    if reports_available():
        months = {day[:7] for day, *_ in postings.journal(c)}
        load_reports(warehouse, realm, c, months, methods=BASES)
    result = warehouse.dbt("build")
    if result.returncode != 0:
        pytest.fail("dbt build failed:\n" + "\n".join(result.stdout.splitlines()[-60:]))
    return realm, c


def reports_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("qbo_emulator.reports", "qbo_emulator.reporting")
    )


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
            " period_net * 100 as cents from analytics.trial_balance where realm_id = %s"
            " and accounting_method = 'Accrual'",
            realm,
        )
        if row["cents"]
    }
    assert found == {k: v for k, v in moves.items() if v}


def test_cash_basis_month_balances_equal_the_emulators(warehouse: Warehouse, company: Any) -> None:
    """Each month's net per account on the cash basis equals the emulator's cash ledger."""
    if not reports_available():
        pytest.skip("this emulator keeps no cash-basis ledger")
    realm, c = company
    ledger = importlib.import_module("qbo_emulator.reporting").Books(c).ledger()
    moves: dict[tuple[str, str], int] = defaultdict(int)
    for p in ledger.postings["Cash"]:
        moves[(p.date[:7], str(p.account_id))] += p.amount
    found = {
        (row["month"], row["account_id"]): int(row["cents"])
        for row in warehouse.query(
            "select to_char(period_month, 'YYYY-MM') as month, account_id,"
            " period_net * 100 as cents from analytics.trial_balance where realm_id = %s"
            " and accounting_method = 'Cash'",
            realm,
        )
        if row["cents"]
    }
    expected = {k: v for k, v in moves.items() if v}
    # The cash basis really differs: documents are recognized as they are paid.
    assert expected != {
        (row["month"], row["account_id"]): int(row["cents"])
        for row in warehouse.query(
            "select to_char(period_month, 'YYYY-MM') as month, account_id,"
            " period_net * 100 as cents from analytics.trial_balance where realm_id = %s"
            " and accounting_method = 'Accrual' and period_net <> 0",
            realm,
        )
    }
    wrong = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
    assert [(k, found.get(k), expected.get(k)) for k in wrong[:10]] == []


def test_statements_match_the_emulators_reports(warehouse: Warehouse, company: Any) -> None:
    """Every month, both bases: the P&L and balance sheet lines, and the aging, to the cent."""
    if not reports_available():
        pytest.skip("this emulator answers no reports")
    realm, _ = company
    for basis in BASES:
        compared = warehouse.query(
            "select count(*) as n from staging.stg_qbo__report_profit_and_loss_lines"
            " where line_kind = 'Data' and col_key = 'total' and account_id is not null"
            " and accounting_method = %s",
            basis,
        )[0]["n"]
        assert compared > 100, basis
    months = warehouse.query(
        "select count(*) as n from staging.int_qbo__months where realm_id = %s", realm
    )[0]["n"]
    periods = warehouse.query(
        "select statement, accounting_method, count(*) filter (where is_compared) as compared,"
        " count(*) as loaded from analytics.statement_periods group by 1, 2 order by 1, 2"
    )
    assert [tuple(r.values()) for r in periods] == [
        ("AgedPayables", "Accrual", months, months),
        ("AgedReceivables", "Accrual", months, months),
        ("BalanceSheet", "Accrual", months, months),
        ("BalanceSheet", "Cash", months, months),
        ("ProfitAndLoss", "Accrual", months, months),
        ("ProfitAndLoss", "Cash", months, months),
    ]
    assert months >= 48
    differences = warehouse.query(
        "select statement, accounting_method, period_month::text as month, account_id,"
        " quickbooks_amount, model_amount from analytics.statement_differences"
        " order by 1, 2, 3, 4 limit 10"
    )
    assert differences == []
