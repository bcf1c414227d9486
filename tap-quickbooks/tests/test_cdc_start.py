"""CDC is never asked for more than it covers, and a CDC fault never fails the run.

QuickBooks documents CDC as covering the last 30 days. Some companies answer an older
`changedSince` silently (`cdc_horizon_days`: older changes are simply missing), others with a
400 fault (`cdc_reject_older_days`). Both are run here for a resumed first backfill (its state
holds a bookmark but no `deletes_checked_at`) and for a pipeline paused for five weeks.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import typing as t

import pytest
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks.client import RealmConnection
from tap_quickbooks.errors import AuthError
from tap_quickbooks.streams import CDC_SKEW_MARGIN, CDC_WINDOW, DELETES_CHECKED_AT, cdc_since
from tests.conftest import run_tap, tap_config

COMPANY = {"seed": 21, "customers": 5, "items": 5, "invoices": 80}
MODES = {"strict": {"cdc_reject_older_days": 30}, "silent": {"cdc_horizon_days": 30}}
RECONCILE_HINT = "reconcile --mark-deleted"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run(config: dict[str, t.Any], state: dict[str, t.Any] | None) -> tuple[t.Any, list[str]]:
    collect = _Collect()
    stream_logger = logging.getLogger("tap-quickbooks.invoices")
    stream_logger.addHandler(collect)
    try:
        result = run_tap(config, state=state, streams=["invoices"])
    finally:
        stream_logger.removeHandler(collect)
    return result, collect.messages


def _partition(state: dict[str, t.Any]) -> dict[str, t.Any]:
    partition: dict[str, t.Any] = state["bookmarks"]["invoices"]["partitions"][0]
    return partition


def _tombstones(result: t.Any) -> list[dict[str, t.Any]]:
    return [r for r in result.records.get("invoices", []) if r["_sdc_deleted_at"]]


def test_cdc_since_never_older_than_cdc_covers() -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, 0, 500, tzinfo=dt.UTC)
    oldest = dt.datetime(2026, 11, 6, 13, 0, 0, tzinfo=dt.UTC)
    assert now - CDC_WINDOW + CDC_SKEW_MARGIN == oldest.replace(microsecond=500)
    assert cdc_since(dt.datetime(2019, 1, 1, tzinfo=dt.UTC), now) == oldest
    assert cdc_since(oldest - dt.timedelta(seconds=1), now) == oldest
    recent = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert cdc_since(recent, now) == recent


@pytest.mark.parametrize("mode", sorted(MODES))
def test_resumed_first_backfill_reads_deletes_from_30_days_back(tmp_path, mode: str) -> None:
    with EmulatorServer(**COMPANY, **MODES[mode]) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path)
        first = run_tap(config, streams=["invoices"])
        # The state of a first backfill killed before its CDC step: a bookmark (the newest
        # change seen, long ago) and no deletes_checked_at.
        killed = copy.deepcopy(first.last_state)
        del _partition(killed)[DELETES_CHECKED_AT]
        bookmark = dt.datetime.fromisoformat(_partition(killed)["replication_key_value"])
        assert dt.datetime.now(dt.UTC) - bookmark > CDC_WINDOW
        victim = sorted(r["id"] for r in first.records["invoices"])[2]
        emu.mutate(realm, "Invoice", "delete", victim)
        emu.reset_stats()

        resumed, warnings = _run(config, killed)

        assert resumed.error is None
        assert [r["id"] for r in _tombstones(resumed)] == [victim]
        assert emu.stats()["by_endpoint"].get("cdc") == 1
        asked = dt.datetime.fromisoformat(_tombstones(resumed)[0]["extract_window_start_utc"])
        assert dt.datetime.now(dt.UTC) - asked < CDC_WINDOW
        assert DELETES_CHECKED_AT in _partition(resumed.last_state)
        gap = [m for m in warnings if RECONCILE_HINT in m]
        assert len(gap) == 1, warnings
        assert bookmark.isoformat() in gap[0]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_pipeline_paused_five_weeks_reads_the_deletes_cdc_still_has(tmp_path, mode: str) -> None:
    with EmulatorServer(**COMPANY, **MODES[mode]) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path)
        first = run_tap(config, streams=["invoices"])
        paused = copy.deepcopy(first.last_state)
        five_weeks_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=35)).replace(microsecond=0)
        _partition(paused)[DELETES_CHECKED_AT] = five_weeks_ago.isoformat()
        victim = sorted(r["id"] for r in first.records["invoices"])[4]
        emu.mutate(realm, "Invoice", "delete", victim)

        second, warnings = _run(config, paused)

        assert second.error is None
        assert [r["id"] for r in _tombstones(second)] == [victim]
        checked = dt.datetime.fromisoformat(_partition(second.last_state)[DELETES_CHECKED_AT])
        assert dt.datetime.now(dt.UTC) - checked < dt.timedelta(minutes=5)
        assert len([m for m in warnings if RECONCILE_HINT in m]) == 1, warnings

        # The next run starts where this one checked (less a minute's margin): no warning.
        third, warnings = _run(config, second.last_state)
        assert third.error is None
        assert not [m for m in warnings if RECONCILE_HINT in m]


def test_a_cdc_fault_skips_the_deletes_and_the_run_succeeds(tmp_path) -> None:
    # QuickBooks' clock 40 days ahead of the tap's: the clamped start is still too old for it.
    with EmulatorServer(**COMPANY, cdc_reject_older_days=30) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path)
        first = run_tap(config, streams=["invoices"])
        checked_before = _partition(first.last_state)[DELETES_CHECKED_AT]
        emu.advance_clock(days=40)
        emu.mutate(
            realm, "Invoice", "delete", sorted(r["id"] for r in first.records["invoices"])[1]
        )
        emu.reset_stats()

        second, warnings = _run(config, first.last_state)

        assert second.error is None
        assert emu.stats()["by_endpoint"].get("cdc") == 1  # a 400 is not retried
        assert _tombstones(second) == []
        skipped = [m for m in warnings if "not checked this run" in m]
        assert len(skipped) == 1, warnings
        assert "older than fixed days is not supported" in skipped[0]
        # The state is saved, and deletes stay unchecked from where they were.
        assert second.last_state is not None
        assert _partition(second.last_state)[DELETES_CHECKED_AT] == checked_before


def test_an_auth_fault_in_cdc_still_stops_the_run(tmp_path, monkeypatch) -> None:
    def refused(*_args: t.Any, **_kwargs: t.Any) -> t.NoReturn:
        msg = "QuickBooks denied access to realm 1 (HTTP 403)"
        raise AuthError(msg)

    with EmulatorServer(**COMPANY) as emu:
        config = tap_config(emu, tmp_path)
        # A first run reads no deletes (nothing it emitted can be deleted yet); the next asks.
        first = run_tap(config, streams=["invoices"])
        monkeypatch.setattr(RealmConnection, "cdc", refused)
        result = run_tap(config, state=first.last_state, streams=["invoices"], raise_errors=False)
        assert isinstance(result.error, AuthError)
