"""`make demo` from a clean clone: a new .venv, `meltano install`, the embedded Postgres, twice."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import TABLES

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
# table, kind, rows, distinct keys, deleted, inactive (name lists; else -), windows, ...
ROW = re.compile(
    r"^(raw\.qb_\w+)\s+(?:name list|transaction|singleton|report)"
    r"\s+(\d+)\s+(\d+)\s+(\d+)\s+(?:\d+|-)\s",
    re.MULTILINE,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def counts(output: str) -> dict[str, tuple[int, int, int]]:
    """{table: (rows, distinct keys, deleted)} from the summary table `make demo` prints."""
    return {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in ROW.finditer(output)}


def make_demo(clone: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        ["make", "demo"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, "\n".join(output.splitlines()[-80:])
    return proc.stdout


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A private folder outside pytest's own temp root.

    As root, the embedded Postgres runs as another user and opens the folders above its data to
    others; a pytest session starting meanwhile resets its temp root to 0700 and would lock
    that user out, so the clone lives elsewhere.
    """
    path = Path(tempfile.mkdtemp(prefix="qbo-make-demo-"))
    try:
        yield path
    finally:
        # A demo that failed half-way may leave its embedded Postgres running.
        for pidfile in path.glob("clone/.meltano/demo/pgdata/postmaster.pid"):
            with contextlib.suppress(ValueError, IndexError, ProcessLookupError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGINT)
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_make_demo_from_a_clean_clone(workdir: Path) -> None:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.fail("git and make are needed to check `make demo`")
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    skip = ("TAP_QUICKBOOKS_", "TARGET_POSTGRES_", "MELTANO_", "PG_", "VIRTUAL_ENV", "DBT_")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(skip)
        and k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}  # no variables of an outer `make test`
    }
    env["QBO_DEMO_EMULATOR_PORT"] = str(free_port())  # never collide with a demo already running

    first = make_demo(clone, env)
    assert (clone / ".venv" / "bin" / "meltano").exists()
    assert (clone / ".meltano" / "demo" / "pgdata" / "PG_VERSION").exists()  # the embedded server
    assert "OK: every live QuickBooks object is loaded once" in first
    # every month since 2025-01 x (6 reports x 2 bases + 2 aging reports), each checked
    assert re.search(
        r"reports: [1-9]\d* periods compared with the emulator, all totals match", first
    )
    # The models: the P&L of the last three months, and a trial balance of zero in every month.
    assert "profit and loss (accrual), last three months" in first
    assert first.rstrip().endswith("trial balance: 0.00 in every month")
    tables = counts(first)
    assert set(tables) >= {f"raw.{table}" for table in TABLES.values()}  # every entity stream
    for rows, keys, _deleted in tables.values():
        assert rows == keys > 0

    second = make_demo(clone, env)
    assert counts(second) == tables
    assert "OK: every live QuickBooks object is loaded once" in second
