"""Run every test suite of the repository, one pytest per package, and add up the results.

Usage: python scripts/run_tests.py [SUITE ...] [-- PYTEST ARGS]

A suite is a package folder with a `tests/` directory (`qbo-emulator`, `tap-quickbooks`,
`target-postgres-fast` when present, `warehouse`, `transform` for the dbt models' posting rules,
`orchestrate` for the Dagster definitions) or `.` for the pipeline tests at the root. Each suite
runs from its own folder so its `pyproject.toml` settings apply. The run fails when any suite
fails, errors, is missing, or collects no test (pytest exit 5). The last line is the total; a suite
that stops before its tests run (an error at collection, a broken conftest) counts as one failure
there, and the line names every suite that failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("qbo-emulator", "tap-quickbooks", "warehouse", "transform", "orchestrate", ".")
OPTIONAL = ("target-postgres-fast",)


def suites(selected: list[str]) -> list[tuple[str, bool]]:
    """(suite, required) pairs to run, in a fixed order."""
    if selected:
        return [(name, True) for name in selected]
    found = [(name, True) for name in REQUIRED[:2]]
    found += [(name, False) for name in OPTIONAL if (ROOT / name / "tests").is_dir()]
    found += [(name, True) for name in REQUIRED[2:]]
    return found


def counts(junit: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML report; errors count as failures."""
    if not junit.exists():
        return 0, 0, 0
    root = ET.parse(junit).getroot()  # noqa: S314  # pytest's own report
    suites_ = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = failed = skipped = 0
    for suite in suites_:
        tests += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return tests - failed - skipped, failed, skipped


def main(argv: list[str]) -> int:
    """Run the suites; exit 0 only when every one passed and each ran at least one test."""
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    total = [0, 0, 0]
    problems: list[str] = []
    failed_suites: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qbo-tests-") as tmp:
        for name, required in suites(argv):
            folder = (ROOT / name).resolve()
            label = "pipeline (root)" if name == "." else name
            if not (folder / "tests").is_dir():
                if required:
                    problems.append(f"{label}: no tests/ folder")
                    failed_suites.append(label)
                    total[1] += 1
                continue
            junit = Path(tmp) / f"{label.replace(' ', '_').replace('/', '_')}.xml"
            print(f"\n===== {label} =====", flush=True)
            cmd = [sys.executable, "-m", "pytest", "tests", f"--junitxml={junit}", *extra]
            rc = subprocess.run(cmd, cwd=folder, env=os.environ.copy(), check=False).returncode
            passed, failed, skipped = counts(junit)
            total[0] += passed
            total[1] += failed
            total[2] += skipped
            if rc == 5:
                problems.append(f"{label}: no tests collected")
            elif rc != 0:
                problems.append(f"{label}: pytest exit {rc}")
            if rc != 0 and failed == 0:
                # Stopped before or outside its tests (collection error, conftest, no tests):
                # the JUnit report holds no failure, so the suite itself is one.
                total[1] += 1
            if rc != 0 or failed:
                failed_suites.append(label)
    print()
    for problem in problems:
        print(f"FAILED suite {problem}")
    line = f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped"
    if failed_suites:
        line += f" (failed: {', '.join(failed_suites)})"
    print(line)
    return 1 if problems or total[1] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
