"""Deletes through `meltano run`: CDC tombstones, deactivations, and the gap CDC cannot cover."""

from __future__ import annotations

from typing import Any

from conftest import COMPANY, ENTITY_STREAMS, TABLES, mismatches, rows
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
