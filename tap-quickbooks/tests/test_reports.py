"""Report streams: periods, restatement, size-cap splitting, both bases, years split into
periods, aging without a basis, the report budget."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks import reports
from tap_quickbooks.errors import SettingError
from tap_quickbooks.report_streams import (
    NO_BASIS,
    REPORT_STREAM_TYPES,
    AgedPayablesReport,
    AgedReceivablesReport,
    BalanceSheetReport,
)
from tests.conftest import run_tap, tap_config

D = dt.date
Q1 = {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-04-01T00:00:00Z"}


# ---------------------------------------------------------------------------- pure


def test_complete_periods_stop_before_the_end() -> None:
    months = reports.complete_periods(D(2024, 1, 15), D(2024, 4, 1), "month")
    assert months == [
        (D(2024, 1, 1), D(2024, 1, 31)),
        (D(2024, 2, 1), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
    ]
    assert reports.complete_periods(D(2024, 1, 1), D(2024, 3, 31), "month")[-1][1] == D(2024, 2, 29)
    quarters = reports.complete_periods(D(2023, 11, 1), D(2024, 7, 1), "quarter")
    assert quarters == [
        (D(2023, 10, 1), D(2023, 12, 31)),
        (D(2024, 1, 1), D(2024, 3, 31)),
        (D(2024, 4, 1), D(2024, 6, 30)),
    ]


def test_plan_reads_new_periods_and_restates_the_last_months() -> None:
    start, end = D(2024, 1, 1), D(2024, 7, 1)
    assert len(reports.plan(start, end, "month", None, 3)) == 6
    again = reports.plan(start, end, "month", D(2024, 6, 30), 3)
    assert [p[0].month for p in again] == [4, 5, 6]
    newer = reports.plan(start, D(2024, 9, 1), "month", D(2024, 6, 30), 3)
    assert [p[0].month for p in newer] == [6, 7, 8]
    assert reports.plan(start, end, "month", D(2024, 6, 30), 0) == []
    quarters = reports.plan(start, end, "quarter", D(2024, 6, 30), 3)
    assert quarters == [(D(2024, 4, 1), D(2024, 6, 30))]


def test_split_months_then_weeks_then_days() -> None:
    weeks = reports.split(D(2024, 2, 1), D(2024, 2, 29))
    assert weeks is not None
    assert weeks[0] == (D(2024, 2, 1), D(2024, 2, 7))
    assert weeks[-1] == (D(2024, 2, 29),) * 2
    days = reports.split(D(2024, 2, 1), D(2024, 2, 7))
    assert days is not None
    assert len(days) == 7
    assert reports.split(D(2024, 2, 1), D(2024, 2, 1)) is None
    months = reports.split(D(2024, 1, 1), D(2024, 3, 31))
    assert months is not None
    assert [m[1].day for m in months] == [31, 29, 31]


def test_report_settings_are_validated() -> None:
    s = reports.load_report_settings({"report_accounting_method": "both"})
    assert reports.load_report_settings({}) == reports.ReportSettings()  # defaults agree
    assert s.methods == ("Accrual", "Cash")
    assert (s.restate_months, s.period) == (3, "month")
    for name, value in [
        ("report_period", "week"),
        ("report_accounting_method", "modified"),
        ("report_restate_months", "-1"),
        ("report_requests_per_minute", "many"),
        ("report_start_date", "2024-02-30"),
    ]:
        with pytest.raises(SettingError, match=name):
            reports.load_report_settings({name: value})


# ---------------------------------------------------------------------------- against the emulator


def data_rows(body, column: int):
    """(section header id, amount) of every data row of a detail report."""
    out = []

    def walk(rows, section):
        for row in rows:
            if "ColData" in row and row["ColData"][0]["value"] != "Beginning Balance":
                out.append((section, Decimal(row["ColData"][column]["value"])))
            header = (row.get("Header") or {}).get("ColData") or [{}]
            walk((row.get("Rows") or {}).get("Row", []), header[0].get("id", section))

    walk(body["Rows"]["Row"], None)
    return out


def net_income(body) -> Decimal:
    return Decimal(body["Rows"]["Row"][-1]["Summary"]["ColData"][1]["value"])


def bookmark(state, stream, realm):
    for partition in state["bookmarks"][stream]["partitions"]:
        if partition["context"] == {"realm_id": realm}:
            return partition.get("replication_key_value")
    return None


def test_report_streams_are_not_read_unless_selected(tmp_path) -> None:
    with EmulatorServer(invoices=30) as emu:
        result = run_tap(tap_config(emu, tmp_path, **Q1))
        assert not [s for s in result.records if s.startswith("report_")]
        assert "reports" not in emu.stats()["by_endpoint"]


def test_every_report_both_bases_per_month(tmp_path) -> None:
    names = [s.name for s in REPORT_STREAM_TYPES]
    with EmulatorServer(invoices=200) as emu:
        config = tap_config(emu, tmp_path, report_accounting_method="both", **Q1)
        result = run_tap(config, streams=names)
        realm = emu.realm_ids[0]
        for stream in REPORT_STREAM_TYPES:
            rows = result.records[stream.name]
            methods = ["Accrual"] if stream.as_of else ["Accrual", "Cash"]
            keys = {(r["accounting_method"], r["period_start"], r["period_end"]) for r in rows}
            assert keys == {
                (m, f"2024-0{n}-01", end)
                for m in methods
                for n, end in ((1, "2024-01-31"), (2, "2024-02-29"), (3, "2024-03-31"))
            }, stream.name
            for r in rows:
                header = r["payload"]["Header"]
                assert header["ReportName"] == stream.entity
                assert header["EndPeriod"] == r["period_end"]
                if not stream.as_of:
                    assert header["ReportBasis"] == r["accounting_method"]
                    params = {
                        "start_date": r["period_start"],
                        "end_date": r["period_end"],
                        "accounting_method": r["accounting_method"],
                    }
                else:
                    params = {"report_date": r["period_end"], "start_date": r["period_start"]}
                    params["end_date"] = r["period_end"]
                truth = emu.report(realm, stream.entity, **params)
                truth["Header"]["Time"] = header["Time"]
                assert r["payload"] == truth, (stream.name, r["period_start"])
            assert bookmark(result.last_state, stream.name, realm) == "2024-03-31"
        # months x (4 reports x 2 bases + 2 aging reports), and the balance sheet and cash
        # flow: one request for the year's three months per basis
        expected = 3 * (2 * 4 + 2) + 2 * 2
        assert emu.stats()["by_endpoint"]["reports"] == expected


def test_a_backdated_posting_is_picked_up_by_the_next_run(tmp_path) -> None:
    with EmulatorServer(invoices=100) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path, report_restate_months=2, **Q1)
        first = run_tap(config, streams=["report_profit_and_loss"])
        before = {r["period_start"]: r for r in first.records["report_profit_and_loss"]}
        emu.backdate(realm, "2024-02-10", "250.00")  # February is closed and was read
        emu.reset_stats()
        second = run_tap(config, state=first.last_state, streams=["report_profit_and_loss"])
        after = {r["period_start"]: r for r in second.records["report_profit_and_loss"]}
        assert set(after) == {"2024-02-01", "2024-03-01"}  # the last 2 months again
        change = net_income(before["2024-02-01"]["payload"]) - net_income(
            after["2024-02-01"]["payload"]
        )
        assert change == Decimal("250.00")
        assert after["2024-03-01"]["payload"]["Rows"] == before["2024-03-01"]["payload"]["Rows"]
        assert emu.stats()["by_endpoint"]["reports"] == 2
        assert bookmark(second.last_state, "report_profit_and_loss", realm) == "2024-03-31"


def test_a_report_cut_short_is_split_by_week_then_day_and_merged(tmp_path) -> None:
    with EmulatorServer(invoices=400, report_max_cells=250) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(
            emu,
            tmp_path,
            start_date="2024-03-01T00:00:00Z",
            end_date="2024-04-01T00:00:00Z",
        )
        result = run_tap(config, streams=["report_general_ledger"])
        (record,) = result.records["report_general_ledger"]
        assert record["page_number"] > 5  # the month, its weeks, and days of the largest weeks
        body = record["payload"]
        assert not reports.is_truncated(body)
        assert (body["Header"]["StartPeriod"], body["Header"]["EndPeriod"]) == (
            "2024-03-01",
            "2024-03-31",
        )
        truth = emu.report(realm, "GeneralLedger", start_date="2024-03-01", end_date="2024-03-31")
        amount = 6  # subt_nat_amount
        assert sorted(data_rows(body, amount)) == sorted(data_rows(truth, amount))
        # every account section and its totals as in the uncut report (a section first seen in
        # a later piece may stand elsewhere in the list: pieces do not say QuickBooks' order)
        ours = {json.dumps(r["Header"]): r["Summary"] for r in body["Rows"]["Row"]}
        real = {json.dumps(r["Header"]): r["Summary"] for r in truth["Rows"]["Row"]}
        assert ours == real
        assert emu.stats()["by_endpoint"]["reports"] == record["page_number"]


def test_a_summary_report_cut_short_stops_with_a_clear_error(tmp_path) -> None:
    with EmulatorServer(invoices=400, report_max_cells=10) as emu:
        config = tap_config(emu, tmp_path, **Q1)
        result = run_tap(config, streams=["report_aged_receivables"], raise_errors=False)
        assert result.error is not None
        assert "cut the AgedReceivables report" in str(result.error)
        assert "2024-01-01..2024-01-31" in str(result.error)


def test_report_start_date_limits_the_periods(tmp_path) -> None:
    with EmulatorServer(invoices=20) as emu:
        config = tap_config(emu, tmp_path, report_start_date="2024-03-15", **Q1)
        result = run_tap(config, streams=["report_balance_sheet"])
        assert [r["period_start"] for r in result.records["report_balance_sheet"]] == ["2024-03-01"]


def test_reports_wait_for_their_own_budget(tmp_path, no_sleep) -> None:
    with EmulatorServer(invoices=20) as emu:
        config = tap_config(
            emu,
            tmp_path,
            report_requests_per_minute=2,
            report_accounting_method="both",
            **Q1,
        )
        run_tap(config, streams=["report_trial_balance"])
        assert emu.stats()["by_endpoint"]["reports"] == 6
        # 6 requests at 2 a minute: the 3rd..6th wait for a slot (the realm budget never does)
        assert len([s for s in no_sleep if s > 0]) == 4


# ---------------------------------------------------------------------------- a year per request


def test_periods_are_grouped_by_calendar_year() -> None:
    months = reports.complete_periods(D(2023, 11, 1), D(2025, 3, 1), "month")
    groups = reports.by_year(months)
    assert [len(g) for g in groups] == [2, 12, 2]
    assert [(g[0][0], g[-1][1]) for g in groups] == [
        (D(2023, 11, 1), D(2023, 12, 31)),
        (D(2024, 1, 1), D(2024, 12, 31)),
        (D(2025, 1, 1), D(2025, 2, 28)),
    ]
    quarters = reports.complete_periods(D(2023, 5, 1), D(2025, 1, 1), "quarter")
    assert [len(g) for g in reports.by_year(quarters)] == [3, 4]
    # a gap (never planned, but not joined if it were) starts a new group
    assert len(reports.by_year([months[2], months[4]])) == 2
    assert reports.by_year([]) == []


def _money_column(title: str, first: str, last: str) -> dict:
    return {
        "ColTitle": title,
        "ColType": "Money",
        "MetaData": [
            {"Name": "StartDate", "Value": first},
            {"Name": "EndDate", "Value": last},
            {"Name": "ColKey", "Value": title},
        ],
    }


def _cells(label: str, *values: str, id: str | None = None) -> list[dict]:
    first = {"id": id, "value": label} if id else {"value": label}
    return [first, *({"value": v} for v in values)]


SUMMARIZED = {
    "Header": {
        "ReportName": "BalanceSheet",
        "StartPeriod": "2024-01-01",
        "EndPeriod": "2024-02-29",
        "SummarizeColumnsBy": "Month",
        "Option": [{"Name": "NoReportData", "Value": "false"}],
    },
    "Columns": {
        "Column": [
            {
                "ColTitle": "",
                "ColType": "Account",
                "MetaData": [{"Name": "ColKey", "Value": "account"}],
            },
            _money_column("Jan 2024", "2024-01-01", "2024-01-31"),
            _money_column("Feb 2024", "2024-02-01", "2024-02-29"),
            {
                "ColTitle": "Total",
                "ColType": "Money",
                "MetaData": [{"Name": "ColKey", "Value": "total"}],
            },
        ]
    },
    "Rows": {
        "Row": [
            {
                "Header": {"ColData": _cells("ASSETS", "", "", "")},
                "Rows": {
                    "Row": [
                        {
                            "Header": {"ColData": _cells("Bank Accounts", "", "", "")},
                            "Rows": {
                                "Row": [
                                    {
                                        "ColData": _cells(
                                            "Checking", "10.00", "", "10.00", id="35"
                                        ),
                                        "type": "Data",
                                    },
                                    {
                                        "ColData": _cells(
                                            "Savings", "0.00", "5.00", "5.00", id="36"
                                        ),
                                        "type": "Data",
                                    },
                                ]
                            },
                            "Summary": {
                                "ColData": _cells("Total Bank Accounts", "10.00", "5.00", "15.00")
                            },
                            "type": "Section",
                            "group": "BankAccounts",
                        },
                        {
                            "Header": {"ColData": _cells("Fixed Assets", "", "", "")},
                            "Rows": {
                                "Row": [
                                    {
                                        "ColData": _cells("Truck", "", "7.00", "7.00", id="37"),
                                        "type": "Data",
                                    }
                                ]
                            },
                            "Summary": {
                                "ColData": _cells("Total Fixed Assets", "0.00", "7.00", "7.00")
                            },
                            "type": "Section",
                            "group": "FixedAssets",
                        },
                    ]
                },
                "Summary": {"ColData": _cells("TOTAL ASSETS", "10.00", "12.00", "22.00")},
                "type": "Section",
                "group": "TotalAssets",
            },
            {
                "Header": {"ColData": _cells("LIABILITIES", "", "", "")},
                "Rows": {
                    "Row": [
                        {
                            "ColData": _cells("Mastercard", "", "3.00", "3.00", id="41"),
                            "type": "Data",
                        }
                    ]
                },
                "Summary": {"ColData": _cells("TOTAL LIABILITIES", "0.00", "3.00", "3.00")},
                "type": "Section",
                "group": "TotalLiabilities",
            },
        ]
    },
}


def test_a_year_with_a_column_per_month_splits_into_one_report_per_month() -> None:
    jan, feb = (D(2024, 1, 1), D(2024, 1, 31)), (D(2024, 2, 1), D(2024, 2, 29))
    parts = reports.split_columns(SUMMARIZED, [jan, feb])
    assert parts is not None
    january = parts[jan]
    assert january["Header"] == {
        "ReportName": "BalanceSheet",
        "StartPeriod": "2024-01-01",
        "EndPeriod": "2024-01-31",
        "SummarizeColumnsBy": "Total",
        "Option": [{"Name": "NoReportData", "Value": "false"}],
    }
    assert january["Columns"]["Column"][1] == {
        "ColTitle": "Total",
        "ColType": "Money",
        "MetaData": [{"Name": "ColKey", "Value": "total"}],
    }
    assets, liabilities = january["Rows"]["Row"]
    (bank,) = assets["Rows"]["Row"]  # Fixed Assets had lines in February only: left out
    assert [r["ColData"] for r in bank["Rows"]["Row"]] == [
        _cells("Checking", "10.00", id="35"),
        _cells("Savings", "0.00", id="36"),  # a zero QuickBooks shows is kept
    ]
    assert bank["Summary"]["ColData"] == _cells("Total Bank Accounts", "10.00")
    assert bank["Header"]["ColData"] == _cells("Bank Accounts", "")
    # a top-level section stays, without lines, as QuickBooks shows an empty one
    assert liabilities == {
        "Header": {"ColData": _cells("LIABILITIES", "")},
        "Summary": {"ColData": _cells("TOTAL LIABILITIES", "0.00")},
        "type": "Section",
        "group": "TotalLiabilities",
    }
    february = parts[feb]
    assert february["Header"]["EndPeriod"] == "2024-02-29"
    lines = [
        r["ColData"][0]["value"]
        for r in february["Rows"]["Row"][0]["Rows"]["Row"][0]["Rows"]["Row"]
    ]
    assert lines == ["Savings"]
    assert february["Rows"]["Row"][0]["Summary"]["ColData"] == _cells("TOTAL ASSETS", "12.00")
    assert SUMMARIZED["Header"]["SummarizeColumnsBy"] == "Month"  # the answer is left as it was


def test_a_year_without_the_columns_asked_for_is_not_split() -> None:
    march = (D(2024, 3, 1), D(2024, 3, 31))
    assert reports.split_columns(SUMMARIZED, [march]) is None
    one_column = {**SUMMARIZED, "Columns": {"Column": SUMMARIZED["Columns"]["Column"][:1]}}
    assert reports.split_columns(one_column, [(D(2024, 1, 1), D(2024, 1, 31))]) is None


def _same_as_alone(emu, realm: str, stream, record) -> None:
    """The record's body is the report QuickBooks gives for its period alone, byte for byte."""
    params = stream.params(
        D.fromisoformat(record["period_start"]),
        D.fromisoformat(record["period_end"]),
        record["accounting_method"],
    )
    truth = emu.report(realm, stream.entity, **params)
    truth["Header"]["Time"] = record["payload"]["Header"]["Time"]
    assert json.dumps(record["payload"]) == json.dumps(truth), (stream.name, params)


def _books_of_2019(emu, realm: str) -> None:
    """Journal entries before the company's own history: a card balance paid off in February,
    nothing at all in March, a truck bought on a loan in April."""
    emu.backdate(realm, "2019-01-05", "5000.00", debit="35", credit="34")
    emu.backdate(realm, "2019-01-20", "1000.00", debit="58", credit="41")
    emu.backdate(realm, "2019-02-10", "1000.00", debit="41", credit="35")
    emu.backdate(realm, "2019-04-15", "2000.00", debit="37", credit="43")


def test_balance_sheet_and_cash_flow_take_one_request_per_year(tmp_path) -> None:
    names = ["report_balance_sheet", "report_cash_flow"]
    by_stream = {s.name: s for s in REPORT_STREAM_TYPES}
    with EmulatorServer(invoices=20) as emu:
        realm = emu.realm_ids[0]
        _books_of_2019(emu, realm)
        config = tap_config(
            emu,
            tmp_path,
            start_date="2019-01-01T00:00:00Z",
            end_date="2020-01-01T00:00:00Z",
            report_accounting_method="both",
        )
        result = run_tap(config, streams=names)
        # a year of months, two bases, two reports: 4 requests instead of 48
        assert emu.stats()["by_endpoint"]["reports"] == 4
        for name in names:
            rows = result.records[name]
            assert len(rows) == 24
            for record in rows:
                _same_as_alone(emu, realm, by_stream[name], record)
                assert record["page_number"] == 1
                asked = record["request_payload"]
                assert (asked["start_date"], asked["end_date"]) == ("2019-01-01", "2019-12-31")
                assert asked["summarize_column_by"] == "Month"
                assert asked["accounting_method"] == record["accounting_method"]
            assert bookmark(result.last_state, name, realm) == "2019-12-31"
        # the lines only other months have were left out: the year lists the card, February not
        year = emu.report(
            realm,
            "BalanceSheet",
            start_date="2019-01-01",
            end_date="2019-12-31",
            summarize_column_by="Month",
        )
        assert "Credit Cards" in json.dumps(year)
        february = next(
            r
            for r in result.records["report_balance_sheet"]
            if r["period_start"] == "2019-02-01" and r["accounting_method"] == "Accrual"
        )
        assert "Credit Cards" not in json.dumps(february["payload"])


def test_years_are_clipped_to_the_dates_and_the_restated_months(tmp_path) -> None:
    with EmulatorServer(invoices=60) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(
            emu,
            tmp_path,
            start_date="2023-03-10T00:00:00Z",
            end_date="2025-02-15T00:00:00Z",
            report_restate_months=3,
        )
        first = run_tap(config, streams=["report_balance_sheet"])
        rows = first.records["report_balance_sheet"]
        assert len(rows) == 10 + 12 + 1  # Mar..Dec 2023, 2024, January 2025
        asked = sorted(
            {
                (r["request_payload"]["start_date"], r["request_payload"].get("end_date"))
                for r in rows
            }
        )
        assert asked == [
            ("2023-03-01", "2023-12-31"),
            ("2024-01-01", "2024-12-31"),
            ("2025-01-01", "2025-01-31"),  # one month alone: asked as such
        ]
        assert emu.stats()["by_endpoint"]["reports"] == 3
        for record in rows:
            _same_as_alone(emu, realm, BalanceSheetReport, record)

        emu.reset_stats()
        config["end_date"] = "2025-03-02T00:00:00Z"
        second = run_tap(config, state=first.last_state, streams=["report_balance_sheet"])
        again = [
            (r["period_start"], r["request_payload"]["start_date"])
            for r in second.records["report_balance_sheet"]
        ]
        # Dec 2024 .. Feb 2025: the 3 restated months, in two years
        assert again == [
            ("2024-12-01", "2024-12-01"),
            ("2025-01-01", "2025-01-01"),
            ("2025-02-01", "2025-01-01"),
        ]
        assert emu.stats()["by_endpoint"]["reports"] == 2
        assert bookmark(second.last_state, "report_balance_sheet", realm) == "2025-02-28"


def test_quarters_of_a_year_take_one_request(tmp_path) -> None:
    with EmulatorServer(invoices=60) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(
            emu,
            tmp_path,
            start_date="2024-01-01T00:00:00Z",
            end_date="2025-01-01T00:00:00Z",
            report_period="quarter",
        )
        result = run_tap(config, streams=["report_cash_flow"])
        rows = result.records["report_cash_flow"]
        assert [r["period_end"] for r in rows] == [
            "2024-03-31",
            "2024-06-30",
            "2024-09-30",
            "2024-12-31",
        ]
        assert {r["request_payload"]["summarize_column_by"] for r in rows} == {"Quarter"}
        assert emu.stats()["by_endpoint"]["reports"] == 1
        cash_flow = next(s for s in REPORT_STREAM_TYPES if s.name == "report_cash_flow")
        for record in rows:
            _same_as_alone(emu, realm, cash_flow, record)


def _cells_of(body) -> int:
    from qbo_emulator.reports import cells

    return cells(body)


def test_a_year_cut_short_is_read_per_month(tmp_path) -> None:
    with EmulatorServer(invoices=200) as emu:
        realm = emu.realm_ids[0]
        months = reports.complete_periods(D(2024, 1, 1), D(2025, 1, 1), "month")
        largest = max(
            _cells_of(
                emu.report(realm, "BalanceSheet", start_date=f.isoformat(), end_date=e.isoformat())
            )
            for f, e in months
        )
        year = emu.report(
            realm,
            "BalanceSheet",
            start_date="2024-01-01",
            end_date="2024-12-31",
            summarize_column_by="Month",
        )
        assert _cells_of(year) > largest  # so a cap of `largest` cuts the year, not a month
        emu.configure(report_max_cells=largest)
        config = tap_config(
            emu, tmp_path, start_date="2024-01-01T00:00:00Z", end_date="2025-01-01T00:00:00Z"
        )
        result = run_tap(config, streams=["report_balance_sheet"])
        rows = result.records["report_balance_sheet"]
        assert emu.stats()["by_endpoint"]["reports"] == 1 + 12  # the year, then each month
        assert [r["page_number"] for r in rows] == [2] + [1] * 11
        assert sum(r["page_number"] for r in rows) == 13
        for record in rows:
            assert "summarize_column_by" not in record["request_payload"]
            _same_as_alone(emu, realm, BalanceSheetReport, record)


class _OneColumnOnly:
    """A connection whose answers never have a column per period (a `Total` column only)."""

    realm_id = "1"

    def __init__(self) -> None:
        self.asked: list[dict[str, str]] = []

    def get(self, endpoint, params, stats):
        self.asked.append(dict(params))
        total = {
            "ColTitle": "Total",
            "ColType": "Money",
            "MetaData": [{"Name": "ColKey", "Value": "total"}],
        }
        header = {"StartPeriod": params["start_date"], "EndPeriod": params["end_date"]}
        return {
            "Header": header,
            "Columns": {"Column": [{"ColType": "Account"}, total]},
            "Rows": {"Row": []},
        }


def test_a_year_without_a_column_per_period_is_read_per_period(tmp_path) -> None:
    from tap_quickbooks.connection import RequestStats
    from tap_quickbooks.limits import RateLimiter
    from tap_quickbooks.tap import TapQuickBooks

    config = {
        "client_id": "a",
        "client_secret": "b",
        "refresh_token": "c",
        "realm_id": "1",
        "start_date": "2024-01-01",
        "token_store_path": str(tmp_path / "t.json"),
    }
    stream = TapQuickBooks(config=config).streams["report_cash_flow"]
    conn = _OneColumnOnly()
    group = reports.complete_periods(D(2024, 1, 1), D(2024, 4, 1), "month")
    answers = stream._read(conn, group, "Cash", RequestStats(), RateLimiter(1000))
    assert [a.requests for a in answers] == [2, 1, 1]  # the year's request counts on the first
    assert [(a.first, a.last) for a in answers] == group
    assert conn.asked[0] == {
        "start_date": "2024-01-01",
        "end_date": "2024-03-31",
        "accounting_method": "Cash",
        "summarize_column_by": "Month",
    }
    assert [(q["start_date"], "summarize_column_by" in q) for q in conn.asked[1:]] == [
        ("2024-01-01", False),
        ("2024-02-01", False),
        ("2024-03-01", False),
    ]
    assert answers[1].body["Header"]["EndPeriod"] == "2024-02-29"


# ---------------------------------------------------------------------------- aging


def test_aging_reports_have_no_basis_and_are_read_once(tmp_path) -> None:
    assert NO_BASIS == "Accrual"
    for stream in (AgedReceivablesReport, AgedPayablesReport):
        assert not stream.basis
        params = stream.params(D(2024, 1, 1), D(2024, 1, 31), "Cash")
        assert "accounting_method" not in params
        assert params["report_date"] == "2024-01-31"
    with EmulatorServer(invoices=100) as emu:
        realm = emu.realm_ids[0]
        # QuickBooks' aging takes no accounting_method: the same answer whatever is sent
        one = emu.report(
            realm, "AgedReceivables", report_date="2024-02-29", accounting_method="Cash"
        )
        other = emu.report(
            realm, "AgedReceivables", report_date="2024-02-29", accounting_method="Accrual"
        )
        assert one["Rows"] == other["Rows"]
        assert "ReportBasis" not in one["Header"]
        for method in ("cash", "both"):
            emu.reset_stats()
            config = tap_config(emu, tmp_path, report_accounting_method=method, **Q1)
            result = run_tap(config, streams=["report_aged_receivables", "report_aged_payables"])
            for name in ("report_aged_receivables", "report_aged_payables"):
                rows = result.records[name]
                assert [(r["accounting_method"], r["period_end"]) for r in rows] == [
                    ("Accrual", "2024-01-31"),
                    ("Accrual", "2024-02-29"),
                    ("Accrual", "2024-03-31"),
                ], (name, method)
                assert all("accounting_method" not in r["request_payload"] for r in rows)
            assert emu.stats()["by_endpoint"]["reports"] == 2 * 3, method
