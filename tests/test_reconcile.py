"""`qbo-warehouse reconcile` after `meltano run`: passes on a clean load, names a broken window."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import psycopg
from conftest import BIN, ENTITY_STREAMS


def reconcile(project: Any, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run the documented command: the tap's settings from `meltano config`, piped in.

    `meltano --environment=demo config --unsafe print tap-quickbooks --format=json |
    qbo-warehouse reconcile --tap-config -`, the target's TARGET_POSTGRES_SQLALCHEMY_URL from
    the environment (`env` adds to it, e.g. a `TAP_QUICKBOOKS_*` override).
    """
    config = project.meltano(
        "--environment=demo", "config", "--unsafe", "print", "tap-quickbooks", "--format=json"
    )
    proc = subprocess.run(
        [str(BIN / "qbo-warehouse"), "reconcile", "--tap-config", "-", *args],
        input=config.stdout,
        env={**project.env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, proc.stdout + proc.stderr


def test_reconcile_passes_on_a_clean_load_and_names_the_window_of_a_lost_row(
    emulator: Any, make_project: Any
) -> None:
    project = make_project(emulator)
    project.run()

    # Every stream, one window each (a COUNT per stream and window: 120-day windows would
    # spend most of a minute's request budget).
    code, out = reconcile(project, env={"TAP_QUICKBOOKS_WINDOW_DAYS": "3000"})
    assert code == 0, out
    assert "reconcile: everything matches" in out
    for stream in ENTITY_STREAMS:
        assert f"OK       9341450000000001 {stream.name}: " in out, stream.name
    assert "qbo-emulator-secret" not in out
    assert "refresh" not in out.lower()

    with psycopg.connect(project.dsn) as conn:
        lost = conn.execute(
            "DELETE FROM raw.qb_invoices WHERE id = (SELECT min(id) FROM raw.qb_invoices)"
            " RETURNING id, last_updated_time"
        ).fetchone()
    assert lost is not None
    lost_id, updated = lost

    code, out = reconcile(project, "--stream", "invoices", "--stream", "customers")
    assert code == 1
    line = next(line for line in out.splitlines() if "MISMATCH: missing 1 row(s)" in line)
    start, end = re.search(r"\[(\S+), (\S+)\)", line).groups()  # type: ignore[union-attr]
    assert "invoices" in line
    assert start <= updated.isoformat() + "+00:00" < end  # the window that holds the lost row
    assert f"missing in Postgres 1: {lost_id}" in out
    assert "MISMATCH 9341450000000001 invoices" in out
    assert "OK       9341450000000001 customers" in out
