"""Churn while a client pages: offset paging provably loses rows; the truth stays exact."""

from __future__ import annotations

import pytest
from conftest import Api

from qbo_emulator.config import ConfigError
from qbo_emulator.testing import EmulatorServer

Q = (
    "SELECT * FROM Invoice WHERE Metadata.LastUpdatedTime >= '2021-01-01T00:00:00Z' "
    "ORDER BY Metadata.LastUpdatedTime ASC STARTPOSITION {s} MAXRESULTS 50"
)


def offset_paging(api: Api) -> set[str]:
    ids: set[str] = set()
    start = 1
    while True:
        qr = api.query(Q.format(s=start)).json()["QueryResponse"]
        if "maxResults" not in qr:
            return ids
        ids |= {r["Id"] for r in qr["Invoice"]}
        start += 50


def test_offset_paging_under_churn_loses_rows() -> None:
    with EmulatorServer(
        seed=4, customers=20, items=10, invoices=600, churn_every=2, churn_ops=["update", "delete"]
    ) as emu:
        api = Api(emu)
        got = offset_paging(api)
        truth = emu.truth()[api.realm]
        stats = emu.stats()
        assert stats["churn"]["update"] >= 2 and stats["churn"]["delete"] >= 2
        missing = set(truth["Invoice"]) - got
        assert missing, "offset paging should have skipped rows shifted by the churn"
        changed = {c["id"] for c in stats["churn_log"]}
        deleted = set(truth["deleted"]["Invoice"])
        assert changed & deleted  # deletions show up as deleted in the truth
        for entry in stats["churn_log"]:
            if entry["op"] == "update" and entry["id"] not in deleted:
                assert int(truth["Invoice"][entry["id"]]) >= 1


def test_without_churn_offset_paging_is_complete() -> None:
    with EmulatorServer(seed=4, customers=20, items=10, invoices=600) as emu:
        api = Api(emu)
        assert offset_paging(api) == set(emu.truth()[api.realm]["Invoice"])


def test_churn_deactivates_name_list_rows() -> None:
    with EmulatorServer(
        seed=4, customers=40, items=10, invoices=10, churn_every=1, churn_ops=["deactivate"]
    ) as emu:
        api = Api(emu)
        rows = api.rows(
            "SELECT * FROM Customer WHERE Active IN (true, false) "
            "ORDER BY MetaData.LastUpdatedTime STARTPOSITION 11 MAXRESULTS 10",
            "Customer",
        )
        assert rows
        entry = emu.stats()["churn_log"][0]
        emu.configure(churn_every=0)
        assert entry["op"] == "deactivate" and entry["entity"] == "Customer"
        latest = api.rows(
            "SELECT * FROM Customer WHERE Active = false "
            "ORDER BY MetaData.LastUpdatedTime DESC MAXRESULTS 1",
            "Customer",
        )
        assert latest[0]["Id"] == entry["id"]
        assert latest[0]["DisplayName"].endswith(" (deleted)")


def test_churn_on_any_transaction_deletes_and_keeps_the_books() -> None:
    with EmulatorServer(
        seed=4, customers=20, items=10, invoices=600, churn_every=2, churn_ops=["delete"]
    ) as emu:
        api = Api(emu)
        start = 1
        while True:
            q = f"SELECT * FROM Payment ORDERBY Id STARTPOSITION {start} MAXRESULTS 40"
            if "maxResults" not in api.query(q).json()["QueryResponse"]:
                break
            start += 40
        stats = emu.stats()
        gone = {c["id"] for c in stats["churn_log"] if c["entity"] == "Payment"}
        assert gone and stats["churn"]["delete"] == len(gone)
        truth = emu.truth()[api.realm]
        assert gone <= set(truth["deleted"]["Payment"])
        assert sum(emu.trial_balance(api.realm).values()) == 0


def test_churn_entities_limits_churn_to_the_queries_of_those_entities() -> None:
    with EmulatorServer(
        seed=4,
        customers=40,
        items=10,
        invoices=100,
        churn_every=1,
        churn_ops=["update"],
        churn_entities=["Invoice"],
    ) as emu:
        api = Api(emu)
        customers = "SELECT * FROM Customer ORDERBY Id STARTPOSITION {s} MAXRESULTS 10"
        for start in (1, 11, 21):
            assert api.rows(customers.format(s=start), "Customer")
        assert emu.stats()["churn_log"] == []  # other entities neither churn nor count
        assert api.query(Q.format(s=51)).json()["QueryResponse"]["Invoice"]
        log = emu.stats()["churn_log"]
        assert [(c["entity"], c["op"]) for c in log] == [("Invoice", "update")]


def test_churn_entities_must_name_entities_that_can_churn() -> None:
    with EmulatorServer(seed=4, customers=5, items=5, invoices=5) as emu:
        for bad in (["Nope"], ["CompanyInfo"]):
            with pytest.raises(ConfigError, match="churn_entities"):
                emu.configure(churn_entities=bad)
