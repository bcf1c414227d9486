"""Seeded company data: determinism and the shapes of the real fixtures."""

from __future__ import annotations

import json
import re
from collections import Counter

from conftest import fixture_json

from qbo_emulator.data import Company, build_companies, dumps
from qbo_emulator.timeutil import SEED_END, SEED_START, parse_instant

PACIFIC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-0[78]:00$")
MONEY_RE = re.compile(
    rb'"(Amount|TotalAmt|Balance|BalanceWithJobs|TotalTax|NetAmountTaxable)":([^,}]+)'
)


def company(invoices: int = 400, seed: int = 1) -> Company:
    return build_companies(seed, 60, 20, invoices)["9341450000000001"]


def test_same_seed_same_company_and_different_seed_differs() -> None:
    a, b, c = company(seed=7), company(seed=7), company(seed=8)
    assert a.truth() == b.truth()
    assert a.truth() != c.truth()
    row = next(iter(a.tables["Invoice"].rows.values()))
    assert a.render("Invoice", row) == b.render("Invoice", b.tables["Invoice"].rows[row.id])


def test_fast_invoice_renderer_matches_dict_renderer() -> None:
    c = company()
    for row in c.tables["Invoice"].rows.values():
        assert c.invoice_bytes(row) == dumps(c.invoice_obj(row))


def test_invoice_shape_follows_real_invoice() -> None:
    c = company()
    real = fixture_json("invoice__airbyte__expected_records_id12_paid.json")
    real_keys = list(real)
    for row in list(c.tables["Invoice"].rows.values())[:50]:
        inv = json.loads(c.render("Invoice", row))
        keys = list(inv)
        # every key is a real Invoice key and the common keys keep the real order
        common = [k for k in real_keys if k in keys]
        assert [k for k in keys if k in real_keys] == common
        # DepartmentRef: a documented Invoice attribute (Intuit's API reference), placed in the
        # schema's order (after TxnDate); the real fixture's company tracks no locations
        assert set(keys) <= set(real_keys) | {"ShipAddr", "PrivateNote", "DepartmentRef"}
        assert isinstance(inv["Id"], str) and inv["Id"].isdigit()
        assert isinstance(inv["SyncToken"], str)
        assert PACIFIC_RE.match(inv["MetaData"]["CreateTime"])
        assert PACIFIC_RE.match(inv["MetaData"]["LastUpdatedTime"])
        details = [line["DetailType"] for line in inv["Line"]]
        assert details[-1] == "SubTotalLineDetail" and "Id" not in inv["Line"][-1]
        assert set(details[:-1]) == {"SalesItemLineDetail"}
        assert inv["CustomerRef"]["value"] in {str(i) for i in c.tables["Customer"].rows}
        for line in inv["Line"][:-1]:
            assert int(line["SalesItemLineDetail"]["ItemRef"]["value"]) in c.tables["Item"].rows


def test_money_has_two_decimals_or_bare_zero() -> None:
    c = company()
    seen = set()
    for row in c.tables["Invoice"].rows.values():
        for _, value in MONEY_RE.findall(c.render("Invoice", row)):
            seen.add(value == b"0")
            assert value == b"0" or re.fullmatch(rb"\d+\.\d\d", value), value
    assert seen == {True, False}


def test_pacific_offsets_follow_daylight_saving() -> None:
    c = company()
    offsets: Counter[str] = Counter()
    for row in c.tables["Invoice"].rows.values():
        text = json.loads(c.render("Invoice", row))["MetaData"]["CreateTime"]
        month = int(text[5:7])
        if month in (1, 2, 12):
            assert text.endswith("-08:00")
        if month in (5, 6, 7, 8, 9):
            assert text.endswith("-07:00")
        offsets[text[-6:]] += 1
        assert parse_instant(text) == row.create
    assert set(offsets) == {"-07:00", "-08:00"}


def test_timestamps_in_range_and_shared() -> None:
    c = company(invoices=1600)
    for entity in ("Invoice", "Customer", "Item"):
        for row in c.tables[entity].rows.values():
            assert SEED_START <= row.create <= row.lut < SEED_END
    counts = Counter(row.lut for row in c.tables["Invoice"].rows.values())
    assert counts.most_common(1)[0][1] > 1000  # the bulk-import burst
    assert sum(1 for n in counts.values() if n > 1) > 20


def test_no_burst_below_threshold() -> None:
    counts = Counter(row.lut for row in company(invoices=1400).tables["Invoice"].rows.values())
    assert counts.most_common(1)[0][1] < 100


def test_customers_subcustomers_inactive_and_names() -> None:
    c = company()
    customers = [json.loads(c.render("Customer", r)) for r in c.tables["Customer"].rows.values()]
    subs = [x for x in customers if "ParentRef" in x]
    assert subs
    by_id = {x["Id"]: x for x in customers}
    for sub in subs:
        parent = by_id[sub["ParentRef"]["value"]]
        assert sub["Job"] is True and sub["Level"] == 1
        base = parent["DisplayName"].removesuffix(" (deleted)")
        assert sub["FullyQualifiedName"].startswith(base + ":")
    inactive = [x for x in customers if not x["Active"]]
    assert inactive
    for x in inactive:
        assert x["DisplayName"].endswith(" (deleted)")
        assert x["FullyQualifiedName"].endswith(" (deleted)")
    names = " ".join(x["DisplayName"] for x in customers)
    assert "'" in names
    assert any(ord(ch) > 127 for ch in names)
    real = fixture_json("customer__airbyte__expected_records_id8_subcustomer_job.json")
    assert set(subs[0]) <= set(real) | {"IsProject", "Notes"}


def test_items_shapes_and_inactive() -> None:
    c = company()
    items = [json.loads(c.render("Item", r)) for r in c.tables["Item"].rows.values()]
    real = fixture_json("item__airbyte__expected_records_id5_inventory.json")
    inventory = [x for x in items if x.get("Type") == "Inventory"]
    assert inventory
    assert set(inventory[0]) <= set(real) | {"Sku"}
    assert any(x["Type"] == "Category" for x in items)
    inactive = [x for x in items if not x["Active"]]
    assert inactive and all(x["Name"].endswith(" (deleted)") for x in inactive)


def test_deleted_invoices_are_in_truth_not_in_rows() -> None:
    c = company()
    truth = c.truth()
    assert truth["deleted"]["Invoice"]
    assert not set(truth["deleted"]["Invoice"]) & set(truth["Invoice"])


def test_mutations_move_timestamp_and_bump_synctoken() -> None:
    c = company()
    row = c.tables["Customer"].rows[5]
    before = row.sync
    c.mutate("Customer", "deactivate", 5, SEED_END + 1000)
    obj = json.loads(c.render("Customer", row))
    assert obj["SyncToken"] == str(before + 1) and obj["Active"] is False
    assert obj["DisplayName"].endswith(" (deleted)")
    assert parse_instant(obj["MetaData"]["LastUpdatedTime"]) == SEED_END + 1000
    assert c.tables["Customer"].order[-1] == (SEED_END + 1000, 5)
    iid = next(iter(c.tables["Invoice"].rows))
    c.mutate("Invoice", "delete", iid, SEED_END + 2000)
    assert str(iid) in c.truth()["deleted"]["Invoice"]
    new = c.mutate("Invoice", "create", None, SEED_END + 3000)
    assert c.truth()["Invoice"][str(new)] == "0"
