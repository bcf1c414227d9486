"""`make test`'s runner in a clone that has nothing beside it (only the repository).

A user clones the repository and runs `make test`: every file a test reads must be in the clone,
and a suite that cannot even collect must show as failed in the runner's last line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Emulator tests that compare the emulator's bodies with the real ones in tests/fixtures/.
FIXTURE_TESTS = "invalid_grant_body_styles or empty_page_is_exactly_the_real_body"


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `git clone` of the checked-out commit, in a folder with no `shared/` above it."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    dest = tmp_path_factory.mktemp("fresh") / "repo"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", head], check=True)
    assert not any((parent / "shared").exists() for parent in dest.parents)
    return dest


def run_tests(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, str(clone / "scripts" / "run_tests.py"), *args]
    return subprocess.run(cmd, cwd=clone, env=env, capture_output=True, text=True, check=False)


def test_the_emulator_suite_runs_from_a_clone_with_nothing_beside_it(clone: Path) -> None:
    collected = run_tests(
        clone, "qbo-emulator", "--", "--collect-only", "-q", "-p", "no:cacheprovider"
    )
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    assert "error" not in collected.stdout.splitlines()[-1].lower()
    ran = run_tests(
        clone, "qbo-emulator", "--", "-q", "-p", "no:cacheprovider", "-k", FIXTURE_TESTS
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    last = ran.stdout.strip().splitlines()[-1]
    assert last.startswith("total: 3 passed, 0 failed,"), last


def test_a_suite_that_errors_at_collection_is_a_failure_in_the_last_line(clone: Path) -> None:
    conftest = clone / "qbo-emulator" / "tests" / "conftest.py"
    original = conftest.read_text()
    conftest.write_text('raise RuntimeError("broken on purpose")\n' + original)
    try:
        result = run_tests(clone, "qbo-emulator", "--", "-q", "-p", "no:cacheprovider")
    finally:
        conftest.write_text(original)
    assert result.returncode == 1
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("total: 0 passed, 1 failed,"), last
    assert last.endswith("(failed: qbo-emulator)"), last
