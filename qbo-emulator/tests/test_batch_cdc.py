"""/batch as singer-io's tap uses it, and /cdc with tombstones."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import requests
from conftest import Api, fixture_json, keys_shape

from qbo_emulator.testing import EmulatorServer
from qbo_emulator.timeutil import parse_instant


def batch(api: Api, items: list[dict[str, Any]]) -> dict[str, Any]:
    resp = api.session.post(
        api.url("batch"),
        params={"minorversion": "75"},
        data=json.dumps({"BatchItemRequest": items}),
        headers={**api.headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_singer_style_batch_pages_until_exhausted(api: Api) -> None:
    template = (
        "SELECT * FROM {e} WHERE Metadata.LastUpdatedTime >= '2020-07-08T00:00:00Z'{a} "
        "ORDER BY Metadata.LastUpdatedTime ASC STARTPOSITION {s} MAXRESULTS 1000"
    )
    seen: dict[str, list[str]] = {"Invoice": [], "Customer": [], "Item": []}
    start = 1
    while True:
        items = [
            {
                "bId": e,
                "Query": template.format(
                    e=e, s=start, a=" AND Active IN (true, false)" if e != "Invoice" else ""
                ),
            }
            for e in seen
        ]
        body = batch(api, items)
        assert list(body) == ["BatchItemResponse", "time"]
        more = False
        for item in body["BatchItemResponse"]:
            qr = item["QueryResponse"]
            if "maxResults" in qr:
                more = True
                entity = next(k for k in qr if k not in ("startPosition", "maxResults"))
                seen[entity] += [r["Id"] for r in qr[entity]]
            else:
                assert item == {"QueryResponse": {}, "bId": item["bId"]}
        if not more:
            break
        start += 1000
    truth = api.emu.truth()[api.realm]
    for entity, ids in seen.items():
        assert sorted(ids, key=int) == sorted(truth[entity], key=int)


def test_batch_item_faults_and_limit(api: Api) -> None:
    body = batch(
        api,
        [
            {"bId": "ok", "Query": "select count(*) from Item"},
            {"bId": "bad", "Query": "select * from Custmoer"},
            {"bId": "op", "operation": "delete", "Invoice": {"Id": "1"}},
        ],
    )
    ok, bad, op = body["BatchItemResponse"]
    assert ok["bId"] == "ok" and "totalCount" in ok["QueryResponse"]
    real = fixture_json("batch__minimul-qbo_api__mixed_ops_and_query.json")["BatchItemResponse"][1]
    assert keys_shape(bad) == keys_shape(real)
    assert bad["Fault"]["Error"][0]["code"] == "4001"
    assert "Fault" in op
    resp = api.session.post(
        api.url("batch"),
        headers=api.headers,
        timeout=10,
        data=json.dumps(
            {
                "BatchItemRequest": [
                    {"bId": str(i), "Query": "select * from Item"} for i in range(31)
                ]
            }
        ),
    )
    assert resp.status_code == 400 and resp.json()["Fault"]["type"] == "ValidationFault"


def test_cdc_changes_tombstones_and_empty_groups() -> None:
    with EmulatorServer(
        seed=2, customers=20, items=10, invoices=50, clock="2026-06-01T12:00:00Z"
    ) as emu:
        api = Api(emu)
        realm = emu.realm_ids[0]
        inv = sorted(emu.truth()[realm]["Invoice"], key=int)
        emu.mutate(realm, "Invoice", "update", inv[0])
        emu.mutate(realm, "Invoice", "delete", inv[1])
        emu.advance_clock(days=1)
        api.refresh()  # a day later the access token has expired
        resp = api.get(
            "cdc",
            entities="Invoice,Customer,Item",
            changedSince="2026-05-20T00:00:00-07:00",
            minorversion="75",
        )
        assert resp.status_code == 200
        body = resp.json()
        assert list(body) == ["CDCResponse", "time"]
        groups = body["CDCResponse"][0]["QueryResponse"]
        assert len(groups) == 3
        invoices = groups[0]["Invoice"]
        assert groups[0]["maxResults"] == 2 and groups[1] == {} and groups[2] == {}
        tomb = next(x for x in invoices if x.get("status") == "Deleted")
        assert list(tomb) == ["domain", "status", "Id", "MetaData"]
        assert (tomb["domain"], tomb["Id"], list(tomb["MetaData"])) == (
            "QBO",
            inv[1],
            ["LastUpdatedTime"],
        )
        deleted_at = parse_instant(tomb["MetaData"]["LastUpdatedTime"])
        assert deleted_at is not None
        assert 0 <= deleted_at - 1780315200 < 60  # the emulator clock: 2026-06-01T12:00:00Z
        assert tomb["MetaData"]["LastUpdatedTime"].endswith("-07:00")
        live = next(x for x in invoices if "status" not in x)
        assert live["Id"] == inv[0]
        real = fixture_json("cdc__minimul-qbo_api__estimate.json")
        assert list(real["CDCResponse"][0]["QueryResponse"][0])[1:] == list(groups[0])[1:]


def test_cdc_caps_at_1000_objects() -> None:
    with EmulatorServer(seed=2, customers=20, items=10, invoices=1200) as emu:
        api = Api(emu)
        body = api.get(
            "cdc", entities="Invoice,Customer", changedSince="2021-01-01T00:00:00Z"
        ).json()
        groups = body["CDCResponse"][0]["QueryResponse"]
        total = sum(g.get("maxResults", 0) for g in groups)
        assert total == 1000 and groups[1] == {}


def test_cdc_requires_changed_since(api: Api) -> None:
    resp = api.get("cdc", entities="Invoice")
    assert resp.status_code == 400 and "Fault" in resp.json()


def test_cdc_horizon_cuts_off_older_changes() -> None:
    with EmulatorServer(seed=2, customers=20, items=10, invoices=50, cdc_horizon_days=30) as emu:
        api = Api(emu)
        realm = emu.realm_ids[0]
        changed = emu.mutate(realm, "Customer", "update", "3")
        body = api.get("cdc", entities="Invoice,Customer", changedSince="2021-01-01T00:00:00Z")
        groups = body.json()["CDCResponse"][0]["QueryResponse"]
        assert groups[0] == {}  # seeded invoices are older than 30 days
        assert [c["Id"] for c in groups[1]["Customer"]] == [changed]


def test_cdc_reject_older_days_answers_an_old_start_with_a_400_fault() -> None:
    with EmulatorServer(seed=2, customers=5, items=5, invoices=20) as emu:
        api = Api(emu)
        old = "2021-01-01T00:00:00Z"
        assert api.get("cdc", entities="Invoice", changedSince=old).status_code == 200
        # The admin endpoint, like every switch.
        resp = requests.post(
            f"{emu.base_url}/__emulator__/config", json={"cdc_reject_older_days": 30}, timeout=10
        )
        assert resp.json()["cdc_reject_older_days"] == 30
        resp = api.get("cdc", entities="Invoice", changedSince=old)
        assert resp.status_code == 400
        error = resp.json()["Fault"]["Error"][0]
        assert error["Message"] == (
            f"Operation cdc with changedSince date {old} which is older than fixed days "
            "is not supported."
        )
        assert resp.json()["Fault"]["type"] == "ValidationFault"
        recent = api.get("cdc", entities="Invoice", changedSince=utc_days_ago(29))
        assert recent.status_code == 200


def test_nul_in_memo_puts_a_nul_in_every_invoice_memo() -> None:
    with EmulatorServer(seed=2, customers=5, items=5, invoices=20, nul_in_memo=1) as emu:
        api = Api(emu)
        rows = api.rows("SELECT * FROM Invoice", "Invoice")
        assert rows and all(r["CustomerMemo"]["value"].startswith("\x00") for r in rows)
        emu.configure(nul_in_memo=0)
        rows = api.rows("SELECT * FROM Invoice", "Invoice")
        assert not any("\x00" in r["CustomerMemo"]["value"] for r in rows)


def utc_days_ago(days: int) -> str:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
