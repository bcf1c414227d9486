"""Deletes through `meltano run`: CDC tombstones, deactivations, and the gap CDC cannot cover."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from conftest import COMPANY, ENTITY_STREAMS, STATE_ID, TABLES, mismatches, rows
from qbo_emulator.testing import EmulatorServer
from test_reconcile import reconcile

GAP_WARNING = "more than 30 days ago"
INVOICES = ("--stream", "invoices")  # reconcile only what the test changed: fewer requests


def _by_id(dsn: str, table: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows(dsn, table)}


def test_deleted_invoice_is_marked_deleted_on_the_next_run(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    project.run()
    realm = emulator.realm_ids[0]
    truth = emulator.truth()[realm]
    victim = sorted(truth["Invoice"], key=int)[3]
    customer = sorted(truth["Customer"], key=int)[1]
    emulator.mutate(realm, "Invoice", "delete", victim)
    emulator.mutate(realm, "Customer", "deactivate", customer)

    second = project.run()

    invoices = _by_id(project.dsn, "qb_invoices")
    assert invoices[victim]["_sdc_deleted_at"] is not None  # the row stays, soft-deleted
    assert invoices[victim]["payload"]["status"] == "Deleted"  # the tombstone is kept
    assert [i for i, r in invoices.items() if r["_sdc_deleted_at"] is not None] == [victim]
    customers = _by_id(project.dsn, "qb_customers")
    assert customers[customer]["payload"]["Active"] is False
    assert customers[customer]["_sdc_deleted_at"] is None
    assert mismatches(project.dsn, emulator.truth()) == {table: {} for table in TABLES.values()}
    # The first run was moments ago: no gap warning although the newest data is months old.
    assert GAP_WARNING not in second.stdout + second.stderr


def test_every_transaction_type_reaches_its_table_as_a_tombstone(
    emulator: Any, make_project: Any
) -> None:
    # One delete per stream with tombstones, one deactivation per name list, a deleted time
    # activity (CDC does not serve it), all from the tap's stream list.
    tombstoned = [s for s in ENTITY_STREAMS if s.tombstones]
    untracked = [s for s in ENTITY_STREAMS if s.kind == "transaction" and not s.tombstones]
    deactivated = [s for s in ENTITY_STREAMS if s.kind == "name_list" and s.include_inactive]
    project = make_project(emulator)
    project.run()
    realm = emulator.realm_ids[0]
    truth = emulator.truth()[realm]
    victims = {s: max(truth[s.entity], key=int) for s in tombstoned + untracked}
    for stream, victim in victims.items():
        emulator.mutate(realm, stream.entity, "delete", victim)
    active = {}
    for stream in deactivated:
        loaded = _by_id(project.dsn, stream.table)
        ids = sorted((i for i, r in loaded.items() if r["payload"].get("Active")), key=int)
        if ids:
            active[stream] = ids[0]
            emulator.mutate(realm, stream.entity, "deactivate", ids[0])
    after = emulator.truth()[realm]
    # QuickBooks (and the emulator) deactivates instead where an entity cannot be deleted.
    gone = {s for s, victim in victims.items() if victim in after["deleted"].get(s.entity, [])}
    assert len(gone & set(tombstoned)) >= 4

    project.run()

    for stream in tombstoned:
        table = _by_id(project.dsn, stream.table)
        deleted = [i for i, r in table.items() if r["_sdc_deleted_at"] is not None]
        if stream not in gone:
            assert deleted == [], f"{stream.table}: {deleted}"
            continue
        assert deleted == [victims[stream]], f"{stream.table}: {deleted}"
        assert table[victims[stream]]["payload"]["status"] == "Deleted", stream.table
    for stream, ident in active.items():
        row = _by_id(project.dsn, stream.table)[ident]
        assert row["payload"]["Active"] is False, stream.table
        assert row["_sdc_deleted_at"] is None, stream.table
    expected: dict[str, dict[str, Any]] = {table: {} for table in TABLES.values()}
    for stream in set(untracked) & gone:  # no tombstone: the row stays until reconcile
        expected[stream.table] = {"extra": [(realm, victims[stream])]}
    assert mismatches(project.dsn, emulator.truth()) == expected
    if set(untracked) & gone:
        names = [arg for s in untracked for arg in ("--stream", s.name)]
        code, out = reconcile(project, *names, "--mark-deleted")
        assert code == 0, out
        assert mismatches(project.dsn, emulator.truth()) == {t: {} for t in TABLES.values()}


def test_gap_beyond_cdc_warns_and_reconcile_marks_the_deletes(make_project: Any) -> None:
    # cdc_horizon_days: like Intuit at worst, CDC forgets what is older than 30 days.
    with EmulatorServer(**COMPANY, cdc_horizon_days=30) as emu:
        project = make_project(emu)
        project.run()
        realm = emu.realm_ids[0]
        victims = sorted(emu.truth()[realm]["Invoice"], key=int)[5:7]
        for victim in victims:
            emu.mutate(realm, "Invoice", "delete", victim)
        emu.advance_clock(days=40)

        second = project.run()
        output = second.stdout + second.stderr
        assert GAP_WARNING in output
        assert "reconcile --mark-deleted" in output
        invoices = _by_id(project.dsn, "qb_invoices")
        assert all(invoices[v]["_sdc_deleted_at"] is None for v in victims)  # CDC forgot them

        code, out = reconcile(project, *INVOICES)
        assert code == 1
        assert "deleted upstream 2: " + ", ".join(victims) in out

        code, out = reconcile(project, *INVOICES, "--mark-deleted")
        assert code == 0, out
        assert "Marked 2 row(s) deleted" in out
        invoices = _by_id(project.dsn, "qb_invoices")
        assert sorted(i for i, r in invoices.items() if r["_sdc_deleted_at"] is not None) == victims
        assert mismatches(project.dsn, emu.truth()) == {table: {} for table in TABLES.values()}
        assert reconcile(project, *INVOICES)[0] == 0


# How a company answers a CDC changedSince older than 30 days: a 400 fault, or silently.
CDC_MODES: dict[str, dict[str, Any]] = {
    "strict": {"cdc_reject_older_days": 30},
    "silent": {"cdc_horizon_days": 30},
}
RECONCILE_HINT = "reconcile --mark-deleted"


def _set_deletes_checked_at(project: Any, value: str | None) -> None:
    """Rewrite the saved state as a killed first backfill (None) or a paused pipeline leaves it."""
    state = project.state()
    for partition in state["singer_state"]["bookmarks"]["invoices"]["partitions"]:
        if value is None:
            partition.pop("deletes_checked_at", None)
        else:
            partition["deletes_checked_at"] = value
    project.meltano("--environment=demo", "state", "set", "--force", STATE_ID, json.dumps(state))


@pytest.mark.parametrize("mode", sorted(CDC_MODES))
def test_resumed_backfill_and_paused_pipeline_never_fail_on_cdc(
    make_project: Any, mode: str
) -> None:
    with EmulatorServer(**COMPANY, **CDC_MODES[mode]) as emu:
        project = make_project(emu)
        project.run()
        realm = emu.realm_ids[0]
        victims = sorted(emu.truth()[realm]["Invoice"], key=int)[3:5]

        # A first backfill killed before its CDC step: the state holds a bookmark (the newest
        # change it loaded, months ago) and no deletes_checked_at.
        _set_deletes_checked_at(project, None)
        emu.mutate(realm, "Invoice", "delete", victims[0])
        resumed = project.run()  # exits 0 (fails the test otherwise)
        output = resumed.stdout + resumed.stderr
        assert output.count(RECONCILE_HINT) == 1, output[-3000:]
        assert "older than fixed days" not in output
        invoices = _by_id(project.dsn, "qb_invoices")
        assert invoices[victims[0]]["_sdc_deleted_at"] is not None
        assert "deletes_checked_at" in json.dumps(project.state())

        # A pipeline paused for five weeks.
        paused = dt.datetime.now(dt.UTC) - dt.timedelta(days=35)
        _set_deletes_checked_at(project, paused.replace(microsecond=0).isoformat())
        emu.mutate(realm, "Invoice", "delete", victims[1])
        again = project.run()
        output = again.stdout + again.stderr
        assert output.count(RECONCILE_HINT) == 1, output[-3000:]
        invoices = _by_id(project.dsn, "qb_invoices")
        assert all(invoices[v]["_sdc_deleted_at"] is not None for v in victims)
        assert mismatches(project.dsn, emu.truth()) == {table: {} for table in TABLES.values()}


def test_a_cdc_fault_skips_deletes_and_the_run_exits_0(make_project: Any) -> None:
    # QuickBooks' clock 40 days ahead of this machine's: even the clamped start is refused.
    with EmulatorServer(**COMPANY, cdc_reject_older_days=30) as emu:
        project = make_project(emu)
        project.run()
        before = project.state()
        emu.advance_clock(days=40)
        realm = emu.realm_ids[0]
        emu.mutate(realm, "Invoice", "delete", sorted(emu.truth()[realm]["Invoice"], key=int)[4])

        second = project.run()
        output = second.stdout + second.stderr
        assert "were not checked this run" in output
        assert "older than fixed days is not supported" in output
        after = project.state()
        checked = [
            p.get("deletes_checked_at")
            for s in (before, after)
            for p in s["singer_state"]["bookmarks"]["invoices"]["partitions"]
        ]
        assert checked[0] == checked[1]  # deletes stay unchecked from the same point
        assert not [r for r in rows(project.dsn, "qb_invoices") if r["_sdc_deleted_at"]]
