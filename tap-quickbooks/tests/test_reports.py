"""Report streams: periods, restatement, size-cap splitting, both bases, the report budget."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks import reports
from tap_quickbooks.errors import SettingError
from tap_quickbooks.report_streams import REPORT_STREAM_TYPES
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
        expected = 3 * (2 * 6 + 2)  # months x (6 reports x 2 bases + 2 aging reports)
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
