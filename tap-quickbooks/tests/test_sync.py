"""The tap against the emulator: completeness, paging, state, resume, churn, deletes."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
import typing as t

import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks import windows
from tap_quickbooks.client import RequestStats, close_connections
from tap_quickbooks.errors import WindowFailedError
from tap_quickbooks.tap import TapQuickBooks
from tests.conftest import run_tap, tap_config, truth_keys

if t.TYPE_CHECKING:
    from tap_quickbooks.client import QuickBooksStream

ENTITY_OF = {"invoices": "Invoice", "customers": "Customer", "items": "Item"}


def partition_bookmark(state, stream, realm):
    for partition in state["bookmarks"][stream]["partitions"]:
        if partition["context"] == {"realm_id": realm}:
            return partition.get("replication_key_value")
    return None


def assert_envelope(record, realm):
    assert record["realm_id"] == realm
    assert record["id"] == record["payload"]["Id"]
    assert record["sync_token"] == record["payload"]["SyncToken"]
    assert record["last_updated_time"].endswith("+00:00")
    assert record["ingested_at_utc"].endswith("+00:00")
    assert record["extract_window_start_utc"] <= record["last_updated_time"]
    assert record["last_updated_time"] < record["extract_window_end_utc"]
    request = record["request_payload"]
    assert set(request) == {"endpoint", "query", "start_position", "max_results", "minorversion"}
    assert request["query"].startswith("SELECT * FROM ")
    assert request["max_results"] == record["page_size"]
    assert record["_sdc_deleted_at"] is None


@pytest.fixture(scope="module")
def burst_company(tmp_path_factory):
    # >= 1500 invoices: the emulator adds a bulk-import burst of > 1000 rows sharing one
    # LastUpdatedTime, which plain offset paging by timestamp must not lose. Tests sharing
    # it share one token store too (refresh tokens rotate on every refresh).
    with EmulatorServer(seed=7, customers=90, items=25, invoices=1600) as emu:
        yield emu, tmp_path_factory.mktemp("burst-store")


def test_every_row_of_the_truth_arrives_across_the_burst(burst_company):
    emu, tmp_path = burst_company
    realm = emu.realm_ids[0]
    result = run_tap(tap_config(emu, tmp_path, page_size=100, window_days=400))
    truth = emu.truth()[realm]

    invoices = result.records["invoices"]
    stamps = collections.Counter(r["last_updated_time"] for r in invoices)
    assert stamps.most_common(1)[0][1] > 1000  # the burst is really there
    for stream, entity in ENTITY_OF.items():
        records = result.records[stream]
        got = {r["id"]: r["sync_token"] for r in records}
        assert got == truth[entity], stream
        assert len(records) == len(got), f"{stream}: duplicates in a clean run"
        for record in records[:50]:
            assert_envelope(record, realm)
    inactive = [r for r in result.records["customers"] if r["payload"].get("Active") is False]
    assert inactive, "inactive customers must arrive"
    assert [r for r in result.records["items"] if r["payload"].get("Active") is False]
    # Records come in LastUpdatedTime order and the final bookmark is the last one.
    times = [r["last_updated_time"] for r in invoices]
    assert times == sorted(times)
    assert partition_bookmark(result.last_state, "invoices", realm) == times[-1]
    assert "progress_markers" not in str(result.last_state)


def test_state_is_never_ahead_of_emitted_rows(burst_company):
    emu, tmp_path = burst_company
    realm = emu.realm_ids[0]
    result = run_tap(tap_config(emu, tmp_path, page_size=50), streams=["invoices"])
    seen_max = None
    bookmarks = []
    for message in result.messages:
        if message["type"] == "RECORD":
            value = message["record"]["last_updated_time"]
            seen_max = value if seen_max is None else max(seen_max, value)
        elif message["type"] == "STATE":
            bookmark = (
                partition_bookmark(message["value"], "invoices", realm)
                if ("invoices" in message["value"].get("bookmarks", {}))
                else None
            )
            if bookmark is not None:
                assert seen_max is not None
                assert bookmark <= seen_max
                bookmarks.append(bookmark)
    assert len(bookmarks) > 2  # committed several times, not only at the end
    assert bookmarks == sorted(bookmarks)


def test_pages_are_fetched_concurrently_within_the_limit(tmp_path):
    with EmulatorServer(seed=2, customers=5, items=5, invoices=600, latency_ms=30) as emu:
        run_tap(
            tap_config(emu, tmp_path, page_size=20, max_concurrent_requests=4),
            streams=["invoices"],
        )
        in_flight = emu.stats()["max_in_flight"][emu.realm_ids[0]]
    assert 1 < in_flight <= 4


def test_every_request_of_a_company_holds_one_of_its_slots(tmp_path):
    """Deletes (/cdc), /batch, a report and a query sent while pages are fetched ahead.

    The pages of a stream fill the company's 10 slots; the other requests of the company (as
    the plan's deletes check, a report or the SDK's thread send them) wait for a free slot
    instead of making an 11th request at once. The emulator does not enforce the limit here
    (no 429s), it only records how many requests of the company it had at once.
    """
    with EmulatorServer(
        seed=2, customers=5, items=5, invoices=1200, latency_ms=300, concurrency_limit=0
    ) as emu:
        realm = emu.realm_ids[0]
        tap = TapQuickBooks(config=tap_config(emu, tmp_path, page_size=10))
        try:
            invoices = t.cast("QuickBooksStream", tap.streams["invoices"])
            conn = invoices.connections.get(realm)
            cap = tap.settings.max_concurrent_requests
            stats = RequestStats()
            start, end = tap.settings.start_date, tap.settings.end_date
            assert end is not None
            pages = invoices._pipeline(conn, windows.plan_windows(start, end, 3650), stats, None)
            reader = threading.Thread(target=collections.deque, args=(pages, 0))
            reader.start()
            deadline = time.monotonic() + 60
            while emu.stats()["realms"][realm]["in_flight"] < cap:  # the pages fill every slot
                assert time.monotonic() < deadline, "the pages never filled the slots"
                time.sleep(0.005)
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
            others = [
                lambda: conn.cdc(["Invoice", "Payment"], since, stats),  # deletes
                lambda: conn.cdc(["Bill"], since, stats),
                lambda: conn.batch(["SELECT COUNT(*) FROM Customer"], stats),
                lambda: conn.get(
                    "reports/ProfitAndLoss",
                    {"start_date": "2024-01-01", "end_date": "2024-01-31"},
                    stats,
                ),
                lambda: conn.query("SELECT * FROM Item", stats),
            ]
            threads = [threading.Thread(target=other) for other in others]
            for thread in threads:
                thread.start()
            for thread in [*threads, reader]:
                thread.join(120)
        finally:
            close_connections(tap)
        found = emu.stats()
    assert found["by_endpoint"]["cdc"] == 2
    assert found["by_endpoint"]["reports"] == 1
    assert found["max_concurrent"][realm] == cap  # reached, never passed
    assert found["throttled"] == 0


def test_resume_after_an_interrupted_run(tmp_path):
    with EmulatorServer(seed=11, customers=20, items=10, invoices=1000) as emu:
        realm = emu.realm_ids[0]
        reference = run_tap(tap_config(emu, tmp_path, page_size=20), streams=["invoices"])
        every = {r["id"]: r["last_updated_time"] for r in reference.records["invoices"]}
        emu.reset_stats()
        # Requests 30.. fail with 500s: the run stops mid-stream (no retries allowed), after
        # the first chunk of 25 pages was verified (the windows of a backfill are merged, so
        # that is the first point a bookmark can move to).
        emu.configure(fault_at={"500": list(range(30, 400))})
        config = tap_config(
            emu,
            tmp_path,
            page_size=20,
            max_retries=0,
            max_window_failures=1,
            max_concurrent_requests=2,
        )
        first = run_tap(config, streams=["invoices"], raise_errors=False)
        assert isinstance(first.error, WindowFailedError)
        assert "rerun to resume from" in str(first.error)
        state = first.last_state
        bookmark = partition_bookmark(state, "invoices", realm)
        assert bookmark is not None
        emitted = {r["id"] for r in first.records["invoices"]}
        # Everything strictly before the bookmark was emitted before the crash.
        assert {i for i, ts in every.items() if ts < bookmark} <= emitted
        assert len(emitted) < len(every)

        emu.configure(fault_at={})
        second = run_tap(config, state=state, streams=["invoices"])
        # (The seeded company's deleted invoices come back as CDC tombstones: not rows.)
        resumed = [r for r in second.records["invoices"] if r["_sdc_deleted_at"] is None]
        assert min(r["last_updated_time"] for r in resumed) >= bookmark  # resumes there
        assert emitted | {r["id"] for r in resumed} == set(every)


def test_access_token_expiry_mid_run_is_refreshed_once(tmp_path, monkeypatch):
    from tap_quickbooks import client

    with EmulatorServer(seed=5, customers=10, items=5, invoices=300) as emu:
        original = client.RealmConnection.query
        advanced = threading.Event()

        def query(self, text, stats):
            # Once a few requests have been answered with the first access token (requests
            # start together, so not at a fixed call), every issued token expires.
            with lock:
                if not advanced.is_set() and emu.stats()["requests"]["api"] >= 3:
                    emu.advance_clock(hours=2)
                    advanced.set()
            return original(self, text, stats)

        lock = threading.Lock()

        monkeypatch.setattr(client.RealmConnection, "query", query)
        result = run_tap(tap_config(emu, tmp_path, page_size=25))
        assert advanced.is_set()
        stats = emu.stats()
        assert stats["token_refreshes"] == 2
        assert stats["auth_failures"] >= 1
        assert result.keys("invoices") == truth_keys(emu, "Invoice")


def _reject_bearer_tokens(emu, times):
    """The emulator answers 401 to the next `times` API requests (every one if None)."""
    tokens = emu.emulator.tokens
    original = tokens.bearer_realm
    left = {"n": times}

    def bearer_realm(token):
        if left["n"] is None or left["n"] > 0:
            if left["n"] is not None:
                left["n"] -= 1
            return None, f"Token expired: {token[:50]}"
        return original(token)

    tokens.bearer_realm = bearer_realm


def test_a_token_expired_again_right_after_its_refresh_is_refreshed_again(tmp_path):
    # Two 401s in a row for one request: e.g. another request expired the token this one
    # had just refreshed. The second refresh is normal; the run completes.
    with EmulatorServer(seed=5, customers=4, items=3, invoices=20) as emu:
        _reject_bearer_tokens(emu, 2)
        result = run_tap(
            tap_config(emu, tmp_path, max_concurrent_requests=1), streams=["customers"]
        )
        assert result.keys("customers") == truth_keys(emu, "Customer")
        assert emu.stats()["token_refreshes"] == 3


def test_access_tokens_rejected_after_every_refresh_stop_the_run_with_a_hint(tmp_path):
    with EmulatorServer(seed=5, customers=4, items=3, invoices=20) as emu:
        _reject_bearer_tokens(emu, None)
        config = tap_config(emu, tmp_path, max_concurrent_requests=1)
        result = run_tap(config, streams=["customers"], raise_errors=False)
        assert result.error is not None
        message = str(result.error)
        assert "rejected a freshly refreshed access token (401)" in message
        assert "re-authorize" in message
        # The first token, then one refresh for each of the first two 401s.
        assert emu.stats()["token_refreshes"] == 3
        assert not result.records.get("customers")


def test_throttling_and_server_errors_are_retried_without_sleeping(tmp_path, no_sleep):
    with EmulatorServer(seed=6, customers=10, items=5, invoices=200) as emu:
        emu.configure(
            fault_at={
                "429": [3, 4],
                "500": [6],
                "503": [8],
                "reset": [10],
                "truncate": [12],
                "502": [14],
            }
        )
        result = run_tap(tap_config(emu, tmp_path, page_size=20, max_concurrent_requests=1))
        assert result.keys("invoices") == truth_keys(emu, "Invoice")
        assert result.keys("customers") == truth_keys(emu, "Customer")
        faults = emu.stats()["faults"]
        assert sum(faults.values()) == 7
    assert no_sleep.count(60.0) == 2  # Intuit asks for 60 s after a 429
    backoffs = [s for s in no_sleep if s != 60.0]
    assert len(backoffs) == 5
    assert all(0 < s <= 60 for s in backoffs)


def test_retry_after_is_honoured(tmp_path, no_sleep):
    with EmulatorServer(seed=6, customers=3, items=3, invoices=30, retry_after=7) as emu:
        emu.configure(fault_at={"429": [2]})
        run_tap(tap_config(emu, tmp_path), streams=["invoices"])
    assert 7.0 in no_sleep
    assert 60.0 not in no_sleep


def test_circuit_breaker_names_the_window_and_keeps_state(tmp_path, no_sleep):
    with EmulatorServer(seed=6, customers=3, items=3, invoices=100) as emu:
        emu.configure(fault_rate={"503": 1.0})
        result = run_tap(
            tap_config(emu, tmp_path, max_retries=1, max_window_failures=3),
            streams=["customers"],
            raise_errors=False,
        )
    error = result.error
    assert isinstance(error, WindowFailedError)
    message = str(error)
    assert "3 times in a row" in message
    assert "window [2022-01-01T00:00:00+00:00" in message
    assert "\n" not in message
    assert not result.records


def test_churn_during_paging_loses_nothing(tmp_path):
    with EmulatorServer(
        seed=9,
        customers=400,
        items=10,
        invoices=600,
        churn_every=3,
        churn_ops=["update", "deactivate", "delete", "create"],
    ) as emu:
        before = {e: truth_keys(emu, e) for e in ENTITY_OF.values()}
        config = tap_config(emu, tmp_path, page_size=40)
        first = run_tap(config, streams=["invoices", "customers"])
        stats = emu.stats()
        assert sum(stats["churn"].values()) > 5
        churned = {(c["realm"], c["id"]) for c in stats["churn_log"]}
        for stream in ("invoices", "customers"):
            entity = ENTITY_OF[stream]
            # Rows untouched during the run must all be there despite offset shifts.
            assert before[entity] - churned <= first.keys(stream), stream
        emu.configure(churn_every=0)
        # The next incremental run (to past the changes) catches every changed row.
        second = run_tap(
            {**config, "end_date": "2099-01-01T00:00:00Z"},
            state=first.last_state,
            streams=["invoices", "customers"],
        )
        for stream in ("invoices", "customers"):
            entity = ENTITY_OF[stream]
            live = [r for r in second.records.get(stream, []) if r["_sdc_deleted_at"] is None]
            got = first.keys(stream) | {(r["realm_id"], r["id"]) for r in live}
            assert truth_keys(emu, entity) <= got, stream


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_deleted_invoices_become_tombstones(tmp_path):
    with EmulatorServer(seed=4, customers=5, items=5, invoices=120) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path)
        first = run_tap(config, streams=["invoices"])
        assert not any(r["_sdc_deleted_at"] for r in first.records["invoices"])
        bookmark = partition_bookmark(first.last_state, "invoices", realm)
        victim = sorted(first.records["invoices"], key=lambda r: r["id"])[3]["id"]
        emu.mutate(realm, "Invoice", "delete", victim)
        collect = _Collect()
        stream_logger = logging.getLogger("tap-quickbooks.invoices")
        stream_logger.addHandler(collect)
        try:
            second = run_tap(config, state=first.last_state, streams=["invoices"])
        finally:
            stream_logger.removeHandler(collect)
        tombstones = [r for r in second.records["invoices"] if r["_sdc_deleted_at"]]
        assert [t["id"] for t in tombstones] == [victim]
        tomb = tombstones[0]
        assert tomb["payload"]["status"] == "Deleted"
        assert tomb["sync_token"] is None
        assert tomb["_sdc_deleted_at"].endswith("+00:00")
        assert tomb["_sdc_deleted_at"] == tomb["last_updated_time"]
        assert "cdc" in tomb["request_payload"]["endpoint"]
        # The tombstone does not move the bookmark.
        assert partition_bookmark(second.last_state, "invoices", realm) == bookmark
        assert not any("30 days" in m for m in collect.messages)  # checked moments ago

        # Forty days later (QuickBooks' clock), CDC can no longer vouch for every delete.
        emu.advance_clock(days=40)
        stream_logger.addHandler(collect)
        try:
            run_tap(config, state=second.last_state, streams=["invoices"])
        finally:
            stream_logger.removeHandler(collect)
        assert any("more than 30 days ago" in m and "reconcile" in m for m in collect.messages)

        off = run_tap(
            {**config, "include_deletes": False}, state=first.last_state, streams=["invoices"]
        )
        assert not any(r["_sdc_deleted_at"] for r in off.records.get("invoices", []))


def test_several_realms_each_with_their_own_state(tmp_path):
    with EmulatorServer(seed=8, customers=10, items=4, invoices=40, realms=2) as emu:
        result = run_tap(tap_config(emu, tmp_path))
        for stream, entity in ENTITY_OF.items():
            assert result.keys(stream) == truth_keys(emu, entity)
        partitions = result.last_state["bookmarks"]["invoices"]["partitions"]
        assert sorted(p["context"]["realm_id"] for p in partitions) == sorted(emu.realm_ids)


def test_incremental_run_picks_up_only_changes(tmp_path):
    with EmulatorServer(seed=12, customers=20, items=5, invoices=100) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path, end_date=None)
        first = run_tap(config, streams=["customers"])
        target = sorted(first.records["customers"], key=lambda r: r["last_updated_time"])[0]
        changed = emu.mutate(realm, "Customer", "deactivate", target["id"])
        emu.advance_clock(seconds=5)
        config["end_date"] = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        second = run_tap(config, state=first.last_state, streams=["customers"])
        ids = {r["id"] for r in second.records["customers"]}
        # The last bookmarked row (>= is inclusive) and the changed customer, nothing else.
        assert changed in ids
        assert len(ids) <= 3
        row = next(r for r in second.records["customers"] if r["id"] == changed)
        assert row["payload"]["Active"] is False
