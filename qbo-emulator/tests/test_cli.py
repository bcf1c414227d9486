"""The console script: serve prints READY and stops on SIGTERM; truth matches the server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import requests

from qbo_emulator.entities import DELETABLE, REGISTRY, WITH_ACTIVE
from qbo_emulator.testing import EmulatorServer

CMD = [sys.executable, "-m", "qbo_emulator"]
COMPANY = ["--seed", "5", "--customers", "12", "--items", "6", "--invoices", "80"]


def test_serve_prints_ready_and_exits_zero_on_sigterm() -> None:
    proc = subprocess.Popen(
        [
            *CMD,
            "serve",
            "--port",
            "0",
            *COMPANY,
            "--realms",
            "2",
            "--rotation",
            "never",
            "--fault-at",
            "503=1",
            "--cdc-reject-older-days",
            "30",
            "--nul-in-memo",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split(" ", 1)[1]
        tokens = requests.get(f"{base}/__emulator__/tokens", timeout=10).json()
        assert len(tokens) == 2
        cfg = requests.get(f"{base}/__emulator__/config", timeout=10).json()
        assert cfg["rotation"] == "never" and cfg["fault_at"] == {"503": [1]}
        assert cfg["cdc_reject_older_days"] == 30 and cfg["nul_in_memo"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""


def test_truth_command_matches_the_server() -> None:
    out = subprocess.run([*CMD, "truth", *COMPANY], capture_output=True, text=True, check=True)
    printed = json.loads(out.stdout)
    with EmulatorServer(seed=5, customers=12, items=6, invoices=80) as emu:
        assert printed == emu.truth()
    realm = printed["9341450000000001"]
    assert set(realm) == {*REGISTRY, "deleted", "inactive", "counts"}
    assert set(realm["deleted"]) == set(DELETABLE)
    assert set(realm["inactive"]) == set(WITH_ACTIVE)


def test_bad_switch_is_one_line_and_non_zero() -> None:
    out = subprocess.run(
        [*CMD, "serve", "--port", "0", "--fault-rate", "boom=0.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.strip().count("\n") == 0 and "fault_rate" in out.stderr
    out = subprocess.run([*CMD, "truth", "--invoices", "-1"], capture_output=True, text=True)
    assert out.returncode != 0 and "--invoices" in out.stderr


def test_size_flags_shape_the_company_and_bad_sizes_are_one_line() -> None:
    out = subprocess.run(
        [*CMD, "truth", *COMPANY, "--size", "Vendor=4", "--size", "payment=0"],
        capture_output=True,
        text=True,
        check=True,
    )
    realm = json.loads(out.stdout)["9341450000000001"]
    assert len(realm["Vendor"]) == 4 and realm["Payment"] == {}
    for bad, word in (
        ("Nope=1", "Nope"),
        ("Bill=x", "Bill"),
        ("Bill", "ENTITY=N"),
        ("Term=1", "Term"),
    ):
        out = subprocess.run([*CMD, "truth", "--size", bad], capture_output=True, text=True)
        assert out.returncode == 2 and out.stdout == ""
        assert out.stderr.strip().count("\n") == 0 and word in out.stderr, out.stderr
