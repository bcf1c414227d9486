"""scripts/ensure-postgres: a throw-away cluster when nothing answers, removed afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "ensure-postgres"
PROBE = (
    "import os, psycopg; dsn = os.environ['QBO_TEST_PG_DSN']; "
    "c = psycopg.connect(dsn); print(dsn); "
    "print(c.execute('show data_directory').fetchone()[0]); c.close()"
)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(dsn: str, *command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QBO_TEST_PG_DSN": dsn}
    return subprocess.run(
        [str(SCRIPT), "--", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_starts_a_throw_away_cluster_when_nothing_answers() -> None:
    import sys

    dead = f"postgresql://postgres@127.0.0.1:{unused_port()}/postgres"
    proc = run(dead, sys.executable, "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    dsn, data_directory = proc.stdout.split()
    assert dsn != dead
    assert "throw-away cluster" in proc.stderr
    # Gone afterwards: the data directory and the server.
    assert not Path(data_directory).exists()
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        pass
    else:
        raise AssertionError(f"the throw-away server still answers on {dsn}")


def test_uses_the_configured_server_when_it_answers() -> None:
    import sys

    live = os.environ.get("QBO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    proc = run(live, sys.executable, "-c", PROBE)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == live
    assert "throw-away" not in proc.stderr


def test_passes_the_command_exit_code_through() -> None:
    dead = f"postgresql://postgres@127.0.0.1:{unused_port()}/postgres"
    assert run(dead, "bash", "-c", "exit 7").returncode == 7
