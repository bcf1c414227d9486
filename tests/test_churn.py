"""Churn: rows updated, deactivated and deleted while the tap pages through a window.

The emulator's churn switch changes a row that the current paging has already served,
so it leaves the window (its LastUpdatedTime becomes "now", after the window's end) and
every later row shifts one position up. Plain STARTPOSITION paging then skips a row per
change; the first test shows it on the same company and the same changes, so the second
test can fail. The tap must lose none: every row that stayed in the window is loaded by
the run that saw the churn, and the next incremental run catches the changed rows.
"""

from __future__ import annotations

import typing as t

import pytest
import requests
from _pipeline import CLIENT_ID, CLIENT_SECRET, STREAMS, Pipeline, Probe, database
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator

COMPANY: dict[str, t.Any] = {"seed": 13, "customers": 30, "items": 10, "invoices": 160}
PAGE_SIZE = 20
CHANGES = 3  # rows churned while paging (update, delete, deactivate in turn)
# Only invoice queries churn (and count): the invoices are paged in several pages of one window,
# so each change is one the tap's verifying COUNT of that window must see, whatever order the
# tap's concurrent requests of the other streams take.
CHURN = {
    "churn_every": 2,
    "churn_ops": ["update", "delete", "deactivate"],
    "churn_entities": ["Invoice"],
}
WINDOW = "MetaData.LastUpdatedTime >= '2022-01-01T00:00:00Z' AND MetaData.LastUpdatedTime < '{end}'"


def _limit_churn(probe: Probe) -> None:
    """Switch churn on at the first invoice page read by a query, off after `CHANGES` changes.

    (Not before: the counts and the small streams read in one /batch request come first.)
    """
    emulator = probe.emu.emulator
    started: list[str] = []

    def churn_while_paging(_n: int, text: str) -> None:
        if not started and text.startswith("SELECT * FROM Invoice") and "STARTPOSITION" in text:
            started.append(text)
            emulator.configure(**CHURN)
        elif started and sum(emulator.churned.values()) >= CHANGES:
            emulator.configure(churn_every=0)

    probe.hooks.append(churn_while_paging)


def _churned_ids(emu: EmulatorServer, entity: str) -> set[str]:
    return {c["id"] for c in emu.stats()["churn_log"] if c["entity"] == entity}


def test_plain_offset_paging_loses_rows_under_the_same_churn() -> None:
    """The control: page invoices by STARTPOSITION alone, as most taps do."""
    with EmulatorServer(**COMPANY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu:
        probe = Probe(emu)
        token = requests.post(
            emu.token_url,
            data={"grant_type": "refresh_token", "refresh_token": "qbo-emulator-refresh"},
            auth=(CLIENT_ID, CLIENT_SECRET),
            timeout=30,
        ).json()["access_token"]
        realm = emu.realm_ids[0]
        before = set(emu.truth()[realm]["Invoice"])
        _limit_churn(probe)
        where = WINDOW.format(end="2026-01-01T00:00:00Z")
        seen: set[str] = set()
        start = 1
        while True:
            text = (
                f"SELECT * FROM Invoice WHERE {where} ORDERBY MetaData.LastUpdatedTime "
                f"STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            )
            body = requests.get(
                f"{emu.base_url}/v3/company/{realm}/query",
                params={"query": text, "minorversion": "75"},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=30,
            ).json()
            rows = body["QueryResponse"].get("Invoice", [])
            seen |= {row["Id"] for row in rows}
            if len(rows) < PAGE_SIZE:
                break
            start += PAGE_SIZE
        churned = _churned_ids(emu, "Invoice")
        assert len(churned) == CHANGES
        stayed = before - churned  # in the window from the first page to the last
        lost = stayed - seen
        assert lost, "plain offset paging lost nothing: the churn scenario tests nothing"


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with (
        EmulatorServer(**COMPANY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emu,
        database("churn") as dbname,
    ):
        yield Pipeline(
            emu,
            dbname,
            tmp_path_factory.mktemp("churn"),
            # One window over everything: pages of 20 rows, as in the control above.
            settings={"TAP_QUICKBOOKS_WINDOW_DAYS": "3660"},
        )


def test_rows_changed_while_paging_are_not_lost(pipe: Pipeline) -> None:
    realm = pipe.realm
    before = {
        entity: dict(ids) for entity, ids in pipe.emu.truth()[realm].items() if entity != "deleted"
    }
    _limit_churn(pipe.probe)
    first = pipe.run()
    assert first.rc == 0, first.tail()
    assert "COUNT(*) changed" in first.output, "the tap did not notice the churn"
    churned = {entity: _churned_ids(pipe.emu, entity) for entity in before}
    # The hook stops the churn between requests; one /batch request holds many statements,
    # each of which may churn, so at least CHANGES rows changed.
    assert sum(len(ids) for ids in churned.values()) >= CHANGES
    # Every row that did not change while the tap paged (a churned row, or a document a
    # churned one touched) is loaded by this run, in every stream.
    after = pipe.emu.truth()[realm]
    rows = pipe.rows()
    for stream, entity in STREAMS.items():
        loaded = {key for (_r, key) in rows[stream]}
        stayed = {key for key, token in before[entity].items() if after[entity].get(key) == token}
        lost = stayed - loaded
        assert not lost, f"{stream}: rows lost while paging: {sorted(lost, key=int)[:8]}"

    # The next incremental run catches the changed rows (and the deleted invoice's tombstone).
    second = pipe.run()
    assert second.rc == 0, second.tail()
    pipe.assert_matches_truth("incremental run after churn")
    deleted = set(pipe.emu.truth()[realm]["deleted"]["Invoice"]) & churned["Invoice"]
    tombstones = {key for (_r, key), row in pipe.rows()["invoices"].items() if row.deleted}
    assert deleted <= tombstones, "an invoice deleted while paging has no tombstone"
    final = pipe.rows()
    pipe.assert_state_not_ahead(pipe.state(), final, final, "churn")
    pipe.assert_queries_well_formed()
    pipe.assert_no_secrets()
