"""The reports endpoint over HTTP: shapes against real bodies, both bases, size cap, backdating."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import REALM, Api

from qbo_emulator.reports import REPORTS, TRUNCATED
from qbo_emulator.testing import EmulatorServer

HERE = Path(__file__).parent / "fixtures" / "reports"
JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31"}


def real(name: str) -> Any:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def shape(rows: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """(type, group, keys) of every row, recursively: the structure a reader depends on."""
    out: set[tuple[str, ...]] = set()
    for row in rows:
        out.add((str(row.get("type")), str(row.get("group", "")), *sorted(row)))
        out |= shape((row.get("Rows") or {}).get("Row", []))
    return out


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_answers_in_quickbooks_shape(api: Api, name: str) -> None:
    for basis in ("Accrual", "Cash"):
        resp = api.get(f"reports/{name}", accounting_method=basis, minorversion="75", **JAN)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert set(body) == {"Header", "Columns", "Rows"}
        header = body["Header"]
        assert header["ReportName"] == name
        assert header["Currency"] == "USD"
        assert (header["StartPeriod"], header["EndPeriod"]) == ("2024-01-01", "2024-01-31")
        if not name.startswith("Aged"):
            assert header["ReportBasis"] == basis
        for col in body["Columns"]["Column"]:
            assert {"ColTitle", "ColType"} <= set(col)
        no_data = {"Name": "NoReportData", "Value": "true"} in header["Option"]
        assert bool(body["Rows"]["Row"]) != no_data


def test_balance_sheet_has_the_real_structure(api: Api) -> None:
    fixture = real("report__shubuu97-pos-terminal-app__balance_sheet_accrual.json")
    ours = api.get("reports/BalanceSheet", **JAN).json()
    assert set(ours["Header"]) == set(fixture["Header"]) - {"DateMacro"}
    assert ours["Columns"] == fixture["Columns"]
    real_shape = shape(fixture["Rows"]["Row"])
    our_shape = shape(ours["Rows"]["Row"])
    # every kind of row we emit is one the real report has
    assert our_shape <= real_shape, our_shape - real_shape


def test_aged_receivables_has_the_documented_structure(api: Api) -> None:
    fixture = real("report__intuit-docs__aged_receivables.json")
    ours = api.get("reports/AgedReceivables", report_date="2024-01-31").json()
    assert ours["Columns"] == fixture["Columns"]
    assert shape(ours["Rows"]["Row"]) <= shape(fixture["Rows"]["Row"])
    assert ours["Header"]["Option"][0] == {"Name": "report_date", "Value": "2024-01-31"}


def test_bad_report_requests_get_a_fault(api: Api) -> None:
    resp = api.get("reports/ProfitAndLoss", start_date="2024-02-30")
    assert resp.status_code == 400
    assert "start_date" in resp.json()["Fault"]["Error"][0]["Detail"]
    resp = api.get("reports/NoSuchReport")
    assert resp.status_code == 400


def test_size_cap_cuts_the_report_with_the_notice() -> None:
    with EmulatorServer(invoices=200, report_max_cells=400) as emu:
        api = Api(emu)
        body = api.get("reports/GeneralLedger", start_date="2022-01-01", end_date="2025-12-31")
        assert body.status_code == 200
        rows = body.json()["Rows"]["Row"]
        assert rows[-1]["ColData"][0]["value"] == TRUNCATED
        small = api.get("reports/GeneralLedger", start_date="2024-01-01", end_date="2024-01-03")
        assert TRUNCATED not in small.text


def test_backdated_entry_restates_a_closed_month() -> None:
    with EmulatorServer(invoices=50) as emu:
        api = Api(emu)
        before = api.get("reports/ProfitAndLoss", **JAN).json()
        emu.backdate(REALM, "2024-01-15", "123.45")
        after = api.get("reports/ProfitAndLoss", **JAN).json()

        def net(body: dict[str, Any]) -> float:
            return float(body["Rows"]["Row"][-1]["Summary"]["ColData"][1]["value"])

        assert round(net(before) - net(after), 2) == 123.45
        feb = {"start_date": "2024-02-01", "end_date": "2024-02-29"}
        assert emu.report(REALM, "ProfitAndLoss", **feb) == emu.report(
            REALM, "ProfitAndLoss", **feb
        )
        with pytest.raises(ValueError, match="debit"):
            emu.backdate(REALM, "2024-01-15", "1.00", debit="nope")


def test_report_throttle_is_separate_and_lower() -> None:
    with EmulatorServer(invoices=10, report_rate_limit=3) as emu:
        api = Api(emu)
        codes = [api.get("reports/TrialBalance", **JAN).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert api.query("select count(*) from Invoice").status_code == 200
