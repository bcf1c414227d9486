"""Report tables: the `_lines` views sum to the reports' own totals; totals reconcile with QBO."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from qbo_emulator.testing import EmulatorServer
from tap_quickbooks import reports as tap_reports

from qbo_warehouse import cli
from qbo_warehouse.reports import TABLES, check, create_line_views, render, summary_lines

COMPANY = {"seed": 5, "customers": 25, "items": 10, "invoices": 150, "realms": 1}
MONTHS = tap_reports.complete_periods(dt.date(2024, 1, 1), dt.date(2024, 4, 1), "month")
DDL = """
CREATE TABLE raw.{t} (
    realm_id text, accounting_method text, period_start date, period_end date, payload jsonb,
    PRIMARY KEY (realm_id, accounting_method, period_start, period_end)
)
"""


@pytest.fixture(scope="module")
def emu():
    with EmulatorServer(**COMPANY) as server:
        yield server


@pytest.fixture
def config(emu, tmp_path) -> dict:
    return {
        "client_id": "qbo-emulator-client",
        "client_secret": "qbo-emulator-secret",
        "refresh_token": emu.refresh_token(),
        "realm_id": emu.realm_ids[0],
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": "2024-01-01",
        "end_date": "2024-04-01",
        "token_store_path": str(tmp_path / "tokens.json"),
        "report_accounting_method": "both",
    }


@pytest.fixture
def loaded(conn, emu):
    """raw.qb_report_* filled the way the pipeline fills them (Jan..Mar 2024, both bases)."""
    realm = emu.realm_ids[0]
    conn.execute("CREATE SCHEMA raw")
    for table, stream in TABLES.items():
        conn.execute(DDL.format(t=table))
        methods = ("Accrual",) if stream.as_of else ("Accrual", "Cash")
        for first, last in MONTHS:
            for method in methods:
                body = emu.report(realm, stream.entity, **stream.params(first, last, method))
                conn.execute(
                    f"INSERT INTO raw.{table} VALUES (%s, %s, %s, %s, %s)",
                    (realm, method, first, last, json.dumps(body)),
                )
    create_line_views(conn, "raw")
    return conn


def test_lines_sum_to_every_section_total(loaded) -> None:
    """Each money summary equals the sum of the data lines below it (running balances aside);
    a GrandTotal without rows of its own sums its sibling data lines (aging, trial balance)."""
    checked = 0
    for table in TABLES:
        loaded.execute(f"CREATE TEMP TABLE lines AS SELECT * FROM raw.{table}_lines")
        rows = loaded.execute(
            """
            SELECT s.accounting_method, s.period_start, s.label, s.col_key, s.value_number,
                   sum(d.value_number) AS detail
              FROM lines s
              LEFT JOIN lines d
                ON (d.realm_id, d.accounting_method, d.period_start, d.col_key)
                   = (s.realm_id, s.accounting_method, s.period_start, s.col_key)
               AND d.line_kind = 'Data'
               AND CASE WHEN s.section_group = 'GrandTotal'
                        THEN cardinality(d.line_position) = cardinality(s.line_position)
                        ELSE d.line_position[1:cardinality(s.line_position)] = s.line_position
                             AND cardinality(d.line_position) > cardinality(s.line_position)
                   END
             WHERE s.line_kind = 'Summary' AND s.value_number IS NOT NULL
               AND s.col_key NOT LIKE 'rbal%'
             GROUP BY s.accounting_method, s.period_start, s.line_position, s.label, s.col_key,
                      s.value_number
            """
        ).fetchall()
        summed = [r for r in rows if r[5] is not None]
        (data,) = loaded.execute("SELECT count(*) FROM lines WHERE line_kind = 'Data'").fetchone()
        loaded.execute("DROP TABLE lines")
        assert summed or not data, table  # (no bills in this company: no payables to age)
        for method, start, label, key, total, detail in summed:
            assert total == detail, (table, method, start, label, key)
        checked += len(summed)
    assert checked > 50


def test_lines_use_column_keys_and_carry_accounts(loaded) -> None:
    keys = {
        r[0]
        for r in loaded.execute("SELECT DISTINCT col_key FROM raw.qb_report_general_ledger_lines")
    }
    assert {"subt_nat_amount", "rbal_nat_amount", "txn_type"} <= keys
    assert "tx_date" not in keys  # the first column is each line's label (here its date)
    aging = {
        r[0]
        for r in loaded.execute("SELECT DISTINCT col_key FROM raw.qb_report_aged_receivables_lines")
    }
    assert aging == {f"col_{n}" for n in range(1, 7)}  # the aging report has no ColKey
    (income,) = loaded.execute(
        "SELECT value_number FROM raw.qb_report_profit_and_loss_lines "
        "WHERE accounting_method = 'Accrual' AND period_start = '2024-01-01' "
        "AND line_kind = 'Summary' AND section_group = 'Income' AND col_key = 'total'"
    ).fetchone()
    accounts = loaded.execute(
        "SELECT sum(value_number) FROM raw.qb_report_general_ledger_lines "
        "WHERE accounting_method = 'Accrual' AND period_start = '2024-01-01' "
        "AND line_kind = 'Data' AND col_key = 'subt_nat_amount' AND account_id IN "
        "(SELECT DISTINCT account_id FROM raw.qb_report_profit_and_loss_lines "
        " WHERE section_group = 'Income' AND line_kind = 'Data')"
    ).fetchone()[0]
    assert income == accounts  # the P&L's income is the ledger's postings to income accounts


def test_report_totals_reconcile_with_quickbooks(loaded, config, emu) -> None:
    from qbo_warehouse.reconcile import load

    result = check(loaded, load(config), config)
    assert result.ok, render(result)
    assert result.periods == len(MONTHS) * (6 * 2 + 2)
    assert result.requests == result.periods

    emu.backdate(emu.realm_ids[0], "2024-02-12", "77.70")
    after = check(loaded, load(config), config)
    assert not after.ok
    changed = {(m.table, m.period_start.isoformat()) for m in after.mismatches}
    assert ("qb_report_profit_and_loss", "2024-02-01") in changed
    assert all(m.period_start >= dt.date(2024, 2, 1) for m in after.mismatches)
    net = {
        m.accounting_method: m.warehouse - m.quickbooks
        for m in after.mismatches
        if m.table == "qb_report_profit_and_loss"
        and m.line == "Net Income"
        and m.warehouse is not None
        and m.quickbooks is not None
    }
    assert net == {"Accrual": Decimal("77.70"), "Cash": Decimal("77.70")}


def test_missing_months_are_listed(loaded, config) -> None:
    from qbo_warehouse.reconcile import load

    loaded.execute("DELETE FROM raw.qb_report_cash_flow WHERE period_start = '2024-02-01'")
    result = check(loaded, load(config), config)
    assert any("qb_report_cash_flow" in m and "2024-02-01" in m for m in result.missing)


def test_cli_reports_flag(loaded, config, pg_dsn, tmp_path, capsys) -> None:
    path = tmp_path / "tap.json"
    path.write_text(json.dumps({**config, "window_days": 400}))
    rc = cli.main(["reconcile", "--tap-config", str(path), "--dsn", pg_dsn, "--reports"])
    out = capsys.readouterr().out
    assert "reports: 42 periods compared with QuickBooks" in out
    assert rc in (0, 1)  # the entity tables are absent here; the reports line is what we check
    assert cli.main(["report-views", "--dsn", pg_dsn]) == 0
    assert capsys.readouterr().out.startswith("8 views: qb_report_profit_and_loss_lines, ")


def test_python_and_sql_flattening_agree(loaded, emu) -> None:
    body = emu.report(
        emu.realm_ids[0], "BalanceSheet", start_date="2024-03-01", end_date="2024-03-31"
    )
    ours = summary_lines(body)
    rows = loaded.execute(
        "SELECT section_path, label, col_key, value_number FROM raw.qb_report_balance_sheet_lines "
        "WHERE accounting_method = 'Accrual' AND period_start = '2024-03-01' "
        "AND line_kind = 'Summary'"
    ).fetchall()
    assert {(tuple(p), lab, k): v for p, lab, k, v in rows} == ours


def test_the_walk_file_is_plain_sql_around_one_name() -> None:
    """report_lines.sql is also read by dbt as a macro: its Jinja tags sit in SQL comments, and
    the body names the function once, which create_line_views fills in."""
    from qbo_warehouse import reports

    lines = reports.LINES_FUNCTION.splitlines()
    tagged = [line for line in lines if "{%" in line or "{#" in line]
    assert len(tagged) == 2
    assert all(line.startswith("-- ") for line in tagged)
    assert reports.LINES_FUNCTION.count("{{") == 1
    statement = reports.lines_function(reports.sql.Identifier("raw", "qb_report_lines"))
    text = statement.as_string(None)
    assert 'CREATE OR REPLACE FUNCTION "raw"."qb_report_lines"(payload jsonb)' in text
    assert "{{" not in text


def test_a_walk_file_without_its_name_is_refused(monkeypatch) -> None:
    from qbo_warehouse import reports

    monkeypatch.setattr(reports, "LINES_FUNCTION", "CREATE FUNCTION f() AS $$ SELECT 1 $$")
    with pytest.raises(ValueError, match="name the function once"):
        reports.lines_function(reports.sql.Identifier("raw", "qb_report_lines"))
