"""Pipeline tests: `meltano run tap-quickbooks target-postgres` against the emulator and Postgres.

Each test gets its own Meltano project directory (a copy of `meltano.yml` whose plugin
virtualenvs are the ones `meltano install` made at the repository root), so its system database,
state and token store are its own, and its own Postgres database, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import conninfo, sql
from psycopg.rows import dict_row
from qbo_warehouse.streams import STREAMS as TAP_STREAMS

ENTITY_STREAMS = tuple(s for s in TAP_STREAMS if s.is_entity)

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MELTANO = BIN / "meltano"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
STATE_ID = "demo:tap-quickbooks-to-target-postgres"
# Every stream of QuickBooks objects, from the tap's stream list (tests/test_drift.py).
TABLES = {s.entity: s.table for s in ENTITY_STREAMS}
STREAMS = {s.entity: s.name for s in ENTITY_STREAMS}
PLUGIN_EXECUTABLES = (
    ".meltano/extractors/tap-quickbooks/venv/bin/tap-quickbooks",
    ".meltano/loaders/target-postgres/venv/bin/target-postgres",
    ".meltano/utilities/dbt-postgres/venv/bin/dbt",
)
RUN_TIMEOUT_S = 600
# Small company: every test stays fast on two shared cores.
COMPANY: dict[str, Any] = {"seed": 3, "customers": 40, "items": 15, "invoices": 300, "realms": 1}


def admin_dsn() -> str:
    """The server the tests use (a throw-away database is created on it per test)."""
    return os.environ.get("QBO_TEST_PG_DSN", DEFAULT_DSN)


def sqlalchemy_url(dsn: str) -> str:
    """The target's URL for a libpq DSN (psycopg 3 driver, which COPY needs)."""
    params = conninfo.conninfo_to_dict(dsn)
    user = params.get("user", "postgres")
    password = f":{params['password']}" if params.get("password") else ""
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    return f"postgresql+psycopg://{user}{password}@{host}:{port}/{params['dbname']}"


@pytest.fixture(scope="session")
def installed_plugins() -> Path:
    """The repository root's `.meltano/`, with both plugins installed (installing if needed)."""
    if not all((ROOT / exe).exists() for exe in PLUGIN_EXECUTABLES):
        subprocess.run(
            [str(MELTANO), "install"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        )
    return ROOT / ".meltano"


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database for one test; yields its libpq DSN."""
    admin = admin_dsn()
    name = f"qbo_pipeline_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo.conninfo_to_dict(admin)
    params["dbname"] = name
    try:
        yield conninfo.make_conninfo("", **params)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class Project:
    """A throw-away Meltano project wired to one emulator and one database."""

    root: Path
    dsn: str
    env: dict[str, str] = field(default_factory=dict)

    def meltano(self, *args: str, check: bool = True, timeout: float = RUN_TIMEOUT_S) -> Any:
        """Run meltano in the project; returns the CompletedProcess (text output captured)."""
        proc = subprocess.run(
            [str(MELTANO), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
            pytest.fail(f"meltano {' '.join(args)} exited {proc.returncode}:\n{tail}")
        return proc

    def run(self, *extra: str, check: bool = True, env: dict[str, str] | None = None) -> Any:
        """`meltano --environment=demo run tap-quickbooks target-postgres`."""
        saved = self.env
        self.env = {**saved, **(env or {})}
        try:
            return self.meltano(
                "--environment=demo",
                "run",
                *extra,
                "tap-quickbooks",
                "target-postgres",
                check=check,
            )
        finally:
            self.env = saved

    def start_run(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start a run in its own process group (so the whole pipeline can be killed)."""
        return subprocess.Popen(
            [str(MELTANO), "--environment=demo", "run", "tap-quickbooks", "target-postgres"],
            cwd=self.root,
            env={**self.env, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL meltano, the tap and the target at once."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def state(self) -> dict[str, Any]:
        """The saved state of the demo job (empty dict when none)."""
        proc = self.meltano("--environment=demo", "state", "get", STATE_ID, check=False)
        text = proc.stdout.strip()
        if proc.returncode != 0 or not text:
            return {}
        data: dict[str, Any] = json.loads(text)
        return data


@pytest.fixture
def make_project(tmp_path: Path, installed_plugins: Path, database: str) -> Any:
    """Factory: `make_project(emu, **settings)` -> Project pointed at that emulator."""

    def make(emu: Any, *, dotenv: dict[str, str] | None = None, **settings: str) -> Project:
        root = tmp_path / "project"
        root.mkdir()
        shutil.copy(ROOT / "meltano.yml", root / "meltano.yml")
        for package in ("tap-quickbooks", "target-postgres-fast", "transform"):
            if (ROOT / package).is_dir():
                (root / package).symlink_to(ROOT / package)
        (root / ".meltano").mkdir()
        for kind in ("extractors", "loaders", "utilities"):
            if (installed_plugins / kind).is_dir():
                (root / ".meltano" / kind).symlink_to(installed_plugins / kind)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TAP_QUICKBOOKS_", "TARGET_POSTGRES_", "MELTANO_", "QBO_", "DBT_"))
        }
        env.update(
            {
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "TAP_QUICKBOOKS_API_URL": emu.base_url,
                "TAP_QUICKBOOKS_AUTH_URL": emu.token_url,
                "TARGET_POSTGRES_SQLALCHEMY_URL": sqlalchemy_url(database),
                # Many windows and pages out of a small company.
                "TAP_QUICKBOOKS_WINDOW_DAYS": "120",
                "TAP_QUICKBOOKS_PAGE_SIZE": "50",
            }
        )
        env.update({f"TAP_QUICKBOOKS_{k.upper()}": v for k, v in settings.items()})
        if dotenv is not None:
            lines = [f"{key}={value}" for key, value in dotenv.items()]
            (root / ".env").write_text("\n".join(lines) + "\n")
        return Project(root=root, dsn=database, env=env)

    return make


@pytest.fixture
def emulator() -> Iterator[Any]:
    """The emulated company of COMPANY's size, in this process, on a free loopback port."""
    from qbo_emulator.testing import EmulatorServer

    with EmulatorServer(**COMPANY) as emu:
        yield emu


# ---------------------------------------------------------------------------------- checks
def rows(dsn: str, table: str) -> list[dict[str, Any]]:
    """Every row of raw.<table> as dicts."""
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier("raw", table)))
        return list(cur.fetchall())


def count_and_keys(dsn: str, table: str) -> tuple[int, int]:
    """(rows, distinct (realm_id, id)) of raw.<table>."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            sql.SQL("SELECT count(*), count(DISTINCT (realm_id, id)) FROM {}").format(
                sql.Identifier("raw", table)
            )
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def mismatches(dsn: str, truth: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per table, what differs from the emulator's truth (an empty dict per table when equal).

    Live objects must each be loaded once with the current SyncToken; rows marked deleted must be
    objects deleted upstream.
    """
    out: dict[str, dict[str, Any]] = {}
    for entity, table in TABLES.items():
        live = {(realm, i): tok for realm, c in truth.items() for i, tok in c[entity].items()}
        gone = {(realm, i) for realm, c in truth.items() for i in c["deleted"].get(entity, [])}
        loaded = rows(dsn, table)
        keys = [(r["realm_id"], r["id"]) for r in loaded]
        current = {
            (r["realm_id"], r["id"]): r["sync_token"]
            for r in loaded
            if r["_sdc_deleted_at"] is None
        }
        tombstones = {(r["realm_id"], r["id"]) for r in loaded if r["_sdc_deleted_at"] is not None}
        problems = {
            "duplicates": len(keys) - len(set(keys)),
            "missing": sorted(live.keys() - current.keys()),
            "extra": sorted(current.keys() - live.keys()),
            "stale": sorted(k for k in live.keys() & current.keys() if current[k] != live[k]),
            "bad_tombstones": sorted(tombstones - gone),
        }
        out[table] = {k: v for k, v in problems.items() if v}
    return out


def bookmarks(state: dict[str, Any]) -> dict[str, list[str]]:
    """Replication key values per stream found anywhere in a Meltano state blob."""
    found: dict[str, list[str]] = {}
    streams = state.get("singer_state", {}).get("bookmarks", {})
    for stream, blob in streams.items():
        values: list[str] = []

        def walk(node: Any, values: list[str] = values) -> None:
            if isinstance(node, dict):
                value = node.get("replication_key_value")
                if isinstance(value, str):
                    values.append(value)
                for child in node.values():
                    walk(child)
            elif isinstance(node, list):
                for child in node:
                    walk(child)

        walk(blob)
        found[stream] = values
    return found
