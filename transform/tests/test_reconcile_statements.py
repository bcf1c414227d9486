"""`qbo-warehouse reconcile`'s statement check on the built models of the emulator's company.

The company's objects (some in other currencies) and its ProfitAndLoss and BalanceSheet of every
month on both bases, and its aging reports, go into the raw tables, `dbt build` runs, and the
check must pass; then one account's amount in one month's stored P&L is changed: the check says
the models are older than the load until they are rebuilt, and then lists that account and month
with both amounts and the difference.
"""

from __future__ import annotations

import calendar
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from company_loader import load_objects, load_reports

if TYPE_CHECKING:
    from conftest import Warehouse

data = pytest.importorskip("qbo_emulator.data")
pytest.importorskip("qbo_emulator.reports", reason="this emulator answers no reports")
reporting = pytest.importorskip("qbo_emulator.reporting")
cli = pytest.importorskip("qbo_warehouse.cli")

BASES = ("Accrual", "Cash")


@pytest.fixture(scope="module")
def built(warehouse: Warehouse) -> tuple[str, list[str]]:
    # Bills and bill payments in other currencies too (both bases convert them).
    companies = data.build_companies(
        seed=11, customers=40, items=15, invoices=300, realms=1, multicurrency=True
    )
    ((realm, company),) = companies.items()
    load_objects(warehouse, realm, company)
    ledger = reporting.Books(company).ledger()
    months = sorted({p.date[:7] for p in ledger.postings["Accrual"]})
    load_reports(warehouse, realm, company, months, methods=("Accrual", "Cash"))
    build(warehouse)
    return realm, months


def build(warehouse: Warehouse) -> None:
    result = warehouse.dbt("build")
    if result.returncode != 0:
        pytest.fail("dbt build failed:\n" + "\n".join(result.stdout.splitlines()[-60:]))


def reconcile(warehouse: Warehouse, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = cli.main(["reconcile", "--statements-only", "--dsn", warehouse.dsn, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_built_models_match_every_loaded_month(
    warehouse: Warehouse, built: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    realm, months = built
    code, out, err = reconcile(warehouse, capsys)
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1] == "statements: everything matches"
    first, last = months[0], months[-1]
    for basis in BASES:
        line = next(x for x in out.splitlines() if x.startswith(f"OK       {realm} {basis}: "))
        n = len(months)
        assert f"ProfitAndLoss {n} months, BalanceSheet {n} months" in line, line
        assert line.endswith(f"({first}..{last})"), line
    assert "MISMATCH" not in out

    code, out, _ = reconcile(warehouse, capsys, "--format", "json")
    body = json.loads(out)
    assert (code, body["ok"], body["statements"]["differences"]) == (0, True, [])
    compared = {(c["accounting_method"], c["statement"]) for c in body["statements"]["compared"]}
    assert compared == {
        *((b, s) for b in BASES for s in ("ProfitAndLoss", "BalanceSheet")),
        ("Accrual", "AgedReceivables"),
        ("Accrual", "AgedPayables"),
    }


def test_a_changed_report_line_is_stale_then_listed(
    warehouse: Warehouse, built: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    realm, months = built
    month = months[len(months) // 2]
    # The first account line of the Income section of that month's stored Accrual P&L.
    (row,) = warehouse.query(
        "select l.line_position, l.col_index, l.account_id, l.value_number"
        " from staging.stg_qbo__report_profit_and_loss_lines as l"
        " where l.realm_id = %s and l.accounting_method = 'Accrual'"
        " and l.period_start = %s::date and l.line_kind = 'Data' and l.col_key = 'total'"
        " and l.section_group = 'Income' and l.account_id is not null"
        " order by l.line_position limit 1",
        realm,
        f"{month}-01",
    )
    ours = row["value_number"]
    changed = ours + Decimal("12.34")
    # Rows > Row[i] > Rows > Row[j] ... > ColData[col].value (jsonb paths are 0-based)
    path = [part for p in row["line_position"] for part in ("Rows", "Row", str(p - 1))]
    path += ["ColData", str(row["col_index"]), "value"]
    warehouse.execute(
        "update raw.qb_report_profit_and_loss"
        " set payload = jsonb_set(payload, %s::text[], to_jsonb(%s::text))"
        " where realm_id = %s and accounting_method = 'Accrual' and period_start = %s::date",
        [(path, f"{changed:.2f}", realm, f"{month}-01")],
    )

    # Loaded after the build: the check cannot vouch for it, and says so.
    code, out, _ = reconcile(warehouse, capsys)
    assert code == 1
    stale = [x for x in out.splitlines() if x.startswith("STALE")]
    assert stale == [
        f"STALE    ProfitAndLoss realm {realm} Accrual {month}-01..{months_end(month)}:"
        " changed since the last build"
    ], out
    assert "run `meltano invoke dbt-postgres:build`, then reconcile again" in out

    build(warehouse)  # the dbt test statements_match_quickbooks only warns
    code, out, _ = reconcile(warehouse, capsys)
    assert code == 1
    assert "STALE" not in out
    lines = out.splitlines()
    header = next(n for n, x in enumerate(lines) if x.startswith("realm "))
    assert lines[header].split() == [
        "realm",
        "basis",
        "statement",
        "month",
        "account",
        "ours",
        "quickbooks",
        "difference",
    ]
    listed = lines[header + 1]
    assert listed.startswith(f"{realm}  Accrual  ProfitAndLoss  {month}  {row['account_id']} ")
    assert listed.split()[-3:] == [f"{ours:,.2f}", f"{changed:,.2f}", "-12.34"]
    assert not lines[header + 2].startswith(realm)  # the only difference
    assert f"MISMATCH {realm} Accrual: ProfitAndLoss {len(months)} months (1 differ)" in out
    assert lines[-1].startswith("statements: 1 difference(s) in 1 month(s)")

    code, out, _ = reconcile(warehouse, capsys, "--format", "json")
    (difference,) = json.loads(out)["statements"]["differences"]
    assert code == 1
    assert difference == {
        "realm_id": realm,
        "accounting_method": "Accrual",
        "statement": "ProfitAndLoss",
        "period_month": f"{month}-01",
        "account_id": row["account_id"],
        "account_name": difference["account_name"],
        "ours": f"{ours:.2f}",
        "quickbooks": f"{changed:.2f}",
        "difference": "-12.34",
    }
    assert difference["account_name"]


def months_end(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{month}-{calendar.monthrange(year, number)[1]:02d}"
