"""Fixtures: the emulator on loopback, tap configs, in-process runs, no real sleeping."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import typing as t
from dataclasses import dataclass, field

import pytest

from tap_quickbooks import limits
from tap_quickbooks.client import close_connections
from tap_quickbooks.tap import TapQuickBooks

if t.TYPE_CHECKING:
    from qbo_emulator.testing import EmulatorServer

CLIENT_ID = "qbo-emulator-client"
CLIENT_SECRET = "qbo-emulator-secret"
FIRST_REFRESH = "qbo-emulator-refresh"


# The emulator's client secret, its initial refresh tokens, and the shapes of the refresh and
# access tokens it issues (`RT1-<realm>-H0-...`, a JWE header): none may ever reach a log line.
SECRET = re.compile(
    r"qbo-emulator-secret|qbo-emulator-refresh|RT1-\w{3}-H0-\d|"
    r"eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0\.\."
)


class _EveryLogLine(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


@pytest.fixture(autouse=True)
def no_secret_in_log_output():
    """Every test: no log line of the tap (or anything it runs), down to DEBUG, holds a secret."""
    handler = _EveryLogLine()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.setLevel(level)
        root.removeHandler(handler)
    leaked = [line for line in handler.lines if SECRET.search(line)]
    assert not leaked, f"a secret in the log output: {leaked[0][:300]}"


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    """Every wait of the tap goes through limits.sleep: record instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr(limits, "sleep", slept.append)
    return slept


def initial_refresh_tokens(emu: EmulatorServer) -> str:
    tokens = [
        FIRST_REFRESH if i == 0 else f"{FIRST_REFRESH}-{realm}"
        for i, realm in enumerate(emu.realm_ids)
    ]
    return ",".join(tokens)


def tap_config(emu: EmulatorServer, tmp_path, **overrides: t.Any) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": initial_refresh_tokens(emu),
        "realm_id": ",".join(emu.realm_ids),
        "api_url": emu.base_url,
        "auth_url": emu.token_url,
        "start_date": "2022-01-01T00:00:00Z",
        "end_date": "2026-01-01T00:00:00Z",
        "window_days": 365,
        "token_store_path": str(tmp_path / "tokens.json"),
        "max_retries": 4,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@dataclass
class RunResult:
    messages: list[dict[str, t.Any]]
    error: BaseException | None = None
    stdout: str = ""
    records: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        states = self.states
        return states[-1] if states else None

    def keys(self, stream: str) -> set[tuple[str, str]]:
        return {(r["realm_id"], r["id"]) for r in self.records.get(stream, [])}


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    *,
    streams: t.Iterable[str] | None = None,
    raise_errors: bool = True,
) -> RunResult:
    """Run a sync in-process, capturing the Singer messages written to stdout."""
    buffer = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(buffer):
        tap = TapQuickBooks(config=config, state=state)
        if streams is not None:
            wanted = set(streams)
            for name, stream in tap.streams.items():
                stream.selected = name in wanted
        try:
            tap.sync_all()
        except Exception as exc:
            if raise_errors:
                raise
            error = exc
        finally:
            close_connections(tap)
    out = buffer.getvalue()
    messages = [json.loads(line) for line in out.splitlines() if line.strip()]
    records: dict[str, list[dict[str, t.Any]]] = {}
    for message in messages:
        if message["type"] == "RECORD":
            records.setdefault(message["stream"], []).append(message["record"])
    return RunResult(messages=messages, error=error, stdout=out, records=records)


def truth_keys(emu: EmulatorServer, entity: str) -> set[tuple[str, str]]:
    truth = emu.truth()
    return {(realm, rid) for realm, data in truth.items() for rid in data[entity]}


@pytest.fixture(scope="session")
def pg_dsn() -> t.Iterator[str]:
    """A throw-away database on the server named by QBO_TEST_PG_DSN (the Postgres token store)."""
    import os
    import uuid

    import psycopg
    from psycopg import conninfo, sql

    admin = os.environ.get("QBO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"qbo_tap_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        user = params.get("user", "postgres")
        if params.get("password"):
            user = f"{user}:{params['password']}"
        host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
        yield f"postgresql://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
