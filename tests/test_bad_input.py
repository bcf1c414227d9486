"""Bad input: every bad setting gets one line naming it, a non-zero exit, nothing written.

The table runs the tap directly (that is where settings are validated): each case must
exit non-zero with exactly one error line that names the setting, no traceback, no RECORD
and no STATE message, and (for everything but an unreachable URL) no request at all. Two
cases then go through `meltano run` after a good run: the error line reaches the user,
and the tables and the saved state stay as they were. Odd but valid values never change
the text of a query.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import typing as t
from concurrent.futures import ThreadPoolExecutor

import pytest
from _pipeline import (
    CLIENT_ID,
    CLIENT_SECRET,
    QUERY_RE,
    Pipeline,
    Probe,
    database,
    find_leaks,
    tap_executable,
)
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DROP = object()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket closes


CLOSED = _closed_port()
# (case id, setting named in the error, override: value or DROP)
CASES: list[tuple[str, str, dict[str, t.Any]]] = [
    ("start_date-missing", "start_date", {"start_date": DROP}),
    ("start_date-malformed", "start_date", {"start_date": "2022-13-45"}),
    ("start_date-words", "start_date", {"start_date": "last tuesday"}),
    ("dates-reversed", "end_date", {"start_date": "2024-01-01", "end_date": "2023-01-01"}),
    ("end_date-malformed", "end_date", {"end_date": "2024/01/01 noon"}),
    ("page_size-0", "page_size", {"page_size": 0}),
    ("page_size-5000", "page_size", {"page_size": 5000}),
    ("environment-unknown", "environment", {"environment": "staging"}),
    ("realm_id-quote", "realm_id", {"realm_id": "9341450000000001' OR Id > '0"}),
    ("realm_id-spaces", "realm_id", {"realm_id": "9341 4500 0000 0001"}),
    ("realm_id-not-numeric", "realm_id", {"realm_id": "my-company"}),
    ("client_secret-empty", "client_secret", {"client_secret": ""}),
    ("refresh_token-missing", "refresh_token", {"refresh_token": DROP}),
    ("api_url-malformed", "api_url", {"api_url": "quickbooks dot com"}),
    ("token_store_url-mysql", "token_store_url", {"token_store_url": "mysql://db/etl"}),
    (
        "token_store_url-unreachable",
        "token_store_url",
        {"token_store_url": f"postgresql://qbo:{CLIENT_SECRET}@127.0.0.1:{CLOSED}/etl"},
    ),
    ("window_days-0", "window_days", {"window_days": 0}),
    ("max_concurrent_requests-50", "max_concurrent_requests", {"max_concurrent_requests": 50}),
    (
        "auth_url-unreachable",
        "auth_url",
        {"auth_url": f"http://127.0.0.1:{CLOSED}/oauth2/v1/tokens/bearer"},
    ),
    ("api_url-unreachable", "api_url", {"api_url": f"http://127.0.0.1:{CLOSED}"}),
]
NEEDS_NETWORK = {"auth_url-unreachable", "api_url-unreachable"}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorServer]:
    with EmulatorServer(
        seed=21,
        customers=12,
        items=6,
        invoices=40,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    ) as server:
        yield server


def _config(emu: EmulatorServer, tmp: Path, overrides: dict[str, t.Any]) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": "qbo-emulator-refresh",
        "realm_id": emu.realm_ids[0],
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": "2022-01-01",
        "window_days": 365,
        "max_retries": 1,
        "max_window_failures": 1,
        "token_store_path": str(tmp / "tokens.json"),
    }
    for key, value in overrides.items():
        if value is DROP:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def _run_tap(config: dict[str, t.Any], tmp: Path, name: str) -> subprocess.CompletedProcess[str]:
    config_path = tmp / f"{name}.config.json"
    config_path.write_text(json.dumps(config))
    state_path = tmp / f"{name}.state.json"
    state_path.write_text(STATE_TEXT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_QUICKBOOKS")}
    env["TAP_QUICKBOOKS_MAX_SLEEP_SECONDS"] = "0"
    result = subprocess.run(
        [tap_executable(), "--config", str(config_path), "--state", str(state_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    assert state_path.read_text() == STATE_TEXT
    return result


STATE_TEXT = json.dumps(
    {
        "bookmarks": {
            "customers": {
                "partitions": [
                    {
                        "context": {"realm_id": "9341450000000001"},
                        "replication_key": "last_updated_time",
                        "replication_key_value": "2023-01-01T00:00:00+00:00",
                    }
                ]
            }
        }
    }
)


def test_every_bad_setting_gets_one_line_naming_it(emu: EmulatorServer, tmp_path: Path) -> None:
    probe = Probe(emu)

    def one(
        case: tuple[str, str, dict[str, t.Any]],
    ) -> tuple[str, str, subprocess.CompletedProcess[str]]:
        name, setting, overrides = case
        return name, setting, _run_tap(_config(emu, tmp_path, overrides), tmp_path, name)

    offline = [c for c in CASES if c[0] not in NEEDS_NETWORK]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, offline))
    assert probe.requests == 0, "a bad setting reached QuickBooks"
    assert not probe.issued, "a bad setting reached QuickBooks"
    with ThreadPoolExecutor(max_workers=2) as pool:
        results += list(pool.map(one, [c for c in CASES if c[0] in NEEDS_NETWORK]))

    problems: list[str] = []
    for name, setting, result in results:
        errors = [
            line for line in result.stderr.splitlines() if line.startswith("tap-quickbooks: error:")
        ]
        messages = [json.loads(line) for line in result.stdout.splitlines()]
        records = [m for m in messages if m.get("type") == "RECORD"]
        states = [m["value"] for m in messages if m.get("type") == "STATE"]
        if result.returncode == 0:
            problems.append(f"{name}: exit 0")
        if "Traceback" in result.stderr:
            problems.append(f"{name}: a traceback instead of one line")
        if len(errors) != 1 or setting not in errors[0]:
            problems.append(f"{name}: expected one error line naming {setting!r}, got {errors}")
        if records:
            problems.append(f"{name}: wrote {len(records)} records")
        if any(state != json.loads(STATE_TEXT) for state in states):
            problems.append(f"{name}: moved the state: {states}")
    assert not problems, "\n".join(problems)
    texts = [(name, r.stdout + r.stderr) for name, _s, r in results]
    assert not find_leaks(texts, [CLIENT_SECRET, *probe.issued])


def test_odd_but_valid_values_do_not_change_any_query(emu: EmulatorServer, tmp_path: Path) -> None:
    probe = Probe(emu)
    config = _config(
        emu,
        tmp_path,
        {
            "start_date": "2021-12-31T16:00:00-08:00",
            "end_date": "2026-01-01T00:00:00Z",
            "realm_id": f" {emu.realm_ids[0]} ",
            "user_agent": "x' OR Id > '0",
            "minor_version": "75",
            "page_size": 7,
            "refresh_token": emu.refresh_token(),
        },
    )
    result = _run_tap(config, tmp_path, "odd-but-valid")
    assert result.returncode == 0, result.stderr[-3000:]
    assert probe.queries, "no query was sent"
    bad = [q for q in probe.queries if not QUERY_RE.match(q)]
    assert not bad, bad[:3]
    # start_date 2021-12-31T16:00:00-08:00 is 2022-01-01 00:00 UTC (customers start at the
    # bookmark in the state file).
    # (Windows are counted ahead, so the earliest window is not always the first query.)
    invoice_starts = [q.split("'")[1] for q in probe.queries if "FROM Invoice" in q]
    assert min(invoice_starts) == "2022-01-01T00:00:00Z", sorted(set(invoice_starts))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with (
        EmulatorServer(
            seed=22,
            customers=12,
            items=6,
            invoices=40,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        ) as server,
        database("badinput") as dbname,
    ):
        yield Pipeline(server, dbname, tmp_path_factory.mktemp("badinput"))


@pytest.mark.parametrize(
    ("setting", "env"),
    [
        ("page_size", {"TAP_QUICKBOOKS_PAGE_SIZE": "5000"}),
        (
            "auth_url",
            {"TAP_QUICKBOOKS_AUTH_URL": f"http://127.0.0.1:{CLOSED}/oauth2/v1/tokens/bearer"},
        ),
    ],
)
def test_bad_setting_through_meltano_writes_nothing(
    pipe: Pipeline, setting: str, env: dict[str, str]
) -> None:
    if not pipe.state():
        good = pipe.run()
        assert good.rc == 0, good.tail()
        pipe.emu.mutate(
            pipe.realm, "Invoice", "update", pipe.emu.truth()[pipe.realm]["Invoice"].popitem()[0]
        )
    state, rows = pipe.state(), pipe.rows()
    failed = pipe.run(env=env)
    assert failed.rc != 0
    lines = [line for line in failed.output.splitlines() if "tap-quickbooks: error:" in line]
    assert len(lines) == 1, lines or failed.tail()
    assert setting in lines[0], lines
    assert pipe.state() == state
    assert pipe.rows() == rows
    pipe.assert_no_secrets()
