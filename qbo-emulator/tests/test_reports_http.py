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


# ---------------------------------------------------------------------------- a column per period

Line = tuple[tuple[str, ...], str]  # (section titles above the line, the line's label)


def lines(body: dict[str, Any], column: int) -> tuple[dict[Line, str], dict[Line, str]]:
    """(data lines, summary lines) of a column: label -> value (data lines empty there left out)."""
    data: dict[Line, str] = {}
    summaries: dict[Line, str] = {}

    def walk(rows: list[dict[str, Any]], path: tuple[str, ...]) -> None:
        for row in rows:
            title = ((row.get("Header") or {}).get("ColData") or [{"value": ""}])[0]["value"]
            if "ColData" in row and row["ColData"][column]["value"] != "":
                data[(path, row["ColData"][0]["value"])] = row["ColData"][column]["value"]
            if "Summary" in row:
                cells = row["Summary"]["ColData"]
                summaries[((*path, title), cells[0]["value"])] = cells[column]["value"]
            walk((row.get("Rows") or {}).get("Row", []), (*path, title))

    walk(body["Rows"]["Row"], ())
    return data, summaries


def books_of_2019(emu: EmulatorServer) -> None:
    """Before the company's own history: a card balance paid off in February, nothing in March,
    a truck bought on a loan in April."""
    emu.backdate(REALM, "2019-01-05", "5000.00", debit="35", credit="34")
    emu.backdate(REALM, "2019-01-20", "1000.00", debit="58", credit="41")
    emu.backdate(REALM, "2019-02-10", "1000.00", debit="41", credit="35")
    emu.backdate(REALM, "2019-04-15", "2000.00", debit="37", credit="43")


@pytest.mark.parametrize("name", ["BalanceSheet", "CashFlow", "ProfitAndLoss"])
def test_each_month_column_is_that_month_alone(name: str) -> None:
    """The non-empty lines of a month's column are the lines of that month's own report, with
    its amounts; every summary of that report has the same amount in the column."""
    with EmulatorServer(invoices=120) as emu:
        books_of_2019(emu)
        for year in ("2019", "2024"):
            for basis in ("Accrual", "Cash"):
                body = emu.report(
                    REALM,
                    name,
                    start_date=f"{year}-01-01",
                    end_date=f"{year}-12-31",
                    accounting_method=basis,
                    summarize_column_by="Month",
                )
                months = body["Columns"]["Column"][1:13]
                for n, column in enumerate(months, start=1):
                    meta = {m["Name"]: m["Value"] for m in column["MetaData"]}
                    alone = emu.report(
                        REALM,
                        name,
                        start_date=meta["StartDate"],
                        end_date=meta["EndDate"],
                        accounting_method=basis,
                    )
                    data, summaries = lines(body, n)
                    own_data, own_summaries = lines(alone, 1)
                    assert data == own_data, (name, basis, meta)
                    assert own_summaries.items() <= summaries.items(), (name, basis, meta)


def test_summarized_columns_carry_their_dates() -> None:
    with EmulatorServer(invoices=40) as emu:
        for name, total in (("BalanceSheet", False), ("CashFlow", True), ("ProfitAndLoss", True)):
            body = emu.report(
                REALM,
                name,
                start_date="2024-01-01",
                end_date="2024-12-31",
                summarize_column_by="Quarter",
            )
            assert body["Header"]["SummarizeColumnsBy"] == "Quarter"
            columns = body["Columns"]["Column"]
            assert columns[0]["ColType"] == "Account"
            quarters = [{m["Name"]: m["Value"] for m in c["MetaData"]} for c in columns[1:5]]
            assert [(q["StartDate"], q["EndDate"]) for q in quarters] == [
                ("2024-01-01", "2024-03-31"),
                ("2024-04-01", "2024-06-30"),
                ("2024-07-01", "2024-09-30"),
                ("2024-10-01", "2024-12-31"),
            ]
            assert all(c["ColType"] == "Money" for c in columns[1:])
            # a flow has a total over the range; balances as of a day do not add up
            assert len(columns) == (6 if total else 5), name
            if total:
                assert columns[-1]["MetaData"] == [{"Name": "ColKey", "Value": "total"}]


def test_cash_flow_leaves_out_adjustments_it_has_none_of() -> None:
    with EmulatorServer(invoices=20) as emu:
        books_of_2019(emu)
        adjustments = "Adjustments to reconcile"
        february = emu.report(REALM, "CashFlow", start_date="2019-02-01", end_date="2019-02-28")
        march = emu.report(REALM, "CashFlow", start_date="2019-03-01", end_date="2019-03-31")
        assert adjustments in json.dumps(february)  # the card paid off
        assert adjustments not in json.dumps(march)
        (operating,) = [r for r in march["Rows"]["Row"] if r.get("group") == "OperatingActivities"]
        assert [r["ColData"][0]["value"] for r in operating["Rows"]["Row"]] == ["Net Income"]


def test_aging_takes_no_accounting_method(api: Api) -> None:
    """QuickBooks' aging reports have no accounting basis (no such parameter, no ReportBasis)."""
    for name in ("AgedReceivables", "AgedPayables"):
        answers = [
            api.get(f"reports/{name}", report_date="2024-02-29", accounting_method=basis).json()
            for basis in ("Accrual", "Cash")
        ]
        assert answers[0]["Rows"] == answers[1]["Rows"]
        assert answers[0]["Columns"] == answers[1]["Columns"]
        assert "ReportBasis" not in answers[0]["Header"]
