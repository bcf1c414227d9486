"""Two independent clients extract everything the emulator holds.

singer-io's ``tap-quickbooks==2.5.0`` (which reads every entity through ``/batch``) and
Airbyte's ``airbyte-source-quickbooks==4.0.4`` (``/query`` in 30-day windows) run as child
processes from their own virtualenvs under ``bench/peers/`` against an in-process emulator.
The Invoice, Customer and Item ids and SyncTokens each emitted must equal the emulator's
truth, inactive names included, after some run-time updates, deactivations and deletions.

Set the peers up with ``bench/peers/setup.sh``; without them these tests are skipped.
Run them with ``pytest -m peers``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from qbo_emulator.testing import EmulatorServer

if TYPE_CHECKING:
    from collections.abc import Iterator

PEERS_DIR = Path(__file__).resolve().parents[2] / "bench" / "peers"
ENTITIES = ("Invoice", "Customer", "Item")

pytestmark = pytest.mark.peers

if not (PEERS_DIR / "peerlib.py").exists():
    pytest.skip(f"no peer harness at {PEERS_DIR}", allow_module_level=True)
sys.path.insert(0, str(PEERS_DIR))
peerlib = importlib.import_module("peerlib")

_missing = peerlib.missing_peers()
if _missing:
    pytest.skip(
        f"peer venvs not set up ({', '.join(_missing)}): run bench/peers/setup.sh",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    # >= 1500 invoices: the company includes a bulk-import burst of more than 1000 invoices
    # sharing one LastUpdatedTime, which both peers must page through with 300-row pages.
    with EmulatorServer(seed=11, customers=80, items=30, invoices=1600, realms=1) as server:
        realm = server.realm_ids[0]
        truth = server.truth()[realm]
        invoices = sorted(truth["Invoice"], key=int)
        customers = sorted(truth["Customer"], key=int)
        items = sorted(truth["Item"], key=int)
        server.mutate(realm, "Invoice", "update", invoices[5])
        server.mutate(realm, "Invoice", "delete", invoices[7])
        server.mutate(realm, "Invoice", "create")
        server.mutate(realm, "Customer", "deactivate", customers[3])
        server.mutate(realm, "Customer", "update", customers[4])
        server.mutate(realm, "Item", "deactivate", items[2])
        yield server


def _target(emu: Any) -> Any:
    realm = emu.realm_ids[0]
    return peerlib.Target(
        api_url=emu.base_url,
        token_url=emu.token_url,
        realm_id=realm,
        refresh_token=emu.refresh_token(realm),
        page_size=300,
    )


@pytest.mark.parametrize("peer", sorted(peerlib.PEERS))
def test_peer_extracts_the_truth(emu: Any, peer: str, tmp_path: Path) -> None:
    realm = emu.realm_ids[0]
    truth = emu.truth()[realm]
    assert truth["deleted"]["Invoice"], "the fixture should have deleted an invoice"

    run = peerlib.run_peer(peer, _target(emu), tmp_path, timeout=600)

    assert run.ok, (
        f"{peer} exited {run.returncode} (timed out: {run.timed_out}):\n{run.stderr_tail}"
    )
    for entity in ENTITIES:
        got, want = run.records[entity], truth[entity]
        missing = sorted(set(want) - set(got), key=int)
        extra = sorted(set(got) - set(want), key=int)
        stale = sorted((i for i in set(got) & set(want) if got[i] != want[i]), key=int)
        assert not (missing or extra or stale), (
            f"{peer} {entity}: {len(missing)} missing {missing[:10]}, "
            f"{len(extra)} extra {extra[:10]}, {len(stale)} with a stale SyncToken {stale[:10]}"
        )
    assert not set(run.records["Invoice"]) & set(truth["deleted"]["Invoice"])
    assert run.duplicates == 0, f"{peer} emitted {run.duplicates} rows twice"
    # Inactive names are part of the truth; the peers must have seen some.
    assert run.inactive["Customer"] > 0
    assert run.inactive["Item"] > 0


def test_singer_io_writes_the_rotated_refresh_token_back(emu: Any, tmp_path: Path) -> None:
    realm = emu.realm_ids[0]
    before = emu.refresh_token(realm)
    run = peerlib.run_peer("singer-io", _target(emu), tmp_path, timeout=600, collect=False)

    assert run.ok, run.stderr_tail
    written = json.loads((tmp_path / "config.json").read_text())["refresh_token"]
    assert written == emu.refresh_token(realm)
    assert written != before
