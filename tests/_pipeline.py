"""Shared machinery of the failure tests (crash, faults, churn, bad input, secrets).

- `Probe` wraps an in-process emulator: it counts API requests, records every query text
  and every token the token endpoint issues, can hold one request (the pipeline is then
  killed or Postgres restarted while it waits) and runs hooks at chosen requests.
- `Pipeline` runs `meltano run tap-quickbooks target-postgres` in its own process group (so
  SIGKILL takes meltano, the tap and the target at once), from a private copy of the project
  (sharing the installed plugins), against a throw-away Postgres database.
- The checks: Postgres equals the emulator's truth, no key twice, state never ahead of what
  was loaded, every query well-formed, and no secret anywhere in what was captured.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from qbo_warehouse.streams import STREAMS as TAP_STREAMS

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from qbo_emulator.testing import EmulatorServer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

# Distinctive credentials: the emulator is started with them, and every captured text is
# searched for them (and for every token the emulator issued) at the end of each run.
CLIENT_ID = "nothing-lost-client"
CLIENT_SECRET = "nlCS-7d41f0c9b2e6-client-secret-a58e3"

# Every stream of QuickBooks objects, from the tap's stream list (tests/test_drift.py).
STREAMS = {s.name: s.entity for s in TAP_STREAMS if s.is_entity}
TABLES = {s.name: s.table for s in TAP_STREAMS if s.is_entity}
# Streams that keep a bookmark (a singleton is read whole every run: it has none).
BOOKMARKED = {s.name for s in TAP_STREAMS if s.is_entity and s.kind != "singleton"}
STATE_ID = "dev:tap-quickbooks-to-target-postgres"
START_DATE = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
WINDOW_DAYS = 180
JWE_HEAD = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."
_TOKEN_HEAD = re.compile(r"^RT1-\d+-H0-\d{10}")

_TS = r"'\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z'"
QUERY_RE = re.compile(
    r"^SELECT (?:\*|COUNT\(\*\)) FROM (?:" + "|".join(STREAMS.values()) + ") "
    rf"WHERE MetaData\.LastUpdatedTime >= {_TS} AND MetaData\.LastUpdatedTime < {_TS}"
    r"(?: AND Active IN \(true, false\))?"
    r"(?: ORDERBY MetaData\.LastUpdatedTime STARTPOSITION [1-9]\d* MAXRESULTS [1-9]\d*)?$"
)
# A singleton is read whole (one object per company).
SINGLETON_RE = re.compile(
    r"^SELECT \* FROM (?:" + "|".join(s.entity for s in TAP_STREAMS if s.kind == "singleton") + ")$"
)


# -- Postgres ---------------------------------------------------------------------------------


def pg_dsn() -> str:
    """The server the tests use (`QBO_TEST_PG_DSN`)."""
    return os.environ.get("QBO_TEST_PG_DSN") or DEFAULT_DSN


def dsn_for(dbname: str, dsn: str | None = None) -> str:
    """`dsn` with its database replaced by `dbname`."""
    parts = urlsplit(dsn or pg_dsn())
    return urlunsplit((parts.scheme, parts.netloc, f"/{dbname}", parts.query, ""))


def sqlalchemy_url(dbname: str, dsn: str | None = None) -> str:
    """The target's `sqlalchemy_url` for `dbname` (psycopg 3 driver, which COPY needs)."""
    parts = urlsplit(dsn_for(dbname, dsn))
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, ""))


@contextlib.contextmanager
def database(label: str, dsn: str | None = None) -> Iterator[str]:
    """A throw-away database on the test server, dropped at exit."""
    name = f"qbo_{label}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn or pg_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(dsn or pg_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- executables ------------------------------------------------------------------------------


def meltano_executable() -> str:
    """`meltano` of the Python running the tests (the project's .venv), else from PATH."""
    beside = Path(sys.executable).parent / "meltano"
    if beside.exists():
        return str(beside)
    import shutil

    found = shutil.which("meltano")
    if not found:
        msg = "meltano is not installed: run `make install` first"
        raise RuntimeError(msg)
    return found


def tap_executable() -> str:
    """The tap as Meltano runs it (`.meltano/` plugin venv), else the one beside Python."""
    for candidate in (
        ROOT / ".meltano/extractors/tap-quickbooks/venv/bin/tap-quickbooks",
        Path(sys.executable).parent / "tap-quickbooks",
    ):
        if candidate.exists():
            return str(candidate)
    msg = "tap-quickbooks is not installed: run `make install` first"
    raise RuntimeError(msg)


def require_plugins() -> None:
    """Fail early with the fix when `meltano install` has not run."""
    for kind, name in (("extractors", "tap-quickbooks"), ("loaders", "target-postgres")):
        if not (ROOT / ".meltano" / kind / name / "venv").is_dir():
            msg = f"the Meltano plugin {name} is not installed: run `make install` first"
            raise RuntimeError(msg)


def private_project(root: Path) -> Path:
    """A copy of the Meltano project that shares only the installed plugin venvs.

    Meltano keeps per-plugin files at fixed paths in `.meltano/run/` (the catalog, the
    tap's input state), so runs from one project directory at once would trample each
    other's; each test pipeline therefore gets its own directory (and no `.env`).
    """
    root.mkdir(parents=True)
    (root / "meltano.yml").write_bytes((ROOT / "meltano.yml").read_bytes())
    for package in ("tap-quickbooks", "target-postgres-fast"):
        if (ROOT / package).is_dir():
            (root / package).symlink_to(ROOT / package)
    (root / ".meltano").mkdir(mode=0o700)
    for kind in ("extractors", "loaders"):
        (root / ".meltano" / kind).symlink_to(ROOT / ".meltano" / kind)
    return root


_CATALOG_LOCK = threading.Lock()
_CATALOG: dict[str, Path] = {}


def catalog_file(workdir: Path) -> Path:
    """The tap's discovered catalog, made once per test process.

    Handing it to Meltano (`TAP_QUICKBOOKS__CATALOG`) spares a discovery per run;
    Meltano still applies the project's `select` rules to it.
    """
    with _CATALOG_LOCK:
        if "path" not in _CATALOG:
            config = workdir / "discover-config.json"
            config.write_text(
                json.dumps(
                    {
                        "client_id": "discover",
                        "client_secret": "discover",
                        "refresh_token": "discover",
                        "realm_id": "1",
                        "start_date": "2022-01-01",
                    }
                )
            )
            out = subprocess.run(
                [tap_executable(), "--config", str(config), "--discover"],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            path = workdir / "catalog.json"
            path.write_text(out.stdout)
            _CATALOG["path"] = path
        return _CATALOG["path"]


# -- the emulator probe -------------------------------------------------------------------------


class Probe:
    """Counts, records, holds and hooks the requests of an in-process emulator."""

    def __init__(self, emu: EmulatorServer) -> None:
        """Wrap `emu`'s API and token handlers (they run on the emulator's event loop)."""
        self.emu = emu
        self.requests = 0
        self.queries: list[str] = []
        self.batched: list[str] = []  # statements sent in /batch requests
        self.paths: list[str] = []
        self.seen: list[str] = []  # every query and path since the start (kept by `reset`)
        self.issued: list[str] = []
        self.hooks: list[Callable[[int, str], None]] = []
        self.reached = threading.Event()
        self._released = threading.Event()
        self._hold: Callable[[int, str], bool] | None = None
        emulator = emu.emulator
        self._api = emulator.api
        self._token = emulator.token_endpoint
        emulator.api = self._wrapped_api  # type: ignore[method-assign]
        emulator.token_endpoint = self._wrapped_token  # type: ignore[method-assign]

    async def _wrapped_api(self, req: t.Any) -> t.Any:
        self.requests += 1
        number = self.requests
        text = req.param("query") or ""
        self.paths.append(req.path)
        self.seen.append(req.path)
        if text:
            self.queries.append(text)
            self.seen.append(text)
        if req.path.endswith("/batch"):
            # The statements of a /batch request (the hooks see only the query parameter).
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                items = json.loads(req.body or b"{}").get("BatchItemRequest") or []
                for item in items:
                    if isinstance(item, dict) and isinstance(item.get("Query"), str):
                        self.batched.append(item["Query"])
                        self.seen.append(item["Query"])
        for hook in list(self.hooks):
            hook(number, text)
        hold = self._hold
        if hold is not None and not self.reached.is_set() and hold(number, text):
            self.reached.set()
            while not self._released.is_set():
                await asyncio.sleep(0.02)
        return await self._api(req)

    def _wrapped_token(self, req: t.Any) -> t.Any:
        response = self._token(req)
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(response.body)
            for key in ("access_token", "refresh_token"):
                if isinstance(body.get(key), str):
                    self.issued.append(body[key])
        return response

    def hold(self, predicate: Callable[[int, str], bool]) -> None:
        """Hold (do not answer) the first API request for which `predicate(n, query)` holds."""
        self.reached.clear()
        self._released.clear()
        self._hold = predicate

    def release(self) -> None:
        """Let a held request go on, and hold nothing more."""
        self._hold = None
        self._released.set()

    def reset(self) -> None:
        """Forget counts, queries and hooks (issued tokens are kept: they stay secret)."""
        self.release()
        self.requests = 0
        self.queries.clear()
        self.batched.clear()
        self.paths.clear()
        self.hooks.clear()

    def secrets(self) -> list[str]:
        """Everything that must never leak: the client secret and every issued token."""
        current = self.emu.refresh_token()
        return sorted({CLIENT_SECRET, current, *self.issued})


def seed_refresh_token(emu: EmulatorServer) -> str:
    """Trade the emulator's public initial refresh token for a distinctive rotated one."""
    response = requests.post(
        emu.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "qbo-emulator-refresh"},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["refresh_token"])


def window_start(index: int) -> str:
    """The query literal of the start of window `index` (0-based) of the test plan."""
    moment = START_DATE + dt.timedelta(days=WINDOW_DAYS * index)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def page_query_at(entity: str, page: int) -> Callable[[int, str], bool]:
    """Predicate: the `page`-th page of `entity` read by a query (mid-stream, whatever windows).

    Pages read in the planning /batch request do not count: only `/query` requests.
    """
    prefix = f"SELECT * FROM {entity} WHERE "
    seen = [0]

    def at(_n: int, text: str) -> bool:
        if not text.startswith(prefix):
            return False
        seen[0] += 1
        return seen[0] == page

    return at


def count_query_at(entity: str, index: int) -> Callable[[int, str], bool]:
    """Predicate: the first COUNT(*) of window `index` of `entity` (i.e. between windows)."""
    prefix = (
        f"SELECT COUNT(*) FROM {entity} WHERE MetaData.LastUpdatedTime >= '{window_start(index)}'"
    )
    return lambda _n, text: text.startswith(prefix)


# -- meltano runs -----------------------------------------------------------------------------


@dataclass
class Result:
    """One finished (or killed) `meltano run`."""

    rc: int
    output: str
    args: list[str]

    def tail(self, lines: int = 40) -> str:
        """The last lines of the output, for assertion messages."""
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class Running:
    """A `meltano run` in progress, in its own process group."""

    process: subprocess.Popen[bytes]
    log: Path
    args: list[str]
    pipeline: Pipeline

    def kill(self) -> Result:
        """SIGKILL meltano, the tap and the target at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        return self._result(-signal.SIGKILL)

    def wait(self, timeout: float = 300) -> Result:
        """Wait for the run to end."""
        try:
            rc = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self._result(rc)

    def _result(self, rc: int) -> Result:
        output = self.log.read_text(encoding="utf-8", errors="replace")
        result = Result(rc, output, self.args)
        self.pipeline.captured.append((f"output of meltano {' '.join(self.args)}", output))
        return result


@dataclass
class Pipeline:
    """The Meltano project run against one emulator and one throw-away database."""

    emu: EmulatorServer
    dbname: str
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    dsn: str | None = None
    probe: Probe = field(init=False)
    refresh_token: str = field(init=False)
    captured: list[tuple[str, str]] = field(default_factory=list)
    _runs: int = 0

    def __post_init__(self) -> None:
        """Make a private project, wrap the emulator, get a distinctive refresh token."""
        require_plugins()
        self.project = private_project(self.workdir / "project")
        self.probe = Probe(self.emu)
        self.refresh_token = seed_refresh_token(self.emu)
        self.token_store = self.workdir / "tokens" / "tap-quickbooks.json"

    @property
    def realm(self) -> str:
        """The (single) realm of the emulated company."""
        return self.emu.realm_ids[0]

    def env(self, **overrides: str | None) -> dict[str, str]:
        """The environment of `meltano run`: everything the test decides, nothing inherited."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TAP_QUICKBOOKS", "TARGET_POSTGRES", "MELTANO_", "QBO_"))
        }
        env.update(
            {
                "MELTANO_PROJECT_ROOT": str(self.project),
                "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "QBO_START_DATE": START_DATE.date().isoformat(),
                "TAP_QUICKBOOKS__CATALOG": str(catalog_file(self.workdir)),
                "TAP_QUICKBOOKS_CLIENT_ID": CLIENT_ID,
                "TAP_QUICKBOOKS_CLIENT_SECRET": CLIENT_SECRET,
                "TAP_QUICKBOOKS_REFRESH_TOKEN": self.refresh_token,
                "TAP_QUICKBOOKS_REALM_ID": self.realm,
                "TAP_QUICKBOOKS_API_URL": self.emu.base_url,
                "TAP_QUICKBOOKS_AUTH_URL": self.emu.token_url,
                "TAP_QUICKBOOKS_START_DATE": START_DATE.date().isoformat(),
                "TAP_QUICKBOOKS_TOKEN_STORE_PATH": str(self.token_store),
                "TAP_QUICKBOOKS_WINDOW_DAYS": str(WINDOW_DAYS),
                "TAP_QUICKBOOKS_PAGE_SIZE": "20",
                "TAP_QUICKBOOKS_MAX_RETRIES": "6",
                "TAP_QUICKBOOKS_REQUEST_TIMEOUT": "10",
                # Never wait for real back-off (429 asks for 60 s): see tap_quickbooks.limits.
                "TAP_QUICKBOOKS_MAX_SLEEP_SECONDS": "0",
                "TARGET_POSTGRES_SQLALCHEMY_URL": sqlalchemy_url(self.dbname, self.dsn),
                # Small batches: the target writes while the tap is still paging.
                "TARGET_POSTGRES_BATCH_SIZE_ROWS": "40",
            }
        )
        env.update(self.settings)
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(
        self,
        *,
        suffix: str | None = None,
        force: bool = False,
        env: Mapping[str, str | None] | None = None,
    ) -> Running:
        """Start `meltano run tap-quickbooks target-postgres` in a new process group."""
        args = ["--environment=dev", "run"]
        if force:
            args.append("--force")
        if suffix:
            args += ["--state-id-suffix", suffix]
        args += ["tap-quickbooks", "target-postgres"]
        # The tap keeps itself under 500 requests/min, but only within one run. Runs in these
        # tests follow each other within seconds (a schedule puts minutes between them) and
        # waits are capped at 0 s, so each run starts with a fresh window.
        self.emu.reset_limits()
        self._runs += 1
        log = self.workdir / f"run-{self._runs:03d}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [meltano_executable(), *args],
                cwd=self.project,
                env=self.env(**(env or {})),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Running(process, log, args, self)

    def run(
        self,
        *,
        suffix: str | None = None,
        force: bool = False,
        timeout: float = 300,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        """Run the pipeline to its end."""
        return self.start(suffix=suffix, force=force, env=env).wait(timeout)

    def meltano(self, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
        """Any other meltano command in the project (e.g. `state get`)."""
        cmd = [meltano_executable(), "--environment=dev", *args]
        out = subprocess.run(
            cmd,
            cwd=self.project,
            env=self.env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        output = out.stdout + out.stderr
        self.captured.append((f"output of meltano {' '.join(args)}", output))
        return Result(out.returncode, output, list(args))

    # -- state ----------------------------------------------------------------------------

    def state_id(self, suffix: str | None = None) -> str:
        """The state id of a run with this suffix."""
        return f"{STATE_ID}:{suffix}" if suffix else STATE_ID

    def state(self, suffix: str | None = None) -> dict[str, t.Any]:
        """The saved state (as `meltano state get` prints it), read from the system db."""
        path = self.workdir / "meltano.db"
        if not path.exists():
            return {}
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                row = conn.execute(
                    "SELECT partial_state, completed_state FROM state WHERE state_id = ?",
                    (self.state_id(suffix),),
                ).fetchone()
            except sqlite3.OperationalError:  # no table yet
                return {}
        if row is None:
            return {}
        partial, completed = (json.loads(v) if v else {} for v in row)
        merged = _merge(partial or {}, completed or {})
        self.captured.append((f"state {self.state_id(suffix)}", json.dumps(merged)))
        return merged

    def all_state_text(self) -> str:
        """Every row of the system db's state table, as text (for the secrets check)."""
        path = self.workdir / "meltano.db"
        if not path.exists():
            return ""
        with contextlib.closing(sqlite3.connect(path)) as conn:
            try:
                rows = conn.execute("SELECT * FROM state").fetchall()
            except sqlite3.OperationalError:
                return ""
        return json.dumps(rows, default=str)

    # -- Postgres -------------------------------------------------------------------------

    def connect(self) -> psycopg.Connection[t.Any]:
        """A connection to the test database."""
        return psycopg.connect(dsn_for(self.dbname, self.dsn), autocommit=True)

    def existing_tables(self) -> list[str]:
        """The stream tables that exist in schema raw."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
            ).fetchall()
        return sorted(r[0] for r in rows if r[0] in TABLES.values())

    def truncate(self) -> None:
        """Empty the stream tables (kept, so their shape and locks stay usable)."""
        tables = self.existing_tables()
        if tables:
            with self.connect() as conn:
                conn.execute("TRUNCATE " + ", ".join(f"raw.{name}" for name in tables))

    def rows(self) -> dict[str, dict[tuple[str, str], Row]]:
        """Every loaded row, per stream, by key."""
        out: dict[str, dict[tuple[str, str], Row]] = {s: {} for s in TABLES}
        existing = set(self.existing_tables())
        with self.connect() as conn:
            for stream, table in TABLES.items():
                if table not in existing:
                    continue
                for realm, key, sync, lut, deleted in conn.execute(
                    f"SELECT realm_id, id, sync_token, last_updated_time, _sdc_deleted_at "
                    f"FROM raw.{table}"
                ):
                    out[stream][(realm, key)] = Row(sync, lut, deleted)
        return out

    def duplicates(self) -> dict[str, int]:
        """Rows beyond the first per key, per table (must be all zero)."""
        out: dict[str, int] = {}
        with self.connect() as conn:
            for table in self.existing_tables():
                total, distinct = conn.execute(
                    f"SELECT count(*), count(DISTINCT (realm_id, id)) FROM raw.{table}"
                ).fetchone() or (0, 0)
                out[table] = total - distinct
        return out

    def table_text(self) -> str:
        """Every row of every stream table as JSON text (for the secrets check)."""
        parts: list[str] = []
        with self.connect() as conn:
            for table in self.existing_tables():
                parts.extend(
                    str(r[0])
                    for r in conn.execute(f"SELECT row_to_json(t)::text FROM raw.{table} t")
                )
        return "\n".join(parts)

    def request_payloads(self) -> list[dict[str, t.Any]]:
        """Every stored `request_payload`."""
        out: list[dict[str, t.Any]] = []
        with self.connect() as conn:
            for table in self.existing_tables():
                out.extend(
                    r[0]
                    for r in conn.execute(f"SELECT request_payload FROM raw.{table}")
                    if r[0] is not None
                )
        return out

    # -- checks ---------------------------------------------------------------------------

    def assert_matches_truth(self, context: str = "") -> dict[str, dict[tuple[str, str], Row]]:
        """Postgres holds exactly the emulator's live rows (SyncTokens equal) and no dup."""
        truth = self.emu.truth()
        rows = self.rows()
        problems: list[str] = []
        for stream, entity in STREAMS.items():
            for realm, company in truth.items():
                expected = company[entity]
                live = {
                    key: row.sync
                    for (r, key), row in rows[stream].items()
                    if r == realm and row.deleted is None
                }
                missing = sorted(set(expected) - set(live), key=int)
                extra = sorted(set(live) - set(expected), key=int)
                stale = sorted(
                    (k for k in set(expected) & set(live) if expected[k] != live[k]), key=int
                )
                for label, ids in (("missing", missing), ("extra", extra), ("stale", stale)):
                    if ids:
                        problems.append(f"{stream} realm {realm}: {len(ids)} {label} {ids[:8]}")
        dups = {k: v for k, v in self.duplicates().items() if v}
        if dups:
            problems.append(f"duplicate keys: {dups}")
        assert not problems, f"{context}: Postgres differs from QuickBooks: " + "; ".join(problems)
        return rows

    def assert_state_not_ahead(
        self,
        state: dict[str, t.Any],
        loaded: dict[str, dict[tuple[str, str], Row]],
        final: dict[str, dict[tuple[str, str], Row]],
        context: str = "",
    ) -> None:
        """Each bookmark is covered by loaded data: nothing below it is missing.

        `loaded` is what Postgres held when `state` was read; `final` is the complete
        load (it gives every row's LastUpdatedTime). A bookmark B may move only when every
        row with LastUpdatedTime < B is loaded, and B is never beyond the newest row loaded.
        """
        for (stream, realm), mark in bookmarks(state).items():
            mark_naive = mark.astimezone(dt.UTC).replace(tzinfo=None)
            live = [
                row.lut
                for (r, _), row in loaded[stream].items()
                if r == realm and row.deleted is None
            ]
            assert live, f"{context}: state has a {stream} bookmark {mark} but no row is loaded"
            assert mark_naive <= max(live), (
                f"{context}: {stream} bookmark {mark} is ahead of the newest loaded row {max(live)}"
            )
            gap = sorted(
                key
                for (r, key), row in final[stream].items()
                if r == realm
                and row.deleted is None
                and row.lut < mark_naive
                and (r, key) not in loaded[stream]
            )
            assert not gap, (
                f"{context}: {stream} bookmark {mark} is ahead of loaded data: "
                f"{len(gap)} rows below it were not loaded ({gap[:8]})"
            )

    def assert_queries_well_formed(self) -> None:
        """Every query the tap sent has the fixed shape (no setting changed its meaning)."""
        seen = self.probe.seen
        paths = [p for p in seen if p.startswith("/")]
        bad = [
            q
            for q in seen
            if not q.startswith("/") and not QUERY_RE.match(q) and not SINGLETON_RE.match(q)
        ]
        assert not bad, f"unexpected query text: {bad[:3]}"
        realms = {p.split("/")[3] for p in paths if p.startswith("/v3/company/")}
        assert realms <= {self.realm}, realms
        endpoints = {p.split("/")[4] for p in paths if p.startswith("/v3/company/")}
        assert endpoints <= {"query", "cdc", "batch"}, endpoints

    def assert_no_secrets(self) -> None:
        """No secret in anything captured, the state, the tables or `request_payload`."""
        texts = [
            *self.captured,
            ("the state table of the system db", self.all_state_text()),
            ("the stream tables", self.table_text()),
        ]
        leaks = find_leaks(texts, self.probe.secrets())
        assert not leaks, f"secrets leaked: {leaks[:5]}"
        for payload in self.request_payloads():
            assert set(payload) <= {
                "endpoint",
                "query",
                "minorversion",
                "start_position",
                "max_results",
                "entities",
                "changedSince",
            }, payload
        if self.token_store.exists():
            assert self.token_store.stat().st_mode & 0o777 == 0o600


@dataclass(frozen=True)
class Row:
    """A loaded row: SyncToken, LastUpdatedTime (naive UTC) and deletion time."""

    sync: str | None
    lut: dt.datetime
    deleted: dt.datetime | None


def bookmarks(state: dict[str, t.Any]) -> dict[tuple[str, str], dt.datetime]:
    """`{(stream, realm): bookmark}` from a Meltano state (`{"singer_state": ...}`)."""
    out: dict[tuple[str, str], dt.datetime] = {}
    singer = state.get("singer_state") or {}
    for stream, entry in (singer.get("bookmarks") or {}).items():
        for part in entry.get("partitions") or []:
            value = part.get("replication_key_value")
            realm = (part.get("context") or {}).get("realm_id")
            if value and realm:
                out[(stream, realm)] = dt.datetime.fromisoformat(str(value))
    return out


def _merge(src: dict[str, t.Any], dest: dict[str, t.Any]) -> dict[str, t.Any]:
    """Deep-merge `src` onto a copy of `dest` (Meltano's partial-over-completed rule)."""
    out = dict(dest)
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(value, out[key])
        else:
            out[key] = value
    return out


def fragments(secret: str) -> set[str]:
    """The secret and pieces of its random part that a truncated copy would still show.

    The random part is what follows the emulator's fixed JWE header (access tokens) or
    `RT1-<realm>-H0-<epoch>` (refresh tokens); pieces of 10 characters from its start,
    middle and end catch a token cut at either end without matching anything by chance.
    """
    unique = _TOKEN_HEAD.sub("", secret.removeprefix(JWE_HEAD))
    pieces = {secret}
    if len(unique) >= 20:
        middle = len(unique) // 2 - 5
        pieces |= {unique[:10], unique[middle : middle + 10], unique[-10:]}
    return pieces


def find_leaks(texts: list[tuple[str, str]], secrets: list[str]) -> list[tuple[str, str]]:
    """(where, fragment) for every fragment of a secret found in a text."""
    leaks: list[tuple[str, str]] = []
    pieces = sorted({p for s in secrets for p in fragments(s)})
    for where, text in texts:
        for piece in pieces:
            if piece and piece in text:
                leaks.append((where, piece[:6] + "..."))
    return leaks


def wait_for(predicate: Callable[[], bool], timeout: float = 120, what: str = "") -> None:
    """Poll `predicate` until it holds (the pipeline runs in other processes)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            msg = f"timed out waiting for {what}"
            raise TimeoutError(msg)
        time.sleep(0.05)
