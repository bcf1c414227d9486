"""Every entity against the emulator: rows, inactive rows, deletes, singletons, CDC, API cost.

Request counts are exact, from the emulator's request log: a backfill spends one request per
page its rows need plus the planning `/batch` requests and the window counts (in `/batch`);
an incremental run spends one `/cdc` and one `/batch` request per company.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import threading
import typing as t

import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks import connection, realm_plan, settings, windows
from tap_quickbooks.client import CHUNK_PAGES
from tap_quickbooks.streams import STREAM_TYPES
from tests.conftest import run_tap, tap_config

ENTITY = {str(getattr(s, "name")): s.entity for s in STREAM_TYPES}  # noqa: B009
WAIT = 10.0  # seconds a held request waits for the tap to get somewhere (never reached if correct)


def _name(stream: t.Any) -> str:
    return str(stream.name)


def api_requests(emu: EmulatorServer) -> list[dict[str, t.Any]]:
    return emu.requests()


def rows_between(emu: EmulatorServer, realm: str, entity: str, start: float, end: float) -> int:
    order = emu.emulator.companies[realm].tables[entity].order
    return bisect.bisect_left(order, (int(end) if end == int(end) else int(end) + 1, -1)) - (
        bisect.bisect_left(order, (math.ceil(start), -1))
    )


def expected_backfill(emu: EmulatorServer, config: dict[str, t.Any]) -> tuple[int, int]:
    """`(requests, pages)` a backfill of every stream needs, from the emulator's own rows.

    The plan's rule: a stream of up to MAX_WINDOW_PAGES pages is one window; a larger one
    is cut into `window_days` windows (counted in /batch, 30 at a time), merged while they fit
    in MAX_WINDOW_PAGES; every window of more than one page gets a verifying count per chunk.
    """
    realm = emu.realm_ids[0]
    start = dt.datetime.fromisoformat(config["start_date"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(config["end_date"].replace("Z", "+00:00"))
    page = config["page_size"]
    streams = [s for s in STREAM_TYPES if s.kind != "singleton"]
    requests = math.ceil((len(streams) + 2) / connection.MAX_BATCH_ITEMS)  # planning
    pages = 2  # the singletons' pages (in the planning batch)
    to_count = 0

    def window(n: int) -> None:
        nonlocal requests, pages
        window_pages = math.ceil(n / page)
        pages += window_pages
        requests += window_pages
        if window_pages > 1:
            requests += math.ceil(window_pages / CHUNK_PAGES)  # verifying counts

    small: list[int] = []
    for stream in sorted(streams, key=_name):  # the order the SDK syncs them (and plans)
        total = rows_between(emu, realm, stream.entity, start.timestamp(), end.timestamp())
        if 0 < total <= page:
            small.append(total)
            continue
        if total <= realm_plan.MAX_WINDOW_PAGES * page:
            if total:
                window(total)
            continue
        plan = windows.plan_windows(start, end, settings.AUTO_WINDOW_DAYS)
        to_count += len(plan)
        group = 0
        for w in plan:
            n = rows_between(emu, realm, stream.entity, w.start.timestamp(), w.end.timestamp())
            if group and math.ceil((group + n) / page) > realm_plan.MAX_WINDOW_PAGES:
                window(group)
                group = 0
            group += n
        if group:
            window(group)
    # Streams of one page at most: read in /batch during planning (30 a request, at most
    # SMALL_PAGES_PER_BATCH pages of rows each, SMALL_PAGES_HELD pages in all).
    held, batches, items, rows = 0, 0, 0, 0
    for n in small:
        pages += 1
        if held + n > realm_plan.SMALL_PAGES_HELD * page:
            requests += 1  # read on its own, later
            continue
        held += n
        if (
            batches == 0
            or items >= connection.MAX_BATCH_ITEMS
            or rows + n > (realm_plan.SMALL_PAGES_PER_BATCH * page)
        ):
            batches, items, rows = batches + 1, 0, 0
        items, rows = items + 1, rows + n
    requests += batches
    requests += math.ceil(to_count / connection.MAX_BATCH_ITEMS)
    return requests, pages


@pytest.fixture(scope="module")
def company() -> t.Iterator[EmulatorServer]:
    with EmulatorServer(seed=21, customers=40, items=15, invoices=130) as emu:
        yield emu


def test_every_stream_arrives_with_inactive_rows_and_singletons(company, tmp_path):
    emu = company
    realm = emu.realm_ids[0]
    truth = emu.truth()[realm]
    result = run_tap(tap_config(emu, tmp_path, end_date=None, start_date="2000-01-01"))
    for stream in STREAM_TYPES:
        name = str(getattr(stream, "name"))  # noqa: B009
        got = {r["id"] for r in result.records.get(name, [])}
        assert got == set(truth[stream.entity]), name
    inactive = truth["inactive"]
    assert sum(len(ids) for ids in inactive.values()) > 0
    for entity, ids in inactive.items():
        name = next(n for n, e in ENTITY.items() if e == entity)
        got = {r["id"]: r for r in result.records.get(name, [])}
        for rid in ids:
            assert got[rid]["payload"]["Active"] is False, (entity, rid)
    for name in ("company_info", "preferences"):
        [row] = result.records[name]
        assert row["realm_id"] == realm
        assert row["_sdc_deleted_at"] is None


@pytest.mark.parametrize("page_size", [1000, 20, 1])
def test_backfill_spends_one_request_per_page_plus_planning(tmp_path, page_size):
    # page_size 1: invoices need more pages than a window holds (windows counted in /batch).
    with EmulatorServer(seed=22, customers=40, items=15, invoices=130, rate_limit=0) as emu:
        config = tap_config(
            emu, tmp_path, page_size=page_size, window_days=None, max_requests_per_minute=100_000
        )
        want, pages = expected_backfill(emu, config)
        emu.reset_stats()
        result = run_tap(config)
        log = api_requests(emu)
        assert len(log) == want
        assert not [r for r in log if r["endpoint"] == "cdc"]  # a backfill needs no deletes
        assert len(result.records["invoices"]) == len(emu.truth()[emu.realm_ids[0]]["Invoice"])
        assert want <= math.ceil(pages * 1.10)


def _live(emu: EmulatorServer, tmp_path: t.Any) -> dict[str, t.Any]:
    return tap_config(emu, tmp_path, end_date=None, start_date="2000-01-01")


def test_incremental_run_costs_one_cdc_and_one_batch_request(tmp_path):
    with EmulatorServer(seed=23, customers=40, items=15, invoices=130) as emu:
        realm = emu.realm_ids[0]
        config = _live(emu, tmp_path)
        first = run_tap(config)
        truth = emu.truth()[realm]
        emu.advance_clock(seconds=-5)  # changes a few seconds before the next run starts
        # Deletes of five transaction types, an update, a deactivation and a new bill.
        deleted = {}
        for entity in ("Invoice", "Payment", "Bill", "JournalEntry", "Purchase"):
            victim = sorted(truth[entity], key=int)[1]
            emu.mutate(realm, entity, "delete", victim)
            deleted[entity] = victim
        updated = emu.mutate(realm, "Invoice", "update", sorted(truth["Invoice"], key=int)[5])
        customer = sorted(truth["Customer"], key=int)[3]
        emu.mutate(realm, "Customer", "deactivate", customer)
        created = emu.mutate(realm, "Bill", "create")
        emu.reset_stats()
        second = run_tap(config, state=first.last_state)
        log = api_requests(emu)
        assert sorted(r["endpoint"] for r in log) == ["batch", "cdc"]
        [cdc] = [r for r in log if r["endpoint"] == "cdc"]
        assert not {"TaxAgency", "TaxCode", "TaxRate", "TimeActivity"} & set(cdc["entities"])
        for entity, victim in deleted.items():
            name = next(n for n, e in ENTITY.items() if e == entity)
            tombs = [r for r in second.records[name] if r["_sdc_deleted_at"]]
            assert [r["id"] for r in tombs] == [victim], entity
            assert tombs[0]["sync_token"] is None
        invoices = {r["id"]: r for r in second.records["invoices"] if not r["_sdc_deleted_at"]}
        assert updated in invoices
        assert second.records["customers"][0]["payload"]["Active"] is False
        assert created in {r["id"] for r in second.records["bills"]}
        assert len(second.records["company_info"]) == 1  # read again every run
        # A third run with nothing changed costs the same two requests; it emits the
        # singletons and, again, only the changes of the last minute (CDC's margin).
        emu.reset_stats()
        third = run_tap(config, state=second.last_state)
        assert sorted(r["endpoint"] for r in api_requests(emu)) == ["batch", "cdc"]
        again = {
            r["id"]
            for name, records in third.records.items()
            if name not in ("company_info", "preferences")
            for r in records
        }
        before = {
            r["id"]
            for name, records in second.records.items()
            if name not in ("company_info", "preferences")
            for r in records
        }
        assert again <= before
        assert len(third.records["preferences"]) == 1


@pytest.mark.parametrize("cap", [1000, 40])
def test_a_cdc_answer_at_the_cap_is_split_by_entities(tmp_path, monkeypatch, cap):
    # Intuit's cap (1,000 objects), and a small one (the emulator's and the tap's alike).
    monkeypatch.setattr(connection, "CDC_MAX_OBJECTS", cap)
    size = max(40, cap * 3 // 4)
    with EmulatorServer(seed=24, customers=size, items=15, invoices=size) as emu:
        realm = emu.realm_ids[0]
        emu.configure(cdc_max_objects=cap)
        config = _live(emu, tmp_path)
        first = run_tap(config)
        truth = emu.truth()[realm]
        emu.advance_clock(seconds=-5)  # changes a few seconds before the next run starts
        half = cap * 3 // 4  # each entity under the cap, both together over it
        changed = {"Invoice": sorted(truth["Invoice"], key=int)[:half]}
        changed["Customer"] = sorted(truth["Customer"], key=int)[:half]
        for entity, ids in changed.items():
            for rid in ids:
                emu.mutate(realm, entity, "update", rid)
        emu.reset_stats()
        second = run_tap(config, state=first.last_state)
        cdc = [r for r in api_requests(emu) if r["endpoint"] == "cdc"]
        # One request for the 27 entities CDC serves, halved while an answer holds `cap`.
        assert len(cdc[0]["entities"]) == 27
        changes = {"Invoice": half, "Customer": half}
        expected: list[list[str]] = []

        def ask(entities: list[str]) -> None:
            expected.append(entities)
            if sum(changes.get(e, 0) for e in entities) >= cap and len(entities) > 1:
                half = len(entities) // 2
                ask(entities[:half])
                ask(entities[half:])

        ask(cdc[0]["entities"])
        assert [r["entities"] for r in cdc] == expected
        assert not [r for r in api_requests(emu) if r["endpoint"] == "query"]
        for name, entity in (("invoices", "Invoice"), ("customers", "Customer")):
            got = {r["id"] for r in second.records[name]}
            assert set(changed[entity]) <= got


def test_an_entity_that_alone_fills_the_cap_is_read_by_windows(tmp_path, monkeypatch):
    cap = 40
    monkeypatch.setattr(connection, "CDC_MAX_OBJECTS", cap)
    with EmulatorServer(seed=25, customers=40, items=15, invoices=130) as emu:
        realm = emu.realm_ids[0]
        emu.configure(cdc_max_objects=cap)
        config = _live(emu, tmp_path)
        first = run_tap(config, streams=["invoices", "customers"])
        ids = sorted(emu.truth()[realm]["Invoice"], key=int)[:50]
        emu.advance_clock(seconds=-5)  # changes a few seconds before the next run starts
        for rid in ids:
            emu.mutate(realm, "Invoice", "update", rid)
        emu.reset_stats()
        second = run_tap(config, state=first.last_state, streams=["invoices", "customers"])
        log = api_requests(emu)
        cdc = [r["entities"] for r in log if r["endpoint"] == "cdc"]
        assert cdc == [["Customer", "Invoice"], ["Customer"], ["Invoice"]]
        assert [r for r in log if r["endpoint"] == "query"]  # invoices by windows
        assert set(ids) <= {r["id"] for r in second.records["invoices"]}


def test_an_old_checkpoint_falls_back_to_windows_and_clamps_deletes(tmp_path):
    with EmulatorServer(seed=26, customers=40, items=15, invoices=130) as emu:
        config = _live(emu, tmp_path)
        first = run_tap(config, streams=["invoices", "customers"])
        state = first.last_state
        assert state is not None
        # As if the last run was 40 days ago.
        old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=40)).replace(microsecond=0)
        for stream in ("invoices", "customers"):
            for partition in state["bookmarks"][stream]["partitions"]:
                partition[realm_plan.CHECKED_THROUGH] = old.isoformat()
                partition["replication_key_value"] = old.isoformat()
                if realm_plan.DELETES_CHECKED_AT in partition:
                    partition[realm_plan.DELETES_CHECKED_AT] = old.isoformat()
        emu.reset_stats()
        run_tap(config, state=state, streams=["invoices", "customers"])
        log = api_requests(emu)
        [cdc] = [r for r in log if r["endpoint"] == "cdc"]
        assert cdc["entities"] == ["Invoice"]  # deletes only, from 30 days ago
        assert [r for r in log if r["endpoint"] == "batch"]  # first pages of both streams


def _hold(
    monkeypatch: pytest.MonkeyPatch,
    held: t.Callable[[str], bool],
    until: t.Callable[[str], bool],
) -> list[bool]:
    """Hold each request whose statements `held` picks until one `until` picks was sent.

    Returns, for each held request, whether that came (False: it waited WAIT seconds in vain).
    """
    came = threading.Event()
    seen: list[bool] = []
    batch = connection.RealmConnection.batch
    query_decoded = connection.RealmConnection.query_decoded

    def check(text: str) -> None:
        if until(text):
            came.set()
        if held(text):
            seen.append(came.wait(WAIT))

    def batch_held(self: t.Any, queries: t.Sequence[str], *args: t.Any, **kwargs: t.Any) -> t.Any:
        check("; ".join(queries))
        return batch(self, queries, *args, **kwargs)

    def query_held(self: t.Any, text: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        check(text)
        return query_decoded(self, text, *args, **kwargs)

    monkeypatch.setattr(connection.RealmConnection, "batch", batch_held)
    monkeypatch.setattr(connection.RealmConnection, "query_decoded", query_held)
    return seen


def test_large_streams_send_pages_while_the_small_streams_batch_is_out(tmp_path, monkeypatch):
    # accounts (30 rows) fits in a page and is read in /batch during planning; invoices
    # (3 pages) sends its pages meanwhile instead of waiting for that batch. The batch is
    # held until an invoice page went out: read one after the other, it would wait in vain.
    seen = _hold(
        monkeypatch,
        held=lambda text: text.startswith("SELECT * FROM Account"),
        until=lambda text: text.startswith("SELECT * FROM Invoice"),
    )
    with EmulatorServer(seed=22, customers=40, items=15, invoices=130, rate_limit=0) as emu:
        config = tap_config(emu, tmp_path, page_size=50, window_days=None)
        emu.reset_stats()
        result = run_tap(config, streams=["accounts", "invoices"])
        truth = emu.truth()[emu.realm_ids[0]]
        log = api_requests(emu)
    assert seen == [True]
    assert {r["id"] for r in result.records["accounts"]} == set(truth["Account"])
    assert {r["id"] for r in result.records["invoices"]} == set(truth["Invoice"])
    # The same requests as one after the other: the planning batch (two counts), the
    # accounts batch, three invoice pages and their verifying count.
    assert sorted(r["endpoint"] for r in log) == ["batch", "batch", *["query"] * 4]


def test_the_next_three_streams_are_read_ahead_from_each_stream(tmp_path, monkeypatch):
    # Five streams of a few pages each: while the second waits for its verifying count,
    # the three after it (the fifth too, which the first did not reach) send their pages.
    streams = ["bill_payments", "bills", "employees", "estimates", "items"]
    seen = _hold(
        monkeypatch,
        held=lambda text: text.startswith("SELECT COUNT(*) FROM Bill "),
        until=lambda text: text.startswith("SELECT * FROM Item "),
    )
    with EmulatorServer(seed=22, customers=40, items=15, invoices=130, rate_limit=0) as emu:
        config = tap_config(emu, tmp_path, page_size=5, window_days=None)
        result = run_tap(config, streams=streams)
        truth = emu.truth()[emu.realm_ids[0]]
    assert seen == [True]
    for name in streams:
        assert {r["id"] for r in result.records[name]} == set(truth[ENTITY[name]]), name
