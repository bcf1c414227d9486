"""One company's load (`meltano run` of one realm, its own state id), and the dbt build after it.

Runs of several companies at once share the Meltano project but not its per-plugin run files:
each company gets its own system directory (``MELTANO_SYS_DIR_ROOT``,
``.meltano/companies/<realm>/``) whose plugin folders link to the project's installed ones, so
the generated config, catalog and state files of two runs never overwrite each other. State is
kept in the system database (``MELTANO_DATABASE_URI``; default the project's
``.meltano/meltano.db``) under ``<environment>:tap-quickbooks-to-target-postgres:<realm>``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXTRACTOR = "tap-quickbooks"
LOADER = "target-postgres"
DBT_PROJECT = "transform/dbt_project.yml"
TAIL_LINES = 15


class CompanyLoadError(Exception):
    """A company's step failed; the message is one line naming the company and the log."""


@dataclass(frozen=True)
class Outcome:
    """What one company's load did."""

    realm_id: str
    state_id: str
    log: Path


@dataclass(frozen=True)
class Transform:
    """What the dbt step after one company's load did."""

    realm_id: str
    log: Path
    dbt: str  # "ran" or why it was skipped


def default_meltano() -> str:
    """`meltano` beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("meltano")
    if beside.exists():
        return str(beside)
    return shutil.which("meltano") or "meltano"


def state_id(environment: str, realm_id: str) -> str:
    """The Meltano state id of one company's incremental load."""
    return f"{environment}:{EXTRACTOR}-to-{LOADER}:{realm_id}"


def company_dir(project: Path, realm_id: str) -> Path:
    """The company's private Meltano system directory, its plugin folders linked."""
    shared = project / ".meltano"
    root = shared / "companies" / realm_id
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for kind in ("extractors", "loaders", "utilities", "transformers"):
        link, target = root / kind, shared / kind
        if target.is_dir() and not link.exists():
            link.symlink_to(target, target_is_directory=True)
    return root


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in lines[-TAIL_LINES:] if line.strip())


def _run_env(
    project: Path, realm_id: str, env: dict[str, str], run_label: str
) -> tuple[dict[str, str], Path]:
    """The environment of one company's Meltano commands, and the run's log file."""
    if not realm_id.isdigit():
        raise CompanyLoadError(f"partition {realm_id!r} is not a realm id (digits)")
    sysdir = company_dir(project, realm_id)
    logs = sysdir / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    child = {**os.environ, **env}
    child.setdefault("MELTANO_DATABASE_URI", f"sqlite:///{project / '.meltano' / 'meltano.db'}")
    child.update(
        {
            "MELTANO_SYS_DIR_ROOT": str(sysdir),
            "TAP_QUICKBOOKS_REALM_ID": realm_id,
            # The company's token comes from the token store (`tap-quickbooks authorize`): a
            # comma-separated list for several realms in .env must not be read here.
            "TAP_QUICKBOOKS_REFRESH_TOKEN": "",
        }
    )
    return child, logs / f"{run_label}.log"


@dataclass(frozen=True)
class Runner:
    """Where and how a company's steps run: the Meltano project, its environment, the
    `meltano` executable, extra environment variables, and each step's time limit."""

    project: Path
    environment: str
    meltano: str
    env: dict[str, str]
    timeout: float


def run_company(realm_id: str, runner: Runner, run_label: str) -> Outcome:
    """Load one company; raises CompanyLoadError naming the company when it fails."""
    child, log = _run_env(runner.project, realm_id, runner.env, run_label)
    command = [runner.meltano, f"--environment={runner.environment}", "run"]
    command += ["--state-id-suffix", realm_id, EXTRACTOR, LOADER]
    what = f"company {realm_id}: meltano run"
    _step(command, runner.project, child, log, runner.timeout, what)
    return Outcome(realm_id, state_id(runner.environment, realm_id), log)


def has_dbt_project(project: Path) -> bool:
    """True when the project has dbt models (transform/dbt_project.yml)."""
    return (project / DBT_PROJECT).exists()


def run_dbt(realm_id: str, runner: Runner, run_label: str, dbt_command: str) -> Transform:
    """Build the dbt models after one company's load (skipped without transform/).

    The models build every company's rows (they are keyed by realm_id, not filtered on
    it), so two builds must never overlap: the caller runs one at a time (the
    orchestrator's `qbo_dbt` pool). `{vars}` in `dbt_command` becomes `{"realm_id": ...}`.
    """
    child, log = _run_env(runner.project, realm_id, runner.env, run_label)
    if not has_dbt_project(runner.project):
        return Transform(realm_id, log, f"skipped: no {DBT_PROJECT}")
    fill = {
        "{vars}": json.dumps({"realm_id": realm_id}),
        "{meltano}": runner.meltano,
        "{environment}": runner.environment,
    }
    args = []
    for arg in shlex.split(dbt_command):
        for key, value in fill.items():
            arg = arg.replace(key, value)
        args.append(arg)
    _step(args, runner.project, child, log, runner.timeout, f"company {realm_id}: dbt")
    return Transform(realm_id, log, "ran")


def _step(
    command: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float, what: str
) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {shlex.join(command)}\n")
        out.flush()
        try:
            done = subprocess.run(  # noqa: S603 - meltano/dbt, arguments from the settings
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise CompanyLoadError(f"{what}: {command[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise CompanyLoadError(f"{what}: still running after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise CompanyLoadError(
            f"{what} exited {done.returncode} (log {log}); last lines: {_tail(log)}"
        )
