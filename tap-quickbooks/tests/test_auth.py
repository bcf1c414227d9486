"""OAuth against the emulator: rotation across runs, the token store, one-line failures."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading

import pytest
import requests
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks.auth import RealmAuthenticator, TokenStore
from tap_quickbooks.errors import AuthError, WindowFailedError
from tests.conftest import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH, run_tap, tap_config


@pytest.fixture
def emu():
    with EmulatorServer(seed=21, customers=8, items=4, invoices=30) as server:
        yield server


def test_strict_rotation_across_two_separate_runs(emu, tmp_path):
    realm = emu.realm_ids[0]
    config = tap_config(emu, tmp_path)  # Meltano regenerates this same config every run
    first = run_tap(config)
    rotated = emu.refresh_token(realm)
    assert rotated != FIRST_REFRESH  # the configured token is now dead (strict rotation)
    store = tmp_path / "tokens.json"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert rotated in store.read_text()

    second = run_tap(config)  # same config: the store's latest token must be used
    assert second.keys("invoices") == first.keys("invoices")
    stats = emu.stats()
    assert stats["token_refreshes"] == 2
    assert not stats["token_errors"]
    for run in (first, second):
        for secret in (CLIENT_SECRET, FIRST_REFRESH, rotated, emu.refresh_token(realm)):
            assert secret not in run.stdout


def test_reauthorized_config_token_wins_over_the_store(emu, tmp_path):
    realm = emu.realm_ids[0]
    run_tap(tap_config(emu, tmp_path))
    # Simulate a re-authorization: a token the store never saw as its seed.
    fresh = emu.refresh_token(realm)
    store = TokenStore(tmp_path / "tokens.json")
    with store.locked() as data:  # make the stored token stale so only the config works
        for entry in data["entries"].values():
            entry["refresh_token"] = "stale-token"
        store.save(data)
    result = run_tap(tap_config(emu, tmp_path, refresh_token=fresh), streams=["items"])
    assert result.records["items"]


def test_stale_refresh_token_is_one_clear_line(emu, tmp_path):
    run_tap(tap_config(emu, tmp_path / "a"))  # rotates the initial token away
    result = run_tap(tap_config(emu, tmp_path / "b"), raise_errors=False)
    error = result.error
    assert isinstance(error, AuthError)
    message = str(error)
    assert "invalid_grant" in message
    assert "TAP_QUICKBOOKS_REFRESH_TOKEN" in message
    assert "\n" not in message
    assert FIRST_REFRESH not in message


def test_cli_reports_invalid_grant_in_one_line(emu, tmp_path):
    run_tap(tap_config(emu, tmp_path / "a"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tap_config(emu, tmp_path / "b")))
    proc = subprocess.run(
        [sys.executable, "-m", "tap_quickbooks.cli", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [
        line for line in proc.stderr.splitlines() if line.startswith("tap-quickbooks: error:")
    ]
    assert len(errors) == 1
    assert "re-authorize" in errors[0]
    assert not [line for line in proc.stdout.splitlines() if '"RECORD"' in line]
    for secret in (CLIENT_SECRET, FIRST_REFRESH, emu.refresh_token()):
        assert secret not in proc.stderr + proc.stdout


def test_two_runs_refreshing_at_once_share_the_rotated_token(emu, tmp_path):
    realm = emu.realm_ids[0]
    path = tmp_path / "tokens.json"
    errors: list[BaseException] = []

    def refresh() -> None:
        auth = RealmAuthenticator(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            realm_id=realm,
            refresh_token=FIRST_REFRESH,
            auth_url=emu.token_url,
            store=TokenStore(path),
            session=requests.Session(),
            timeout=30,
            max_retries=0,
            user_agent="test",
        )
        try:
            for _ in range(3):
                auth.refresh_after_401(auth.generation)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert emu.stats()["token_refreshes"] == 12
    assert TokenStore(path).load()["entries"]
    assert emu.refresh_token(realm) in path.read_text()


def test_unreachable_token_endpoint_names_auth_url(emu, tmp_path, no_sleep):
    config = tap_config(
        emu, tmp_path, auth_url="http://127.0.0.1:9/oauth2/v1/tokens/bearer", max_retries=2
    )
    result = run_tap(config, raise_errors=False)
    # The token request is retried, then the window, then the run stops (circuit breaker).
    assert isinstance(result.error, WindowFailedError)
    assert "could not reach the token endpoint (auth_url http://127.0.0.1:9" in str(result.error)
    assert len(no_sleep) == 3 * 2 + 2
    assert not result.records


def test_bad_client_secret_names_the_settings(emu, tmp_path):
    result = run_tap(tap_config(emu, tmp_path, client_secret="wrong"), raise_errors=False)
    assert isinstance(result.error, AuthError)
    assert "client_secret" in str(result.error)
    assert "wrong" not in str(result.error)
