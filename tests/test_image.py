"""The Docker image, built without Docker.

The Dockerfile's install steps are one script, `scripts/install-image`. This test copies exactly
what the Dockerfile copies (`.dockerignore` honoured) into an empty folder, runs the script into a
fresh virtualenv, then runs the compose `meltano` service's command with the compose file's
environment against the compose emulator (started from that virtualenv) and a fresh database,
and `qbo-warehouse summary` from the same virtualenv.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import yaml
from conftest import TABLES, admin_dsn
from psycopg import conninfo

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is left out when it, or a folder above it, matches a pattern."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for pattern in patterns:
            if pattern.startswith("**/"):
                tail = pattern[3:]
                if any(fnmatch.fnmatchcase("/".join(parts[j:i]), tail) for j in range(i)):
                    return True
            elif fnmatch.fnmatchcase(prefix, pattern):
                return True
    return False


def copy_build_context(dest: Path) -> list[str]:
    """Do what the Dockerfile's COPY lines do (WORKDIR /project -> dest); returns the sources."""
    patterns = dockerignore_patterns()
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY":
            continue
        assert not any(w.startswith("--") for w in words[1:]), line
        *srcs, target = words[1:]
        for src in srcs:
            assert not ignored(src, patterns), f"the Dockerfile copies an ignored path: {src}"
            sources.append(src)
            origin = ROOT / src
            into = dest / target
            if origin.is_dir():
                for path in sorted(origin.rglob("*")):
                    rel = path.relative_to(ROOT).as_posix()
                    if path.is_dir() or ignored(rel, patterns):
                        continue
                    out = into / path.relative_to(origin)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, out)
            else:
                out = into / origin.name if target.endswith("/") else into
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, out)
    return sources


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` against `env`."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            pytest.fail(f"compose needs {name}: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


# Run with the image's Python: the orchestrator's sensor against an ephemeral instance, the
# assets of its job, and the project its runs use.
ORCHESTRATOR_CHECK = """
import json
import dagster as dg
from qbo_orchestrate import definitions as d
job = d.defs.resolve_job_def("quickbooks_company_job")
result = d.connected_companies(dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral()))
print(json.dumps({
    "run_requests": [r.partition_key for r in result.run_requests],
    "job_assets": sorted(k.path for k in job.asset_layer.selected_asset_keys),
    "project_root": d.MeltanoProject().project_root,
}))
"""


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"qbo_image_{uuid.uuid4().hex[:12]}"
    admin = admin_dsn()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_image_install_script_builds_a_working_image(tmp_path: Path, fresh_database: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    sources = copy_build_context(project)
    assert "scripts/install-image" in sources
    assert not (project / "bench").exists()
    assert not (project / ".venv").exists()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    # The Dockerfile's ENV, and nothing of this machine's Meltano or tap settings.
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_QUICKBOOKS_", "TARGET_POSTGRES_", "MELTANO_", "VIRTUAL_ENV"))
    }
    base.update(
        {
            "PATH": f"{bin_dir}{os.pathsep}{base.get('PATH', '')}",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_CACHE_DIR": "1",
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    install = subprocess.run(
        ["bash", "scripts/install-image"],
        cwd=project,
        env=base,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert install.returncode == 0, (install.stdout + install.stderr)[-4000:]

    # Meltano's dependencies intact (singer-io's tap pins jsonschema 2.6.0), and the tap is ours.
    check = "import jsonschema.protocols, tap_quickbooks.streams, qbo_warehouse.cli"
    subprocess.run([str(bin_dir / "python"), "-c", check], check=True, env=base)
    # The orchestrator's Definitions load as Dagster loads a code location (the compose
    # orchestrator service's daemon runs the same module).
    (tmp_path / "dagster-home").mkdir()
    validate = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-m", "qbo_orchestrate.definitions"],
        cwd=project,
        env={**base, "DAGSTER_HOME": str(tmp_path / "dagster-home")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert validate.returncode == 0, (validate.stdout + validate.stderr)[-4000:]
    assert "Validation successful for code location qbo_orchestrate.definitions" in (
        validate.stdout + validate.stderr
    )
    pip_check = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "check"], capture_output=True, text=True, env=base
    )
    assert pip_check.returncode == 0, pip_check.stdout

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    emulator_cmd = compose["services"]["emulator"]["command"]
    data = tmp_path / "data"
    data.mkdir()
    args = [
        a.replace("--host=0.0.0.0", "--host=127.0.0.1")
        .replace("--port=8080", "--port=0")
        .replace("/data/", f"{data}/")
        for a in emulator_cmd
    ]
    emulator = subprocess.Popen(
        [str(bin_dir / args[0]), *args[1:]],
        cwd=project,
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        ready = emulator.stdout.readline().strip()
        assert ready.startswith("READY "), ready
        base_url = ready.split(" ", 1)[1]
        truth = subprocess.run(
            [
                str(bin_dir / "qbo-emulator"),
                "truth",
                *(a for a in args if a.startswith(("--seed", "--customers", "--items", "--inv"))),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=base,
        )
        company_realm, company = next(iter(json.loads(truth.stdout).items()))

        admin = conninfo.conninfo_to_dict(admin_dsn())
        meltano = compose["services"]["meltano"]
        outer = {
            "POSTGRES_USER": str(admin.get("user", "postgres")),
            "POSTGRES_PASSWORD": str(admin.get("password") or "unused-with-trust-auth"),
            "POSTGRES_DB": fresh_database,
            "TAP_QUICKBOOKS_API_URL": base_url,
            "TAP_QUICKBOOKS_AUTH_URL": f"{base_url}/oauth2/v1/tokens/bearer",
        }
        env = {**base}
        pg_host = f"@{admin.get('host', '127.0.0.1')}:{admin.get('port', '5432')}/"
        for key, value in meltano["environment"].items():
            text = interpolate(str(value), outer).replace("/data/", f"{data}/")
            env[key] = text.replace("@postgres:5432/", pg_host)
        (data / "tokens").mkdir()
        command = [interpolate(word, outer) for word in meltano["command"]]
        run = subprocess.run(
            [str(bin_dir / command[0]), *command[1:]],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)

    dsn = conninfo.make_conninfo(admin_dsn(), dbname=fresh_database)
    with psycopg.connect(dsn) as conn:
        for entity, table in TABLES.items():
            count = conn.execute(f"SELECT count(*) FROM raw.{table}").fetchone()
            assert count is not None
            assert count[0] == len(company[entity]), table
    # The compose orchestrator, with its environment, sees the company the meltano service
    # connected (its sensor asks for one run of it) and has both steps of a company's run.
    orchestrator = compose["services"]["orchestrator"]
    orchestrator_env = {**base, "DAGSTER_HOME": str(tmp_path / "dagster-home")}
    for key, value in orchestrator["environment"].items():
        text = interpolate(str(value), outer).replace("/data/", f"{data}/")
        orchestrator_env[key] = text.replace("@postgres:5432/", pg_host)
    orchestrator_env["QBO_MELTANO_PROJECT"] = str(project)  # /project in the image
    sensed = subprocess.run(
        [str(bin_dir / "python"), "-c", ORCHESTRATOR_CHECK],
        cwd=project,
        env=orchestrator_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert sensed.returncode == 0, sensed.stderr[-4000:]
    found = json.loads(sensed.stdout.strip().splitlines()[-1])
    assert found["run_requests"] == [company_realm]
    assert found["job_assets"] == [["quickbooks_company"], ["quickbooks_models"]]
    assert found["project_root"] == str(project)

    summary = subprocess.run(
        [str(bin_dir / "qbo-warehouse"), "summary", "--dsn", dsn],
        capture_output=True,
        text=True,
        env=base,
        check=False,
    )
    assert summary.returncode == 0, summary.stderr
    for table in TABLES.values():
        assert table in summary.stdout
