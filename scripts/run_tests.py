"""Run every test suite of the repository, one pytest per package, and add up the results.

Usage: python scripts/run_tests.py [--jobs N] [--workers N] [SUITE ...] [-- PYTEST ARGS]

A suite is a package folder with a `tests/` directory (`qbo-emulator`, `tap-quickbooks`,
`target-postgres-fast` when present, `warehouse`, `transform` for the dbt models' posting rules,
`orchestrate` for the Dagster definitions) or `.` for the pipeline tests at the root. Each suite
runs from its own folder so its `pyproject.toml` settings apply. The run fails when any suite
fails, errors, is missing, or collects no test (pytest exit 5). The last line is the total; a suite
that stops before its tests run (an error at collection, a broken conftest) counts as one failure
there, and the line names every suite that failed.

Suites run side by side, `--jobs` at a time (default 2, or `QBO_TEST_JOBS`): most of a pipeline
test's time is spent waiting on subprocesses, the emulator and Postgres. Each suite's output is
printed whole when it ends, so the log reads one suite after another. The root suite, by far the
longest, is itself spread over `--workers` pytest-xdist processes (default 2, or
`QBO_TEST_WORKERS`), one test file to a process; `--workers 1` runs it in one process, as do runs
where pytest-xdist is not installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("qbo-emulator", "tap-quickbooks", "warehouse", "transform", "orchestrate", ".")
OPTIONAL = ("target-postgres-fast",)
# Longest first, so the longest suite never starts last (measured: the root suite takes about
# two thirds of the whole run, the tap's a sixth).
LONGEST_FIRST = (".", "tap-quickbooks", "target-postgres-fast", "orchestrate", "transform")


def suites(selected: list[str]) -> list[tuple[str, bool]]:
    """(suite, required) pairs to run, in a fixed order."""
    if selected:
        return [(name, True) for name in selected]
    found = [(name, True) for name in REQUIRED[:2]]
    found += [(name, False) for name in OPTIONAL if (ROOT / name / "tests").is_dir()]
    found += [(name, True) for name in REQUIRED[2:]]
    return found


def start_order(chosen: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The suites in the order they are started: the long ones first, then as listed."""

    def rank(item: tuple[str, bool]) -> int:
        name = item[0]
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    return sorted(chosen, key=rank)


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


@dataclass
class Outcome:
    label: str
    rc: int
    passed: int
    failed: int
    skipped: int
    seconds: float


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description="Run the repository's test suites.")
    parser.add_argument("suites", nargs="*", metavar="SUITE")
    parser.add_argument(
        "--jobs", type=int, default=int(os.environ.get("QBO_TEST_JOBS", "2")),
        help="suites run at the same time (default 2)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("QBO_TEST_WORKERS", "2")),
        help="pytest-xdist processes for the root suite (default 2; 1 = none)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.workers < 1:
        parser.error("--jobs and --workers must be at least 1")
    return args, extra


def pytest_command(name: str, junit: Path, extra: list[str], workers: int) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "tests", f"--junitxml={junit}"]
    if name == "." and workers > 1 and importlib.util.find_spec("xdist") is not None:
        cmd += ["-n", str(workers), "--dist", "loadfile"]
    return [*cmd, *extra]


def main(argv: list[str]) -> int:
    """Run the suites; exit 0 only when every one passed and each ran at least one test."""
    args, extra = parse_args(argv)
    problems: list[str] = []
    failed_suites: list[str] = []
    total = [0, 0, 0]
    printing = threading.Lock()
    chosen = suites(args.suites)
    for name, required in chosen:
        if not (ROOT / name / "tests").is_dir() and required:
            label = "pipeline (root)" if name == "." else name
            problems.append(f"{label}: no tests/ folder")
            failed_suites.append(label)
            total[1] += 1
    runnable = [(n, r) for n, r in chosen if (ROOT / n / "tests").is_dir()]

    with tempfile.TemporaryDirectory(prefix="qbo-tests-") as tmp:

        def run(name: str) -> Outcome:
            folder = (ROOT / name).resolve()
            label = "pipeline (root)" if name == "." else name
            slug = label.replace(" ", "_").replace("/", "_")
            junit = Path(tmp) / f"{slug}.xml"
            log = Path(tmp) / f"{slug}.log"
            with printing:
                print(f"----- {label}: started", flush=True)
            began = time.monotonic()
            with log.open("w") as out:
                rc = subprocess.run(
                    pytest_command(name, junit, extra, args.workers),
                    cwd=folder,
                    env=os.environ.copy(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
            seconds = time.monotonic() - began
            with printing:
                print(f"\n===== {label} ({seconds:.0f} s) =====", flush=True)
                sys.stdout.write(log.read_text(errors="replace"))
                sys.stdout.flush()
            return Outcome(label, rc, *counts(junit), seconds)

        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            outcomes = list(pool.map(run, [name for name, _ in start_order(runnable)]))

    for outcome in outcomes:
        total[0] += outcome.passed
        total[1] += outcome.failed
        total[2] += outcome.skipped
        if outcome.rc == 5:
            problems.append(f"{outcome.label}: no tests collected")
        elif outcome.rc != 0:
            problems.append(f"{outcome.label}: pytest exit {outcome.rc}")
        if outcome.rc != 0 and outcome.failed == 0:
            # Stopped before or outside its tests (collection error, conftest, no tests):
            # the JUnit report holds no failure, so the suite itself is one.
            total[1] += 1
        if outcome.rc != 0 or outcome.failed:
            failed_suites.append(outcome.label)
    print()
    for outcome in outcomes:
        print(f"{outcome.label}: {outcome.passed} passed, {outcome.failed} failed, "
              f"{outcome.skipped} skipped in {outcome.seconds:.0f} s")  # fmt: skip
    for problem in problems:
        print(f"FAILED suite {problem}")
    line = f"total: {total[0]} passed, {total[1]} failed, {total[2]} skipped"
    if failed_suites:
        line += f" (failed: {', '.join(failed_suites)})"
    print(line)
    return 1 if problems or total[1] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
