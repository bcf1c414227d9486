"""Behaviours a one-line change could break unnoticed: a 400 fault is final, and window bounds.

- A 400 query fault is QuickBooks' answer, not a transient failure: one request, its fault text
  in the one-line error, a non-zero exit at once (never "gave up after retries").
- Rows exactly on a window boundary, and rows in the bookmark's own second, are neither lost nor
  emitted twice.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing as t

from qbo_emulator.testing import EmulatorServer

from tests.conftest import run_tap, tap_config

COMPANY = {"seed": 31, "customers": 5, "items": 5, "invoices": 150}


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _z(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_400_query_fault_is_one_request_and_a_one_line_error(tmp_path, no_sleep) -> None:
    with EmulatorServer(**COMPANY) as emu:
        emulator = emu.emulator
        served = emulator.api
        invoice_requests: list[str] = []

        async def misspelt(req: t.Any) -> t.Any:
            # A malformed statement: the emulator answers it with QuickBooks' 400 fault (a
            # fault item in a /batch answer, where the tap plans its first requests).
            text = req.param("query") or ""
            if "FROM Invoice" in text:
                invoice_requests.append(text)
                req.params["query"] = [text.replace("FROM Invoice", "FROM Invoce")]
            if req.path.endswith("/batch") and b"FROM Invoice" in req.body:
                invoice_requests.append(req.body.decode())
                req.body = req.body.replace(b"FROM Invoice", b"FROM Invoce")
            return await served(req)

        emulator.api = misspelt
        path = tmp_path / "config.json"
        # One window: its COUNT(*) is the one invoice request a run without retries makes.
        config = tap_config(emu, tmp_path, max_retries=5, window_days=3660)
        path.write_text(json.dumps(config))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "tap_quickbooks.cli", "--config", str(path)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            emulator.api = served
    assert proc.returncode != 0
    assert len(invoice_requests) == 1, invoice_requests
    errors = [line for line in proc.stderr.splitlines() if line.startswith("tap-quickbooks: ")]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert "QueryValidationError: invalid context declaration: Invoce" in errors[0]
    assert "HTTP 400" in errors[0] or "refused batch statement" in errors[0]
    assert "retr" not in errors[0]
    assert "retry" not in proc.stderr
    assert "Traceback" not in proc.stderr


def _invoices(result: t.Any) -> list[dict[str, t.Any]]:
    return [r for r in result.records.get("invoices", []) if not r["_sdc_deleted_at"]]


def test_a_row_exactly_on_a_window_boundary_is_read_once(tmp_path) -> None:
    with EmulatorServer(**COMPANY) as emu:
        everything = _invoices(run_tap(tap_config(emu, tmp_path), streams=["invoices"]))
        by_time = sorted(everything, key=lambda r: (r["last_updated_time"], r["id"]))
        on_edge = by_time[len(by_time) // 2]
        edge = _utc(on_edge["last_updated_time"])
        # One-day windows, one of which starts at exactly that row's LastUpdatedTime.
        start = edge - dt.timedelta(days=5)
        end = edge + dt.timedelta(days=5)
        config = tap_config(
            emu, tmp_path, start_date=_z(start), end_date=_z(end), window_days=1, page_size=2
        )
        result = run_tap(config, streams=["invoices"])
        got = _invoices(result)
        ids = [r["id"] for r in got]
        assert len(ids) == len(set(ids)), "a row read twice"
        expected = {r["id"] for r in everything if start <= _utc(r["last_updated_time"]) < end}
        assert set(ids) == expected
        row = next(r for r in got if r["id"] == on_edge["id"])
        assert _utc(row["extract_window_start_utc"]) == edge  # read by the window it opens
        # The same boundary as a run's exclusive end: not in that run, in the next one.
        first = run_tap({**config, "end_date": _z(edge)}, streams=["invoices"])
        assert on_edge["id"] not in {r["id"] for r in _invoices(first)}
        second = run_tap(config, state=first.last_state, streams=["invoices"])
        assert on_edge["id"] in {r["id"] for r in _invoices(second)}
        both = {r["id"] for r in _invoices(first)} | {r["id"] for r in _invoices(second)}
        assert both == expected


def test_rows_in_the_bookmarks_second_are_not_lost(tmp_path) -> None:
    with EmulatorServer(**COMPANY) as emu:
        realm = emu.realm_ids[0]
        config = tap_config(emu, tmp_path, end_date=None)
        first = run_tap(config, streams=["invoices"])
        newest = max(_invoices(first), key=lambda r: r["last_updated_time"])
        bookmark = _utc(newest["last_updated_time"])
        partitions = first.last_state["bookmarks"]["invoices"]["partitions"]
        assert _utc(partitions[0]["replication_key_value"]) == bookmark
        # Another invoice changes within the bookmark's own second (QuickBooks' clock set just
        # after it): LastUpdatedTime has whole seconds, so it ties with the bookmark. (A state
        # holding only the bookmark, as an interrupted run leaves it: with `checked_through`
        # the next run starts at that moment, before which QuickBooks' clock puts no change.)
        for partition in partitions:
            partition.pop("checked_through", None)
        now = emu.advance_clock()
        emu.advance_clock(seconds=bookmark.timestamp() + 0.1 - now)
        older = min(_invoices(first), key=lambda r: r["last_updated_time"])
        emu.mutate(realm, "Invoice", "update", older["id"])
        second = run_tap(config, state=first.last_state, streams=["invoices"])
        got = _invoices(second)
        ids = [r["id"] for r in got]
        assert older["id"] in ids, "a row in the bookmark's second was lost"
        assert len(ids) == len(set(ids))
        tied = next(r for r in got if r["id"] == older["id"])
        assert _utc(tied["last_updated_time"]) == bookmark
        # Only the bookmark's second is read again, nothing older.
        assert all(_utc(r["last_updated_time"]) >= bookmark for r in got)
