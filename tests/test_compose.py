"""docker-compose.yml: the stack's structure (no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_services_and_volumes(compose) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "pgadmin", "emulator", "meltano", "orchestrator"}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    named = {v.split(":", 1)[0] for s in services.values() for v in s.get("volumes", [])}
    assert named <= set(compose["volumes"])
    assert services["pgadmin"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["emulator"]["healthcheck"]["test"]


def test_meltano_runs_a_job_of_the_project(compose) -> None:
    meltano = compose["services"]["meltano"]
    deps = meltano["depends_on"]
    assert deps["postgres"]["condition"] == "service_healthy"
    assert deps["emulator"]["condition"] == "service_healthy"
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    jobs = {j["name"] for j in project["jobs"]}
    envs = {e["name"] for e in project["environments"]}
    command = meltano["command"]
    assert command[:2] == ["meltano", "run"]
    job = re.fullmatch(r"\$\{MELTANO_JOB:-(\w+)\}", command[2])
    assert job
    assert job[1] in jobs
    env = meltano["environment"]
    default_env = re.fullmatch(r"\$\{MELTANO_ENVIRONMENT:-(\w+)\}", env["MELTANO_ENVIRONMENT"])
    assert default_env
    assert default_env[1] in envs
    assert env["TARGET_POSTGRES_SQLALCHEMY_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in env["TARGET_POSTGRES_SQLALCHEMY_URL"]
    assert env["TAP_QUICKBOOKS_API_URL"].endswith("http://emulator:8080}")
    # Secrets only by reference, never written in the file.
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.findall(r"PASSWORD: (\S+)", text) == [
        "${POSTGRES_PASSWORD:?set",
        "${PGADMIN_PASSWORD:?set",
    ]


def test_orchestrator_runs_the_dagster_definitions_beside_meltano(compose) -> None:
    orchestrator = compose["services"]["orchestrator"]
    meltano = compose["services"]["meltano"]
    # Opt-in, from the same image, with the meltano service's project, state, tokens and target.
    assert orchestrator["profiles"] == ["orchestrate"]
    assert orchestrator["build"] == meltano["build"]
    assert orchestrator["image"] == meltano["image"]
    assert orchestrator["volumes"] == meltano["volumes"]
    assert orchestrator["depends_on"] == meltano["depends_on"]
    env, shared = orchestrator["environment"], meltano["environment"]
    for key in (
        "MELTANO_ENVIRONMENT",
        "MELTANO_DATABASE_URI",
        "TAP_QUICKBOOKS_TOKEN_STORE_PATH",
        "TAP_QUICKBOOKS_API_URL",
        "TAP_QUICKBOOKS_AUTH_URL",
        "TARGET_POSTGRES_SQLALCHEMY_URL",
    ):
        assert env[key] == shared[key], key
    assert env["QBO_MELTANO_PROJECT"] == "/project"  # the Dockerfile's WORKDIR
    assert re.search(r"^WORKDIR /project$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert env["DAGSTER_HOME"].startswith("/data/")  # on the volume: runs and pool survive
    # The demo's client id is the emulator's (meltano.yml), unless .env names the app's.
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    demo = next(e for e in project["environments"] if e["name"] == "demo")
    [tap] = [p for p in demo["config"]["plugins"]["extractors"] if p["name"] == "tap-quickbooks"]
    client = re.fullmatch(
        r"\$\{TAP_QUICKBOOKS_CLIENT_ID:-([\w-]+)\}", env["TAP_QUICKBOOKS_CLIENT_ID"]
    )
    assert client
    assert client[1] == tap["config"]["client_id"]
    # The sensor and the schedule it starts exist, and the daemon loads that module.
    from qbo_orchestrate import definitions

    script = orchestrator["command"][-1]
    assert orchestrator["command"][:2] == ["sh", "-c"]
    module = "-m qbo_orchestrate.definitions"
    assert f"dagster sensor start {definitions.connected_companies.name} {module}" in script
    assert f"dagster schedule start {definitions.hourly_companies.name} {module}" in script
    assert script.endswith(f"exec dagster-daemon run {module}")


def test_emulator_command_uses_known_switches(compose) -> None:
    exe = shutil.which("qbo-emulator", path=str(BIN)) or shutil.which("qbo-emulator")
    assert exe
    help_text = subprocess.run(
        [exe, "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    command = compose["services"]["emulator"]["command"]
    assert command[:2] == ["qbo-emulator", "serve"]
    for arg in command[2:]:
        assert arg.split("=", 1)[0] in help_text, arg


def test_image_copies_what_exists_and_what_meltano_install_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE)
    for source in copied:
        assert (ROOT / source).exists(), source
    local = re.findall(r"-e \./([\w.-]+)", (ROOT / "meltano.yml").read_text())
    assert local
    assert set(local) <= set(copied)
    # Every local package scripts/install-image installs is copied in.
    script = (ROOT / "scripts" / "install-image").read_text()
    [pip] = re.findall(r"^python -m pip install (?:.*\\\n)*.*$", script, re.MULTILINE)
    installed = re.findall(r"\./([\w.-]+)", pip)
    assert "orchestrate" in installed
    assert set(installed) <= set(copied)


def test_docker_compose_config_accepts_it(tmp_path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here; the structure is checked above")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin; the structure is checked above")
    env = {"POSTGRES_PASSWORD": "x", "PGADMIN_PASSWORD": "y", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
