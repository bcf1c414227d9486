"""`tap-quickbooks authorize` against the emulator's consent screen and code grant."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import psycopg
import pytest
import requests
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks.auth import TokenStore, store_key
from tap_quickbooks.authorize import AuthorizeError, authorize
from tap_quickbooks.errors import AuthError
from tests.conftest import CLIENT_ID, CLIENT_SECRET, run_tap, tap_config

if TYPE_CHECKING:
    from pathlib import Path

CLI = [sys.executable, "-c", "from tap_quickbooks.cli import main; main()"]


def browser(url: str) -> None:
    """The user consents: the browser follows the redirect to the callback."""
    requests.get(url, timeout=10)


def connect(emu: EmulatorServer, store, **kw) -> str:
    return authorize(
        client_id=kw.pop("client_id", CLIENT_ID),
        client_secret=kw.pop("client_secret", CLIENT_SECRET),
        token_url=emu.token_url,
        store=store,
        authorize_url=f"{emu.base_url}/connect/oauth2",
        port=0,
        timeout=kw.pop("timeout", 30),
        open_url=kw.pop("open_url", browser),
        announce=lambda text: None,
    )


def test_authorize_connects_a_company_the_tap_then_reads(tmp_path: Path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10, realms=2) as emu:
        second = emu.realm_ids[1]
        emu.configure(consent_realm=second)
        store = TokenStore(tmp_path / "tokens.json")
        assert connect(emu, store) == second
        assert store.companies(CLIENT_ID) == [second]
        stored = store.load()["entries"][store_key(CLIENT_ID, second)]
        assert stored["refresh_token"] == emu.refresh_token(second)
        # No refresh_token setting: the tap uses the stored one.
        config = tap_config(emu, tmp_path, realm_id=second, refresh_token=None)
        result = run_tap(config, streams=["items"])
        assert {r["realm_id"] for r in result.records["items"]} == {second}


def test_declined_consent_stores_nothing(tmp_path: Path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10, consent="deny") as emu:
        store = TokenStore(tmp_path / "tokens.json")
        with pytest.raises(AuthorizeError, match=r"access_denied.*declined.*nothing stored"):
            connect(emu, store)
        assert not store.path.exists()


def test_a_callback_with_another_state_is_refused(tmp_path: Path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:

        def forged(url: str) -> None:
            redirect = re.search(r"redirect_uri=([^&]+)", url)
            assert redirect
            callback = requests.utils.unquote(redirect.group(1))
            answer = requests.get(f"{callback}?code=AB11x&realmId=123&state=guess", timeout=10)
            assert answer.status_code == 200  # the page; the flow itself refuses

        store = TokenStore(tmp_path / "tokens.json")
        with pytest.raises(AuthorizeError, match="state does not match"):
            connect(emu, store, open_url=forged)
        assert not store.path.exists()
        assert emu.stats()["token_refreshes"] == 0


def test_no_answer_and_bad_credentials_are_one_line_errors(tmp_path: Path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:
        store = TokenStore(tmp_path / "tokens.json")
        with pytest.raises(AuthorizeError, match="no answer from the consent screen"):
            connect(emu, store, open_url=lambda url: None, timeout=0.2)
        # The consent screen only knows the emulator's client: use it for consent, then
        # exchange with a wrong secret.
        with pytest.raises(AuthError, match="invalid_client"):
            connect(emu, store, client_secret="wrong")
        assert not store.path.exists()


def test_the_command_stores_in_postgres_and_prints_the_realm(pg_dsn: str, tmp_path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:
        env = {
            **os.environ,
            "TAP_QUICKBOOKS_CLIENT_ID": CLIENT_ID,
            "TAP_QUICKBOOKS_CLIENT_SECRET": CLIENT_SECRET,
            "TAP_QUICKBOOKS_AUTH_URL": emu.token_url,
            "TAP_QUICKBOOKS_TOKEN_STORE_URL": pg_dsn,
        }
        command = [
            *CLI,
            "authorize",
            "--no-browser",
            "--port=0",
            f"--authorize-url={emu.base_url}/connect/oauth2",
        ]
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            if line.startswith("http"):
                url = line.strip()
                break
        assert url.startswith(emu.base_url)
        browser(url)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == emu.realm_ids[0]
        assert "Connected company" in err
        with psycopg.connect(pg_dsn) as conn:
            token = conn.execute(
                "SELECT refresh_token FROM tap_quickbooks.tokens WHERE realm_id = %s",
                (emu.realm_ids[0],),
            ).fetchone()
            events = conn.execute("SELECT event FROM tap_quickbooks.token_rotations").fetchall()
        assert token == (emu.refresh_token(),)
        assert ("authorized",) in events


def test_the_command_without_credentials_is_a_setting_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_QUICKBOOKS_")}
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"client_id": "x"}))
    proc = subprocess.run(
        [*CLI, "authorize", "--config", str(config), "--no-browser"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "tap-quickbooks authorize: error: setting 'client_secret': is required"
    )
