"""Secrets: the client secret, refresh tokens and access tokens never leak.

Every pipeline test of this suite ends with `Pipeline.assert_no_secrets()` (stdout and
stderr of every run, the saved state, every table row and `request_payload`, the token
store's mode). This module adds a run built to spray tokens around: Meltano at debug log
level, refresh-token rotation on every refresh, access tokens expiring mid-run (401),
throttling and truncated bodies, CDC tombstones, and a refused refresh token. The leak
finder itself is checked first, so the assertion can fail.
"""

from __future__ import annotations

import stat
import typing as t

import pytest
from _pipeline import CLIENT_ID, CLIENT_SECRET, JWE_HEAD, Pipeline, database, find_leaks
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator


def test_the_leak_finder_finds_whole_and_truncated_secrets() -> None:
    access = (
        JWE_HEAD + "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0" + ".c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl"
    )
    refresh = "RT1-001-H0-1795815252cd7a834c7206ad40c554"
    texts = [
        ("clean", "Refreshed the access token for realm 9341450000000001"),
        ("whole", f"Authorization: Bearer {access}"),
        ("truncated", f"Token expired: {access[:60]}"),
        ("refresh", f"refresh_token={refresh}"),
        ("secret", f"client_secret={CLIENT_SECRET}"),
    ]
    found = {where for where, _piece in find_leaks(texts, [access, refresh, CLIENT_SECRET])}
    assert found == {"whole", "truncated", "refresh", "secret"}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with (
        EmulatorServer(
            seed=31,
            customers=15,
            items=6,
            invoices=60,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            rotation="every",
        ) as emu,
        database("secrets") as dbname,
    ):
        yield Pipeline(emu, dbname, tmp_path_factory.mktemp("secrets"))


def test_no_secret_anywhere_after_runs_that_handle_many_tokens(pipe: Pipeline) -> None:
    emulator = pipe.emu.emulator

    def expire_access_tokens(number: int, _text: str) -> None:
        if number in (5, 15):
            emulator.tokens.access.clear()

    pipe.probe.hooks.append(expire_access_tokens)
    pipe.emu.configure(fault_at={"429": [3, 4], "truncate": [9], "500": [12]})
    debug = {"MELTANO_CLI_LOG_LEVEL": "debug"}
    first = pipe.run(env=debug)
    assert first.rc == 0, first.tail()
    pipe.emu.configure(fault_at={})

    # A second run (incremental, with a CDC tombstone) on the rotated, stored token.
    ids = sorted(pipe.emu.truth()[pipe.realm]["Invoice"], key=int)
    pipe.emu.mutate(pipe.realm, "Invoice", "delete", ids[0])
    second = pipe.run(env=debug)
    assert second.rc == 0, second.tail()
    pipe.assert_matches_truth("second run")
    tombstones = [row for row in pipe.rows()["invoices"].values() if row.deleted is not None]
    assert tombstones, "no CDC tombstone was loaded"

    # A refused refresh token (store gone, configured token superseded): a clear message
    # that names the setting to change, nothing written, the state kept, and no secret in it.
    state, rows = pipe.state(), pipe.rows()
    pipe.token_store.unlink()
    refused = pipe.run(env=debug)
    assert refused.rc != 0
    assert "QuickBooks refused the refresh token" in refused.output
    assert "TAP_QUICKBOOKS_REFRESH_TOKEN" in refused.output
    assert pipe.state() == state
    assert pipe.rows() == rows

    stats = pipe.emu.stats()
    assert stats["token_refreshes"] >= 4, stats
    assert stats["auth_failures"] >= 2, stats
    assert len(pipe.probe.secrets()) >= 8, "the scenario issued too few tokens to mean much"
    pipe.assert_no_secrets()


def test_the_token_store_is_private(pipe: Pipeline) -> None:
    # Re-authorizing after the refusal above: the new refresh token in the setting.
    pipe.refresh_token = pipe.emu.refresh_token()
    again = pipe.run()
    assert again.rc == 0, again.tail()
    pipe.assert_matches_truth("after re-authorizing")
    store = pipe.token_store
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    lock = store.with_name(store.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert not stat.S_IMODE(store.parent.stat().st_mode) & 0o077
    pipe.assert_no_secrets()
