"""The tap in another Singer pipeline, outside Meltano: piped into PyPI's `target-jsonl`.

As the README shows (`tap-quickbooks --config ... | target-jsonl --config target.json`), with
the target in its own virtualenv (made here once, under `.cache/` at the repository root). Also
the SDK paths a user of such a pipeline tries: a catalog with one stream deselected, and a
`stream_maps` filter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from qbo_emulator.testing import EmulatorServer

from tests.conftest import tap_config

TARGET = "target-jsonl==0.1.4"
ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".cache" / "target-jsonl-0.1.4"
TAP = Path(sys.executable).parent / "tap-quickbooks"
COMPANY = {"seed": 17, "customers": 12, "items": 6, "invoices": 90}
STREAMS = {"invoices": "Invoice", "customers": "Customer", "items": "Item"}
OFFLINE = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution found",
    "Could not fetch URL",
)


@pytest.fixture(scope="module")
def target_jsonl() -> Path:
    """PyPI's target-jsonl in its own virtualenv (its pins, jsonschema 2.6.0, stay there)."""
    exe = VENV / "bin" / "target-jsonl"
    if exe.exists():
        return exe
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", TARGET],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if pip.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        if any(sign in pip.stdout + pip.stderr for sign in OFFLINE):
            pytest.skip(f"PyPI is unreachable, so {TARGET} cannot be installed")
        pytest.fail(f"pip install {TARGET} failed:\n{pip.stderr[-2000:]}")
    return exe


def pipe(
    target: Path, config: dict[str, t.Any], out: Path, catalog: Path | None = None
) -> list[dict[str, t.Any]]:
    """`tap-quickbooks --config c [--catalog k] | target-jsonl --config t`; the target's states."""
    tap_cfg = out / "tap.json"
    tap_cfg.write_text(json.dumps(config))
    target_cfg = out / "target.json"
    target_cfg.write_text(json.dumps({"destination_path": str(out), "do_timestamp_file": False}))
    cmd = [str(TAP), "--config", str(tap_cfg)]
    if catalog is not None:
        cmd += ["--catalog", str(catalog)]
    tap = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    target_proc = subprocess.run(
        [str(target), "--config", str(target_cfg)],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tap.stdout is not None
    tap.stdout.close()
    assert tap.stderr is not None
    tap_err = tap.stderr.read().decode()
    assert tap.wait(timeout=60) == 0, tap_err[-3000:]
    assert target_proc.returncode == 0, target_proc.stderr[-3000:]
    return [json.loads(line) for line in target_proc.stdout.splitlines() if line.strip()]


def written(out: Path, stream: str) -> list[dict[str, t.Any]]:
    path = out / f"{stream}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truth(emu: EmulatorServer, entity: str) -> dict[tuple[str, str], str]:
    """(realm, id) -> SyncToken of every live object."""
    return {(r, i): tok for r, data in emu.truth().items() for i, tok in data[entity].items()}


def loaded(records: list[dict[str, t.Any]]) -> dict[tuple[str, str], str]:
    keys = [(r["realm_id"], r["id"]) for r in records]
    assert len(keys) == len(set(keys)), "a key twice"
    return {(r["realm_id"], r["id"]): r["sync_token"] for r in records}


def test_tap_piped_into_target_jsonl_writes_the_company(tmp_path, target_jsonl) -> None:
    with EmulatorServer(**COMPANY) as emu:
        config = tap_config(emu, tmp_path, end_date=None)
        states = pipe(target_jsonl, config, tmp_path)
        for stream, entity in STREAMS.items():
            records = written(tmp_path, stream)
            assert loaded(records) == truth(emu, entity), stream
            assert all(r["payload"]["Id"] == r["id"] for r in records)
        # The target echoes the tap's last state: the bookmark a next run starts from.
        bookmarks = states[-1]["bookmarks"]
        assert set(STREAMS) <= set(bookmarks)


def test_a_catalog_with_one_stream_deselected(tmp_path, target_jsonl) -> None:
    with EmulatorServer(**COMPANY) as emu:
        config = tap_config(emu, tmp_path, end_date=None)
        (tmp_path / "tap.json").write_text(json.dumps(config))
        discovered = subprocess.run(
            [str(TAP), "--config", str(tmp_path / "tap.json"), "--discover"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        catalog = json.loads(discovered.stdout)
        for entry in catalog["streams"]:
            for meta in entry["metadata"]:
                # Deselect one entity stream; the report streams stay as discovered (unselected).
                if meta["breadcrumb"] == [] and meta["metadata"].get("selected-by-default", True):
                    meta["metadata"]["selected"] = entry["tap_stream_id"] != "items"
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps(catalog))
        pipe(target_jsonl, config, tmp_path, catalog=path)
        assert written(tmp_path, "items") == []
        assert loaded(written(tmp_path, "invoices")) == truth(emu, "Invoice")
        assert loaded(written(tmp_path, "customers")) == truth(emu, "Customer")
        endpoints = emu.stats()["by_endpoint"]
        assert endpoints.get("query", 0) + endpoints.get("batch", 0) > 0


def test_a_stream_maps_filter(tmp_path, target_jsonl) -> None:
    with EmulatorServer(**COMPANY) as emu:
        config = tap_config(emu, tmp_path, end_date=None)
        config["stream_maps"] = {"invoices": {"__filter__": "int(id) % 2 == 0"}}
        pipe(target_jsonl, config, tmp_path)
        even = {k: v for k, v in truth(emu, "Invoice").items() if int(k[1]) % 2 == 0}
        assert even
        assert loaded(written(tmp_path, "invoices")) == even
        assert loaded(written(tmp_path, "customers")) == truth(emu, "Customer")
