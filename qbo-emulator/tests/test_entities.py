"""Every entity of the registry: served, paged, counted, Active semantics, singletons, CDC, batch,
deletes, sizes and the shapes of real records (tests/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import REALM, Api

from qbo_emulator.config import ConfigError
from qbo_emulator.entities import (
    CDC_ENTITIES,
    DELETABLE,
    REGISTRY,
    SINGLETONS,
    WITH_ACTIVE,
    resolve_sizes,
)
from qbo_emulator.testing import EmulatorServer

if TYPE_CHECKING:
    import requests

HERE = Path(__file__).resolve().parent / "fixtures"
LISTED = [name for name, spec in REGISTRY.items() if spec.kind != "singleton"]
ALL_ROWS = " WHERE Active IN (true, false)"


def every_row(entity: str) -> str:
    return ALL_ROWS if entity in WITH_ACTIVE else ""


def page_all(api: Api, entity: str, size: int = 7) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = 1
    while True:
        resp = api.query(
            f"SELECT * FROM {entity}{every_row(entity)} ORDERBY Id STARTPOSITION {start} "
            f"MAXRESULTS {size}"
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()["QueryResponse"]
        if not body:
            return out
        assert body["startPosition"] == start and body["maxResults"] == len(body[entity])
        assert len(body[entity]) <= size
        out += body[entity]
        start += size


@pytest.mark.parametrize("entity", LISTED)
def test_every_entity_is_served_paged_and_counted(api: Api, entity: str) -> None:
    truth = api.emu.truth()[REALM]
    rows = page_all(api, entity)
    assert [r["Id"] for r in rows] == sorted(truth[entity], key=int)
    assert {r["Id"]: r["SyncToken"] for r in rows} == truth[entity]
    assert rows, f"{entity} has no rows in the default company"
    count = api.query(f"SELECT COUNT(*) FROM {entity}{every_row(entity)}").json()
    assert count["QueryResponse"] == {"totalCount": len(truth[entity])}
    for row in rows:
        assert row["domain"] == "QBO" and row["sparse"] is False
        assert set(row["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
        assert "status" not in row


@pytest.mark.parametrize("entity", WITH_ACTIVE)
def test_inactive_rows_are_hidden_unless_asked(api: Api, entity: str) -> None:
    truth = api.emu.truth()[REALM]
    inactive = truth["inactive"][entity]
    assert inactive, f"{entity} has no inactive row in the default company"
    default = api.query(f"SELECT COUNT(*) FROM {entity}").json()["QueryResponse"]["totalCount"]
    assert default == len(truth[entity]) - len(inactive)
    off = api.rows(f"SELECT * FROM {entity} WHERE Active = false MAXRESULTS 1000", entity)
    assert sorted(r["Id"] for r in off) == sorted(inactive)
    assert all(r["Active"] is False for r in off)
    shown = api.rows(f"SELECT * FROM {entity} MAXRESULTS 1000", entity)
    assert not {r["Id"] for r in shown} & set(inactive)
    # a deactivated name gets " (deleted)" (PROTOCOL §5); currency and budget names do not
    named = [r for r in off if entity not in ("CompanyCurrency", "Budget")]
    for r in named:
        assert (r.get("DisplayName") or r["Name"]).endswith(" (deleted)")


@pytest.mark.parametrize("entity", [e for e in LISTED if e not in WITH_ACTIVE])
def test_active_is_no_property_of_entities_without_it(api: Api, entity: str) -> None:
    resp = api.query(f"SELECT * FROM {entity} WHERE Active = true")
    assert resp.status_code == 400
    assert resp.json()["Fault"]["Error"][0]["code"] == "4001"


def test_singletons_by_query_and_by_read(api: Api) -> None:
    for entity in SINGLETONS:
        body = api.query(f"select * from {entity}").json()["QueryResponse"]
        assert body["maxResults"] == 1 and body["startPosition"] == 1
        assert len(body[entity]) == 1 and body[entity][0]["Id"] == "1"
        count = api.query(f"SELECT COUNT(*) FROM {entity}").json()["QueryResponse"]
        assert count == {"totalCount": 1}
    info = api.get(f"companyinfo/{REALM}").json()
    assert list(info) == ["CompanyInfo", "time"]
    assert info["CompanyInfo"]["CompanyName"].startswith("Sandbox Company")
    prefs = api.get("preferences").json()
    assert list(prefs) == ["Preferences", "time"]
    assert prefs["Preferences"]["CurrencyPrefs"]["HomeCurrency"] == {"value": "USD"}


def test_single_reads_of_every_entity(api: Api) -> None:
    truth = api.emu.truth()[REALM]
    for entity in LISTED:
        some = sorted(truth[entity], key=int)[0]
        body = api.get(f"{entity.lower()}/{some}").json()
        assert body[entity]["Id"] == some, entity


def cdc(api: Api, entities: list[str], since: str = "2000-01-01T00:00:00Z") -> requests.Response:
    return api.get("cdc", entities=",".join(entities), changedSince=since)


def test_cdc_caps_all_requested_entities_together_at_1000() -> None:
    with EmulatorServer(seed=8, customers=40, items=10, invoices=1200) as emu:
        resp = cdc(Api(emu), list(CDC_ENTITIES))
    assert resp.status_code == 200, resp.text
    groups = resp.json()["CDCResponse"][0]["QueryResponse"]
    assert len(groups) == len(CDC_ENTITIES)
    sizes = [g.get("maxResults", 0) for g in groups]
    assert sum(sizes) == 1000
    for group, entity in zip(groups, CDC_ENTITIES, strict=True):
        if group:
            assert list(group) == [entity, "startPosition", "maxResults"]


def test_cdc_serves_every_row_and_tombstone_of_many_entities(emu: EmulatorServer) -> None:
    api = Api(emu)
    emu.configure(cdc_max_objects=100_000)
    try:
        resp = cdc(api, list(CDC_ENTITIES))
    finally:
        emu.configure(cdc_max_objects=1000)
    truth = emu.truth()[REALM]
    groups = resp.json()["CDCResponse"][0]["QueryResponse"]
    for group, entity in zip(groups, CDC_ENTITIES, strict=True):
        objs = group.get(entity, [])
        live = {o["Id"]: o["SyncToken"] for o in objs if o.get("status") != "Deleted"}
        gone = sorted((o["Id"] for o in objs if o.get("status") == "Deleted"), key=int)
        assert live == truth[entity], entity
        assert gone == truth["deleted"].get(entity, []), entity
        stamps = [o["MetaData"]["LastUpdatedTime"] for o in objs]
        assert len(stamps) == len(objs)


@pytest.mark.parametrize("entity", [n for n, s in REGISTRY.items() if not s.cdc])
def test_cdc_refuses_entities_it_does_not_serve(api: Api, entity: str) -> None:
    resp = cdc(api, ["Invoice", entity])
    assert resp.status_code == 400
    fault = resp.json()["Fault"]["Error"][0]
    assert entity in fault["Detail"]


def test_cdc_can_ignore_unsupported_entities() -> None:
    with EmulatorServer(seed=2, customers=5, items=5, invoices=10, cdc_unsupported="ignore") as emu:
        resp = cdc(Api(emu), ["TimeActivity", "Invoice"])
        groups = resp.json()["CDCResponse"][0]["QueryResponse"]
        assert groups[0] == {} and groups[1]["maxResults"] == len(emu.truth()[REALM]["Invoice"])


def batch(api: Api, items: list[dict[str, Any]]) -> requests.Response:
    return api.session.post(
        api.url("batch"),
        data=json.dumps({"BatchItemRequest": items}),
        headers={**api.headers, "Content-Type": "application/json"},
        timeout=10,
    )


def test_batch_counts_and_pages_of_many_entities(api: Api) -> None:
    truth = api.emu.truth()[REALM]
    entities = LISTED[:30]
    items = [{"bId": e, "Query": f"SELECT COUNT(*) FROM {e}{every_row(e)}"} for e in entities]
    resp = batch(api, items)
    assert resp.status_code == 200, resp.text
    answers = resp.json()["BatchItemResponse"]
    for answer, entity in zip(answers, entities, strict=True):
        assert answer == {"QueryResponse": {"totalCount": len(truth[entity])}, "bId": entity}
    too_many = batch(api, [*items, {"bId": "x", "Query": "SELECT * FROM Term"}])
    assert too_many.status_code == 400


def test_batch_rate_limit_answers_429() -> None:
    with EmulatorServer(seed=2, customers=5, items=5, invoices=10, batch_rate_limit=2) as emu:
        api = Api(emu)
        item = [{"bId": "1", "Query": "SELECT COUNT(*) FROM Term"}]
        assert [batch(api, item).status_code for _ in range(3)] == [200, 200, 429]
        assert api.query("SELECT COUNT(*) FROM Term").status_code == 200  # queries still pass
        assert emu.stats()["batch_throttled"] == 1
        emu.reset_limits()
        assert batch(api, item).status_code == 200


@pytest.mark.parametrize("entity", DELETABLE)
def test_every_transaction_type_can_be_deleted(entity: str) -> None:
    with EmulatorServer(seed=4, customers=20, items=8, invoices=200, rate_limit=0) as emu:
        api = Api(emu)
        victim = sorted(emu.truth()[REALM][entity], key=int)[0]
        emu.advance_clock(seconds=5)
        emu.mutate(REALM, entity, "delete", victim)
        truth = emu.truth()[REALM]
        assert victim in truth["deleted"][entity] and victim not in truth[entity]
        if REGISTRY[entity].cdc:  # TimeActivity deletes are visible nowhere but the truth
            resp = cdc(api, [entity], "2026-01-01T00:00:00Z")
            objs = resp.json()["CDCResponse"][0]["QueryResponse"][0][entity]
            assert {"domain": "QBO", "status": "Deleted", "Id": victim} == {
                k: v for k, v in objs[-1].items() if k != "MetaData"
            }
        gone = api.query(f"SELECT * FROM {entity} WHERE Id = '{victim}'").json()
        assert gone["QueryResponse"] == {}


@pytest.mark.parametrize("entity", [e for e in LISTED if e not in ("Invoice", "Customer", "Item")])
def test_update_deactivate_and_create_on_every_entity(entity: str) -> None:
    with EmulatorServer(seed=6, customers=10, items=6, invoices=100, rate_limit=0) as emu:
        api = Api(emu)
        some = sorted(emu.truth()[REALM][entity], key=int)[-1]
        before = emu.truth()[REALM][entity][some]
        emu.mutate(REALM, entity, "update", some)
        assert int(emu.truth()[REALM][entity][some]) == int(before) + 1
        if entity in WITH_ACTIVE:
            emu.mutate(REALM, entity, "deactivate", some)
            assert some in emu.truth()[REALM]["inactive"][entity]
        new = emu.mutate(REALM, entity, "create")
        assert emu.truth()[REALM][entity][new] == "0"
        body = api.get(f"{entity.lower()}/{new}").json()
        assert body[entity]["Id"] == new


def test_singletons_cannot_be_created_or_deleted() -> None:
    with EmulatorServer(seed=6, customers=3, items=3, invoices=5) as emu:
        for op in ("create", "delete"):
            with pytest.raises(ValueError):
                emu.mutate(REALM, "CompanyInfo", op, None if op == "create" else 1)
        emu.mutate(REALM, "Preferences", "update", 1)
        assert emu.truth()[REALM]["Preferences"] == {"1": "1"}


def test_sizes_per_entity_and_legacy_keys() -> None:
    sizes = {"Payment": 7, "vendor": 3, "Deposit": 0, "Invoice": 40}
    with EmulatorServer(seed=3, customers=9, items=5, invoices=999, sizes=sizes) as emu:
        truth = emu.truth()[REALM]
        assert len(truth["Payment"]) + len(truth["deleted"]["Payment"]) == 7
        assert len(truth["Vendor"]) == 3 and truth["Deposit"] == {}
        assert len(truth["Invoice"]) + len(truth["deleted"]["Invoice"]) == 40
        assert len(truth["Customer"]) == 9 and len(truth["Item"]) == 5
    assert resolve_sizes(60, 20, 400)["Payment"] == 200
    for bad in ({"Nope": 1}, {"Payment": -1}, {"Account": 3}, {"Payment": "x"}):
        with pytest.raises((ValueError, ConfigError)):
            EmulatorServer(seed=1, sizes=bad)


def test_request_log_covers_every_endpoint(api: Api) -> None:
    api.emu.reset_stats()
    api.query("SELECT * FROM Vendor")
    cdc(api, ["Payment", "Bill"])
    batch(api, [{"bId": "a", "Query": "SELECT COUNT(*) FROM Class"}])
    api.get(f"companyinfo/{REALM}")
    api.get("preferences")
    api.get("account/4")
    log = api.emu.requests()[-6:]
    assert [e["endpoint"] for e in log] == [
        "query",
        "cdc",
        "batch",
        "companyinfo",
        "preferences",
        "read",
    ]
    assert [e["entities"] for e in log] == [
        ["Vendor"],
        ["Payment", "Bill"],
        ["Class"],
        ["CompanyInfo"],
        ["Preferences"],
        ["Account"],
    ]
    stats = api.emu.stats()
    assert stats["by_entity"]["Payment"] == 1 and stats["batch_items"] == 1


# ---------------------------------------------------------------------------- shapes
FIXTURE_ENTITY = {
    "account": "Account",
    "bill": "Bill",
    "billpayment": "BillPayment",
    "creditmemo": "CreditMemo",
    "deposit": "Deposit",
    "employee": "Employee",
    "estimate": "Estimate",
    "journalentry": "JournalEntry",
    "payment": "Payment",
    "paymentmethod": "PaymentMethod",
    "purchase": "Purchase",
    "purchaseorder": "PurchaseOrder",
    "refundreceipt": "RefundReceipt",
    "salesreceipt": "SalesReceipt",
    "taxagency": "TaxAgency",
    "taxcode": "TaxCode",
    "taxrate": "TaxRate",
    "term": "Term",
    "timeactivity": "TimeActivity",
}
#: documented attributes the emulator writes that the real records above happen to lack
EXTRA_KEYS = {
    "DepartmentRef",
    "PrivateNote",
    "DocNumber",
    "ExpirationDate",
    "ParentRef",
    "SalesTermRef",
    "CustomerMemo",
    "GivenName",
    "FamilyName",
    "PaymentMethodRef",
}


def real_records() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(HERE.glob("*__airbyte__*.json")):  # entity records, not API bodies
        entity = FIXTURE_ENTITY.get(path.name.split("__")[0])
        if entity is None:  # Invoice, Customer and Item: test_data.py
            continue
        out.setdefault(entity, []).append(json.loads(path.read_text(encoding="utf-8")))
    return out


@pytest.mark.parametrize("entity", sorted(FIXTURE_ENTITY.values()))
def test_shapes_follow_real_records(api: Api, entity: str) -> None:
    reals = real_records()[entity]
    real_keys: list[str] = []
    for real in reals:  # merge the records' key orders
        previous = None
        for k in real:
            if k not in real_keys:
                real_keys.insert(real_keys.index(previous) + 1 if previous else 0, k)
            previous = k
    line_keys = {k for real in reals for line in real.get("Line", []) for k in line}
    ours = page_all(api, entity, 1000)[:200]
    for obj in ours:
        keys = list(obj)
        assert set(keys) <= set(real_keys) | EXTRA_KEYS, set(keys) - set(real_keys)
        common = [k for k in real_keys if k in keys]
        assert [k for k in keys if k in real_keys] == common, entity
        for line in obj.get("Line", []):
            allowed = line_keys | {"Description", "Id", "LineNum", line.get("DetailType", "")}
            assert set(line) <= allowed, line


def test_readme_entity_table_matches_the_registry() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = text.split("| entity | kind | CDC | Active | delete | default rows per realm |")[1]
    rows = [line.split("|")[1:-1] for line in table.strip().splitlines()[1:]]
    rows = rows[: next((i for i, r in enumerate(rows) if not r), len(rows))]
    documented = {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows if cells}
    assert list(documented) == list(REGISTRY)
    for name, (kind, cdc_col, active, _, default) in documented.items():
        spec = REGISTRY[name]
        assert kind == spec.kind.replace("_", " ")
        assert (cdc_col == "yes") == spec.cdc and (active == "yes") == spec.active
        assert default == str(spec.default_size)


def test_multicurrency_company_over_http() -> None:
    with EmulatorServer(seed=5, customers=12, items=6, invoices=120, multicurrency=True) as emu:
        api = Api(emu)
        bills = page_all(api, "Bill", 1000)
        rates = [b["ExchangeRate"] for b in bills if b["CurrencyRef"]["value"] != "USD"]
        assert rates and all(isinstance(r, float) and 0 < r < 2 for r in rates)
        accounts = api.rows(
            "SELECT * FROM Account WHERE AccountType = 'Accounts Payable'", "Account"
        )
        assert {a["CurrencyRef"]["value"] for a in accounts} == {"USD", "EUR", "CAD"}
        assert sum(emu.trial_balance().values()) == 0
