"""Companies in parallel within one run: interleaved, capped, each with its own state."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
import requests
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks.realms import RealmsFailedError, per_realm_requests
from tap_quickbooks.settings import load_settings
from tests.conftest import CLIENT_ID, CLIENT_SECRET, run_tap, tap_config, truth_keys

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
        # Without CDC: its one request per realm is sent beside the next stream's prefetched
        # pipeline, outside that pipeline's cap (also when one realm is read alone).
        config = tap_config(
            emu, tmp_path, page_size=10, max_total_requests=6, include_deletes=False
        )
        result = run_tap(config)
        for stream, entity in ENTITY_OF.items():
            assert result.keys(stream) == truth_keys(emu, entity)
            assert set(bookmarks(result.last_state, stream)) == set(emu.realm_ids)
        # Interleaved: the realms' pages alternate in the output instead of one block each.
        assert switches(result.records["customers"]) > 2 * len(emu.realm_ids)
        # Each realm had its share of the 6 requests, never more.
        in_flight = emu.stats()["max_in_flight"]
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
