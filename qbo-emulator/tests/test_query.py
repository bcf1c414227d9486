"""The query language: parser, validation faults, semantics (no HTTP)."""

from __future__ import annotations

import time

import pytest

from qbo_emulator.data import Company, build_companies
from qbo_emulator.query import Executor, QueryError, parse, plan
from qbo_emulator.timeutil import pacific_seconds


@pytest.fixture(scope="module")
def company() -> Company:
    return build_companies(3, 60, 20, 300)["9341450000000001"]


def run(company: Company, text: str) -> tuple[int | None, list[int]]:
    total, rows = Executor(company).run(plan(parse(text), time.time(), company))
    return total, [r.id for r in rows]


def fault(company: Company, text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        run(company, text)
    return info.value


def test_keywords_and_names_are_case_insensitive(company: Company) -> None:
    a = run(
        company,
        "SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2023-01-01' "
        "ORDERBY MetaData.LastUpdatedTime STARTPOSITION 1 MAXRESULTS 50",
    )
    b = run(
        company,
        "select * from iNvOiCe where metadata.lastupdatedtime > '2023-01-01' "
        "orderby Metadata.LastUpdatedTime startposition 1 maxresults 50",
    )
    assert a == b and len(a[1]) == 50


def test_order_by_two_words_asc_desc(company: Company) -> None:
    _, asc = run(
        company, "SELECT * FROM Invoice ORDER BY Metadata.LastUpdatedTime ASC MAXRESULTS 1000"
    )
    _, one = run(company, "SELECT * FROM Invoice ORDERBY Metadata.LastUpdatedTime MAXRESULTS 1000")
    _, desc = run(
        company, "SELECT * FROM Invoice ORDER BY MetaData.LastUpdatedTime DESC MAXRESULTS 1000"
    )
    assert asc == one and desc == asc[::-1]
    luts = [company.tables["Invoice"].rows[i].lut for i in asc]
    assert luts == sorted(luts)


def test_paging_clauses_in_either_order_and_startposition_zero(company: Company) -> None:
    base = "SELECT * FROM Invoice ORDERBY Id "
    assert run(company, base + "STARTPOSITION 11 MAXRESULTS 10") == run(
        company, base + "MAXRESULTS 10 STARTPOSITION 11"
    )
    assert run(company, base + "STARTPOSITION 0 MAXRESULTS 5") == run(
        company, base + "STARTPOSITION 1 MAXRESULTS 5"
    )
    _, default = run(company, base)
    assert len(default) == 100


def test_maxresults_limits(company: Company) -> None:
    e = fault(company, "SELECT * FROM Invoice MAXRESULTS 1500")
    assert (e.code, e.detail) == (
        "4001",
        "QueryValidationError: value 1500 is too large. Max allowed value is 1000",
    )
    e = fault(company, "SELECT * FROM Invoice MAXRESULTS 0")
    assert e.code == "4001" and "value 0 is too small. Min allowed value is 1" in e.detail
    assert len(run(company, "SELECT * FROM Invoice MAXRESULTS 1000")[1]) <= 1000


@pytest.mark.parametrize(
    "literal",
    ["{z}", "{z_ms}", "{plus}", "{colon}", "{nocolon}", "{naive}"],
)
def test_datetime_literals_compare_as_instants(company: Company, literal: str) -> None:
    rows = sorted(company.tables["Invoice"].rows.values(), key=lambda r: r.lut)
    pivot = rows[len(rows) // 2].lut
    local = pacific_seconds(pivot)  # e.g. 2024-03-01T10:00:00-08:00
    from datetime import UTC, datetime

    utc = datetime.fromtimestamp(pivot, UTC)
    forms = {
        "z": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "z_ms": utc.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "plus": utc.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "colon": local,
        "nocolon": local[:-3] + local[-2:],
        "naive": local[:-6],  # no offset: Pacific
    }
    text = literal.format(**forms)
    _, got = run(
        company,
        f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime >= '{text}' "
        "ORDERBY MetaData.LastUpdatedTime MAXRESULTS 1000",
    )
    expected = [r.id for r in rows if r.lut >= pivot]
    assert sorted(got) == sorted(expected)
    _, lt = run(
        company, f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime < '{text}' MAXRESULTS 1000"
    )
    assert sorted(lt) == sorted(r.id for r in rows if r.lut < pivot)


def test_or_is_a_parse_error(company: Company) -> None:
    e = fault(company, "SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'")
    assert e.code == "4000" and e.message == "Error parsing query"
    assert e.detail.startswith("QueryParserError: Encountered")


def test_empty_and_garbage_are_parse_errors(company: Company) -> None:
    assert fault(company, "").code == "4000"
    assert fault(company, "SELEC * FROM Invoice").code == "4000"
    assert fault(company, "SELECT * FROM Customer WHERE DisplayName = 'Amy's'").code == "4000"


def test_unknown_entity_and_property(company: Company) -> None:
    e = fault(company, "SELECT * FROM Custmoer")
    assert e.detail == "QueryValidationError: invalid context declaration: Custmoer"
    e = fault(company, "SELECT * FROM Invoice WHERE Active = true")
    assert e.code == "4001" and "Property Active not found for Entity Invoice" in e.detail
    e = fault(company, "SELECT * FROM Customer WHERE NoSuchField = 'x'")
    assert e.code == "4001"


def test_id_allows_only_equals_and_in(company: Company) -> None:
    assert run(company, "SELECT * FROM Invoice WHERE Id = '5'")[1] in ([5], [])
    _, got = run(
        company, "SELECT * FROM Customer WHERE Id IN ('5', '6', '7') AND Active IN (true, false)"
    )
    assert sorted(got) == [5, 6, 7]
    for op in ("<", ">", "<=", ">="):
        assert fault(company, f"SELECT * FROM Invoice WHERE Id {op} '5'").code == "4001"


def test_backslash_escaped_quote_and_like(company: Company) -> None:
    names = [
        r.info["display"]
        for r in company.tables["Customer"].rows.values()
        if r.info and r.active and "'" in r.info["display"]
    ]
    assert names
    name = names[0]
    escaped = name.replace("'", "\\'")
    _, got = run(company, f"SELECT * FROM Customer WHERE DisplayName = '{escaped}'")
    assert len(got) == 1
    _, upper = run(company, f"SELECT * FROM Customer WHERE DisplayName = '{escaped.upper()}'")
    assert upper == got  # values are case-insensitive too
    _, like = run(
        company, f"SELECT * FROM Customer WHERE DisplayName LIKE '{escaped[:3]}%' MAXRESULTS 1000"
    )
    assert got[0] in like


def test_count_and_default_active_filter(company: Company) -> None:
    customers = company.tables["Customer"].rows.values()
    active = sum(1 for r in customers if r.active)
    assert active < len(customers)
    assert run(company, "SELECT COUNT(*) FROM Customer")[0] == active
    assert run(company, "select count(*) from Customer where Active in (true, false)")[0] == len(
        customers
    )
    assert (
        run(company, "SELECT COUNT(*) FROM Customer WHERE Active = false")[0]
        == len(customers) - active
    )
    _, rows = run(company, "SELECT * FROM Customer MAXRESULTS 1000")
    assert len(rows) == active
    # transactions have no Active filter
    assert run(company, "SELECT COUNT(*) FROM Invoice")[0] == len(company.tables["Invoice"].rows)


def test_in_and_comparisons_on_other_fields(company: Company) -> None:
    total, _ = run(company, "SELECT COUNT(*) FROM Item WHERE Type IN ('Service', 'Inventory')")
    assert total and total > 0
    _, rows = run(
        company,
        "SELECT * FROM Invoice WHERE TotalAmt > '100.0' AND "
        "TxnDate <= CURRENT_DATE MAXRESULTS 1000",
    )
    for iid in rows:
        assert company.invoice_facts(company.tables["Invoice"].rows[iid])["total"] > 10000


def test_entities_without_rows_here_are_valid_but_empty(company: Company) -> None:
    assert run(company, "SELECT * FROM ExchangeRate") == (None, [])
    assert run(company, "SELECT COUNT(*) FROM TaxClassification")[0] == 0


def test_time_window_and_multi_key_order(company: Company) -> None:
    rows = company.tables["Invoice"].rows.values()
    lo, hi = "2023-01-01T00:00:00-08:00", "2024-01-01T00:00:00-08:00"
    window = (
        f"MetaData.LastUpdatedTime >= '{lo}' AND Metadata.LastUpdatedTime < '2024-01-01T08:00:00Z'"
    )
    total, _ = run(company, f"SELECT COUNT(*) FROM Invoice WHERE {window}")
    start, end = 1672560000, 1704096000  # the same two instants
    expected = sorted(r.id for r in rows if start <= r.lut < end)
    assert total == len(expected) > 0
    _, got = run(
        company,
        f"SELECT * FROM Invoice WHERE {window} ORDER BY MetaData.LastUpdatedTime ASC, Id DESC "
        "MAXRESULTS 1000",
    )
    assert sorted(got) == expected
    keys = [(company.tables["Invoice"].rows[i].lut, -i) for i in got]
    assert keys == sorted(keys)
    assert hi  # the window's upper bound written two ways: -08:00 and Z
