"""The token store in Postgres: row lock across hosts, rotation log, privileges."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import requests
from qbo_emulator.testing import EmulatorServer

from tap_quickbooks.auth import RealmAuthenticator, open_store, sha256_hex
from tap_quickbooks.errors import AuthError, SettingError
from tap_quickbooks.pg_store import PostgresTokenStore, redact
from tap_quickbooks.settings import load_settings
from tests.conftest import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH, run_tap, tap_config

RUNNER = Path(__file__).with_name("token_runner.py")


@pytest.fixture
def store_url(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS tap_quickbooks CASCADE")
    return pg_dsn


def authenticator(emu: EmulatorServer, store, refresh_token: str = FIRST_REFRESH, **kw):
    return RealmAuthenticator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        realm_id=emu.realm_ids[0],
        refresh_token=refresh_token,
        auth_url=emu.token_url,
        store=store,
        session=requests.Session(),
        timeout=10,
        max_retries=0,
        user_agent="test",
        **kw,
    )


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_refresh_rotates_and_logs_no_token_values(store_url: str) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:
        store = open_store(Path("unused.json"), store_url)
        realm = emu.realm_ids[0]
        authenticator(emu, store).token()
        authenticator(emu, store).token()  # a second run: the stored (rotated) token
        current = emu.refresh_token()
        assert current != FIRST_REFRESH
        [(app, stored, issued, expires, used)] = rows(
            store_url,
            "SELECT app, refresh_token, issued_at, expires_at, last_used_at "
            "FROM tap_quickbooks.tokens",
        )
        assert app == sha256_hex(CLIENT_ID)
        assert stored == current
        assert issued <= used
        assert (expires - issued).days == 101
        log = rows(store_url, "SELECT * FROM tap_quickbooks.token_rotations ORDER BY id")
        assert [r[4] for r in log] == ["rotated", "rotated"]
        assert {r[3] for r in log} == {realm}
        text = json.dumps(log, default=str)
        assert current not in text
        assert FIRST_REFRESH not in text
        assert store.companies(CLIENT_ID) == [realm]
        assert store.companies("another-app") == []


def test_invalid_grant_is_logged_and_the_row_kept(store_url: str) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:
        store = PostgresTokenStore(store_url)
        authenticator(emu, store).token()
        emu.configure(rotation="every")
        # Someone else spent the token (e.g. a copy of it in another tool).
        requests.post(
            emu.token_url,
            auth=(CLIENT_ID, CLIENT_SECRET),
            data={"grant_type": "refresh_token", "refresh_token": emu.refresh_token()},
            timeout=10,
        )
        with pytest.raises(AuthError, match=r"invalid_grant.*tap-quickbooks authorize"):
            authenticator(emu, store).token()
        events = [r[0] for r in rows(store_url, "SELECT event FROM tap_quickbooks.token_rotations")]
        assert events == ["rotated", "refused"]
        assert len(rows(store_url, "SELECT 1 FROM tap_quickbooks.tokens")) == 1


def run_runners(emu: EmulatorServer, tmp_path: Path, store_url: str | None) -> list[dict]:
    procs = []
    for name in ("host-a", "host-b"):
        workdir = tmp_path / name
        workdir.mkdir()
        config = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "realm_id": emu.realm_ids[0],
            "refresh_token": FIRST_REFRESH,
            "auth_url": emu.token_url,
            "api_url": emu.base_url,
            "token_store_url": store_url,
            "runs": 25,
            "seed": len(procs),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(RUNNER), json.dumps(config)],
                cwd=workdir,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    return [json.loads(out) for out in outputs]


def test_two_hosts_share_one_rotating_token(store_url: str, tmp_path: Path) -> None:
    """50 interleaved runs from two processes in two directories: every refresh succeeds."""
    with EmulatorServer(customers=5, items=5, invoices=10, rotation="every") as emu:
        results = run_runners(emu, tmp_path, store_url)
        assert results == [{"ok": 25, "invalid_grant": 0, "errors": []}] * 2
        assert emu.stats()["token_errors"] == {}
        log = rows(store_url, "SELECT pid, event FROM tap_quickbooks.token_rotations ORDER BY id")
        assert [e for _, e in log] == ["rotated"] * 50
        switches = sum(1 for a, b in itertools.pairwise(log) if a[0] != b[0])
        assert switches >= 5, "the two runners did not interleave"
        assert not (tmp_path / "host-a" / "tokens.json").exists()


def test_file_stores_on_two_hosts_do_not_share_the_token(tmp_path: Path) -> None:
    """The control: the same two runners, each with its own file store, lose tokens."""
    with EmulatorServer(customers=5, items=5, invoices=10, rotation="every") as emu:
        results = run_runners(emu, tmp_path, None)
        assert sum(r["invalid_grant"] for r in results) > 0


def test_a_tap_run_uses_the_postgres_store(store_url: str, tmp_path: Path) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10, realms=2) as emu:
        config = tap_config(emu, tmp_path, token_store_url=store_url)
        result = run_tap(config, streams=["items"])
        assert len(result.records["items"]) == 10
        assert not Path(config["token_store_path"]).exists()
        stored = dict(rows(store_url, "SELECT realm_id, refresh_token FROM tap_quickbooks.tokens"))
        assert stored == {r: emu.refresh_token(r) for r in emu.realm_ids}
        # The next run needs no configured token at all.
        config.pop("refresh_token")
        assert len(run_tap(config, streams=["items"]).records["items"]) == 10


def test_only_roles_granted_the_documented_privileges_read_it(store_url: str) -> None:
    with EmulatorServer(customers=5, items=5, invoices=10) as emu:
        authenticator(emu, PostgresTokenStore(store_url)).token()
        pipeline, other = (f"qbo_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("etl", "other"))
        with psycopg.connect(store_url, autocommit=True) as conn:
            for role in (pipeline, other):
                conn.execute(f"CREATE ROLE {role} NOLOGIN")
            # The grants the tap's README lists for the pipeline's role.
            conn.execute(f"GRANT USAGE ON SCHEMA tap_quickbooks TO {pipeline}")
            conn.execute(f"GRANT SELECT, INSERT, UPDATE ON tap_quickbooks.tokens TO {pipeline}")
            conn.execute(f"GRANT INSERT ON tap_quickbooks.token_rotations TO {pipeline}")
            conn.execute(
                f"GRANT USAGE ON SEQUENCE tap_quickbooks.token_rotations_id_seq TO {pipeline}"
            )
            try:
                conn.execute(f"GRANT USAGE ON SCHEMA tap_quickbooks TO {other}")
                conn.execute(f"SET ROLE {other}")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("SELECT refresh_token FROM tap_quickbooks.tokens")
                conn.execute("RESET ROLE")
                # The pipeline's role can refresh (row lock, update, log).
                conn.execute(f"ALTER ROLE {pipeline} LOGIN")
                url = store_url.replace("://postgres@", f"://{pipeline}@")
                authenticator(emu, PostgresTokenStore(url)).token()
            finally:
                conn.execute("RESET ROLE")
                conn.execute("DROP OWNED BY " + pipeline + ", " + other)
                conn.execute(f"DROP ROLE {pipeline}")
                conn.execute(f"DROP ROLE {other}")


def test_bad_urls_and_unreachable_databases_are_one_line_errors() -> None:
    base = {
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "r",
        "realm_id": "123",
        "start_date": "2022-01-01",
    }
    with pytest.raises(SettingError, match=r"token_store_url.*postgresql://"):
        load_settings({**base, "token_store_url": "mysql://x/y"})
    store = PostgresTokenStore("postgresql://qbo:hunter2@127.0.0.1:1/etl")
    assert "hunter2" not in store.describe()
    assert redact(store.url).count("***") == 1
    with pytest.raises(Exception, match="cannot connect") as caught:
        store.companies("c")
    assert "hunter2" not in str(caught.value)
    assert "\n" not in str(caught.value)
