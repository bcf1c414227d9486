"""Companies in parallel within one run: interleaved, capped, each with its own state."""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import logging
import queue
import subprocess
import sys
import threading
import typing as t

import pytest
import requests
from qbo_emulator.testing import EmulatorServer
from singer_sdk.metrics import METRICS_LOGGER_NAME, Point

from tap_quickbooks import realms as reading
from tap_quickbooks.realm_metrics import RealmRecordCounter
from tap_quickbooks.realms import ReadAhead, RealmsFailedError, per_realm_requests
from tap_quickbooks.settings import load_settings
from tap_quickbooks.streams import STREAM_TYPES
from tests.conftest import CLIENT_ID, CLIENT_SECRET, run_tap, tap_config, truth_keys

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ENTITY_OF = {"invoices": "Invoice", "customers": "Customer", "items": "Item"}


def emulator(**switches) -> EmulatorServer:
    # Latency makes the realms' requests overlap (the sleeps are the emulator's, not the tap's).
    return EmulatorServer(
        seed=21, customers=40, items=10, invoices=120, realms=3, latency_ms=20, **switches
    )


def bookmarks(state: dict, stream: str) -> dict[str, str]:
    partitions = state["bookmarks"][stream]["partitions"]
    return {
        p["context"]["realm_id"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }


def switches(records: list[dict]) -> int:
    return sum(1 for a, b in itertools.pairwise(records) if a["realm_id"] != b["realm_id"])


def test_realms_are_read_at_once_within_the_total_cap(tmp_path) -> None:
    with emulator() as emu:
        config = tap_config(emu, tmp_path, page_size=10, max_total_requests=6)
        result = run_tap(config)
        for stream, entity in ENTITY_OF.items():
            assert result.keys(stream) == truth_keys(emu, entity)
            assert set(bookmarks(result.last_state, stream)) == set(emu.realm_ids)
        # Interleaved: the realms' pages alternate in the output instead of one block each.
        assert switches(result.records["customers"]) > 2 * len(emu.realm_ids)
        # Each realm had its share of the 6 requests, never more (every request counted).
        in_flight = emu.stats()["max_concurrent"]
        assert max(in_flight.values()) <= 2
        assert all(in_flight[r] >= 1 for r in emu.realm_ids)


def test_parallel_and_serial_runs_write_the_same_rows_and_state(tmp_path) -> None:
    with emulator() as emu:
        # One token store for both runs: the first rotates the tokens the second needs.
        parallel = run_tap(tap_config(emu, tmp_path, page_size=25))
        serial = run_tap(tap_config(emu, tmp_path, page_size=25, parallel_realms=False))
        for stream in ENTITY_OF:
            assert result_rows(parallel, stream) == result_rows(serial, stream)
            assert bookmarks(parallel.last_state, stream) == bookmarks(serial.last_state, stream)
        # Serial: one block per realm.
        assert switches(serial.records["customers"]) == len(emu.realm_ids) - 1
        invoices = parallel.last_state["bookmarks"]["invoices"]["partitions"]
        assert all("deletes_checked_at" in p for p in invoices)


def result_rows(result, stream: str) -> list[tuple[str, str, str]]:
    return sorted((r["realm_id"], r["id"], r["sync_token"]) for r in result.records[stream])


def revoke(emu: EmulatorServer, realm: str, token: str) -> None:
    """Someone else spends the realm's refresh token: the configured one is superseded."""
    answer = requests.post(
        emu.token_url,
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": token},
        timeout=10,
    )
    assert answer.status_code == 200


def test_a_company_that_fails_does_not_stop_the_others(tmp_path) -> None:
    with emulator() as emu:
        config = tap_config(emu, tmp_path, page_size=25)
        broken = emu.realm_ids[1]
        revoke(emu, broken, config["refresh_token"].split(",")[1])
        result = run_tap(config, raise_errors=False)
        assert isinstance(result.error, RealmsFailedError)
        message = str(result.error)
        assert message.startswith(f"1 of 3 companies failed ({broken}); the other 2 were read")
        assert "invalid_grant" in message
        assert "tap-quickbooks authorize" in message
        assert "\n" not in message
        healthy = [r for r in emu.realm_ids if r != broken]
        for stream, entity in ENTITY_OF.items():
            expected = {k for k in truth_keys(emu, entity) if k[0] != broken}
            assert result.keys(stream) == expected
            assert set(bookmarks(result.last_state, stream)) == set(healthy)
        # The broken company is not asked again in the later streams.
        assert emu.stats()["token_errors"] == {"invalid_grant": 1}


def test_the_cli_ends_non_zero_naming_the_failed_companies(tmp_path) -> None:
    with emulator() as emu:
        config = tap_config(emu, tmp_path, page_size=25)
        tokens = config["refresh_token"].split(",")
        for index in (0, 2):
            revoke(emu, emu.realm_ids[index], tokens[index])
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from tap_quickbooks.cli import main; main()",
                "--config",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        first, third = emu.realm_ids[0], emu.realm_ids[2]
        assert last.startswith(f"tap-quickbooks: error: 2 of 3 companies failed ({first}, {third})")
        assert last.count("tap-quickbooks authorize") == 2
        logged = [
            line for line in proc.stderr.splitlines() if "Company " in line and "failed" in line
        ]
        assert any(first in line for line in logged)
        assert any(third in line for line in logged)
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        realms = {m["record"]["realm_id"] for m in rows if m["type"] == "RECORD"}
        assert realms == {emu.realm_ids[1]}
        for secret in (CLIENT_SECRET, *tokens):
            assert secret not in proc.stderr


@pytest.mark.parametrize(
    ("realms", "total", "per_realm", "expected"),
    [(20, 40, 10, 2), (3, 40, 10, 10), (50, 40, 10, 1), (4, 40, 5, 5)],
)
def test_each_realm_gets_its_share_of_the_total(realms, total, per_realm, expected) -> None:
    settings = load_settings(
        {
            "client_id": "c",
            "client_secret": "s",
            "realm_id": ",".join(str(1000 + i) for i in range(realms)),
            "start_date": "2022-01-01",
            "max_total_requests": total,
            "max_concurrent_requests": per_realm,
        }
    )
    assert per_realm_requests(settings) == expected


class _Metrics(logging.Handler):
    """The SDK's METRIC points, as dicts."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.points: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.args and isinstance(record.args, tuple) and isinstance(record.args[0], Point):
            self.points.append(record.args[0].to_dict())


@contextlib.contextmanager
def metric_points() -> Iterator[list[dict]]:
    handler = _Metrics()
    logger = logging.getLogger(METRICS_LOGGER_NAME)
    logger.addHandler(handler)
    try:
        yield handler.points
    finally:
        logger.removeHandler(handler)


def per_realm(points: list[dict], metric: str, stream: str | None = None) -> dict[str, int]:
    found: dict[str, int] = collections.Counter()
    for point in points:
        if point["metric"] != metric or (stream and point["tags"]["stream"] != stream):
            continue
        found[point["tags"]["context"]["realm_id"]] += point["value"]
    return dict(found)


@pytest.mark.parametrize("parallel", [True, False])
def test_each_company_is_counted_under_its_own_realm(tmp_path, parallel) -> None:
    with emulator() as emu:
        config = tap_config(
            emu,
            tmp_path,
            page_size=25,
            parallel_realms=parallel,
            report_start_date="2025-10-01",  # three months of reports
        )
        with metric_points() as points:
            result = run_tap(config, streams=[*ENTITY_OF, "report_profit_and_loss"])
        requests_of = {r: s["requests"] for r, s in emu.stats()["realms"].items()}
    for stream in [*ENTITY_OF, "report_profit_and_loss"]:
        emitted = collections.Counter(r["realm_id"] for r in result.records[stream])
        assert per_realm(points, "record_count", stream) == dict(emitted)
        assert len(emitted) == len(emu.realm_ids)
    # Every request the tap sent for a company is counted under that company.
    assert per_realm(points, "http_request_count") == requests_of
    assert all(point["tags"].get("context") for point in points if point["type"] == "counter")
    # The stream's duration covers every company: it names none of them.
    timers = [p for p in points if p["metric"] == "sync_duration"]
    assert timers
    assert all("context" not in p["tags"] for p in timers)


def test_a_run_of_one_company_times_it_under_its_realm(tmp_path) -> None:
    with (
        EmulatorServer(seed=21, customers=10, items=4, invoices=20) as emu,
        metric_points() as points,
    ):
        run_tap(tap_config(emu, tmp_path), streams=["customers"])
    [timer] = [p for p in points if p["metric"] == "sync_duration"]
    assert timer["tags"]["context"] == {"realm_id": emu.realm_ids[0]}
    assert per_realm(points, "record_count") == {emu.realm_ids[0]: 10}


def test_counts_logged_along_the_way_name_each_company() -> None:
    realm = ["1"]
    counter = RealmRecordCounter("invoices", lambda: realm[0], log_interval=0)
    with metric_points() as points, counter:
        counter.with_context({"realm_id": "1"})
        counter.with_context({"realm_id": "2"})
        counter.with_context({"realm_id": "3"})
        counter.increment()
        realm[0] = "2"
        counter.increment(4)
    counts = [(p["tags"]["context"]["realm_id"], p["value"]) for p in points]
    # Each point as it came (interval 0), then company 3, which had none, once at the end.
    assert counts == [("1", 1), ("2", 4), ("3", 0)]


# -- one budget for the rows of every company --------------------------------------------------


def test_reading_ahead_leaves_the_reserve_and_the_current_stream_waits_for_rows_written() -> None:
    budget = ReadAhead(limit=30, reserve=10)
    assert budget.try_take(20, ahead=True)
    assert not budget.try_take(1, ahead=True)  # the reserve is the current stream's
    assert budget.try_take(10, ahead=False)
    taken: list[int] = []
    waiter = threading.Thread(target=lambda: taken.append(budget.take(5)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # no room: it waits for rows to be written
    budget.passed(5)  # outside a reader, rows passed on are written: given back at once
    waiter.join(10)
    assert taken == [5]
    assert budget.held == 30
    assert budget.peak == 30


def test_a_stopped_reader_stops_waiting_for_the_budget() -> None:
    budget = ReadAhead(limit=10, reserve=5)
    assert budget.try_take(10, ahead=False)
    out: queue.Queue = queue.Queue()
    reader = reading._Reader("1", iter(()), out, 10, budget)
    outcome: list[str] = []

    def wait_in_reader() -> None:
        reading._ON_READER.reader = reader
        try:
            budget.take(5)
            outcome.append("took")
        except reading._Stopped:
            outcome.append("stopped")

    thread = threading.Thread(target=wait_in_reader)
    thread.start()
    reader.stop.set()
    thread.join(10)
    assert outcome == ["stopped"]
    assert budget.held == 10


@contextlib.contextmanager
def run_budgets(monkeypatch) -> Iterator[list[ReadAhead]]:
    """The read-ahead budget of each parallel run started inside the block."""
    made: list[ReadAhead] = []
    original = reading.read_ahead_budget

    def record(settings):
        made.append(original(settings))
        return made[-1]

    monkeypatch.setattr(reading, "read_ahead_budget", record)
    yield made


SMALL_AND_LARGE = ["accounts", "classes", "terms", "payment_methods", *ENTITY_OF]
STREAM_ENTITY = {stream.name: stream.entity for stream in STREAM_TYPES}


def test_a_budget_of_two_pages_reads_everything_with_the_same_requests(tmp_path, monkeypatch):
    # Every company's rows in flight, buffered and read ahead share 2 pages (20 rows): the run
    # is complete, never held more, gave everything back, and cost no request more than a
    # run whose budget never binds.
    requests_of: dict[int, int] = {}
    outputs = {}
    with run_budgets(monkeypatch) as budgets:
        for pages in (1000, 2):
            with emulator() as emu:
                # (without window_days the plan reads the small streams in /batch, and they
                # wait for their turn compressed)
                config = tap_config(
                    emu, tmp_path / str(pages), page_size=10, window_days=None, end_date=None
                )
                config["max_buffered_pages"] = pages
                result = run_tap(config, streams=SMALL_AND_LARGE)
                requests_of[pages] = sum(s["requests"] for s in emu.stats()["realms"].values())
                truth = emu.truth()
            outputs[pages] = {s: result_rows(result, s) for s in SMALL_AND_LARGE}
            for stream in SMALL_AND_LARGE:
                assert result.keys(stream) == {
                    (realm, rid)
                    for realm, data in truth.items()
                    for rid in data[STREAM_ENTITY[stream]]
                }
    small, large = budgets[1], budgets[0]
    assert (small.limit, large.limit) == (20, 10_000)
    assert 10 <= small.peak <= 20
    assert large.peak > 20  # the same run holds more when it may
    assert small.held == large.held == 0
    # Every row emitted was counted against the budget (pages and the plan's small streams).
    emitted = sum(len(rows) for rows in outputs[2].values())
    assert small.taken == large.taken == emitted
    assert requests_of[2] == requests_of[1000]
    assert outputs[2] == outputs[1000]


def test_a_company_that_fails_gives_back_what_was_read_for_it(tmp_path, monkeypatch) -> None:
    with emulator() as emu, run_budgets(monkeypatch) as budgets:
        config = tap_config(
            emu, tmp_path, page_size=10, max_buffered_pages=2, window_days=None, end_date=None
        )
        broken = emu.realm_ids[2]
        revoke(emu, broken, config["refresh_token"].split(",")[2])
        result = run_tap(config, streams=SMALL_AND_LARGE, raise_errors=False)
        assert isinstance(result.error, RealmsFailedError)
        for stream in SMALL_AND_LARGE:
            assert {realm for realm, _ in result.keys(stream)} == set(emu.realm_ids) - {broken}
    [budget] = budgets
    assert budget.held == 0


def test_the_current_stream_never_waits_for_more_than_the_reserve() -> None:
    # 900 rows read by the plan (a CDC answer) while others read ahead the rest of a budget of
    # 30: waiting for all 900, or for the whole budget, would never end.
    budget = ReadAhead(limit=30, reserve=10)
    assert budget.try_take(20, ahead=True)
    assert budget.take(900) == 10
    assert budget.held == 30
