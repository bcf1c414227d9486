import contextlib
import json
import multiprocessing
import os
import stat
import threading

from tap_quickbooks.auth import TokenStore, sha256_hex, store_key

KEY = store_key("client", "9341450000000001")


def test_store_is_written_with_mode_0600_and_no_temp_files_left(tmp_path):
    store = TokenStore(tmp_path / "sub" / "tokens.json")
    with store.locked() as data:
        TokenStore.record(data, KEY, "seed-token", "rotated-1")
        store.save(data)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    names = sorted(p.name for p in store.path.parent.iterdir())
    assert names == ["tokens.json", "tokens.json.lock"]
    saved = json.loads(store.path.read_text())
    entry = saved["entries"][KEY]
    assert entry["refresh_token"] == "rotated-1"
    assert entry["seed_sha256"] == sha256_hex("seed-token")
    assert "seed-token" not in store.path.read_text()  # seeds are stored as hashes only


def test_key_depends_on_client_and_realm():
    assert store_key("a", "1") != store_key("a", "2")
    assert store_key("a", "1") != store_key("b", "1")
    assert store_key("a1", "") != store_key("a", "1")


def test_seed_logic_stored_token_wins_until_user_reauthorizes(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    empty = store.load()
    assert TokenStore.choose_token(empty, KEY, "seed") == "seed"
    with store.locked() as data:
        TokenStore.record(data, KEY, "seed", "latest")
        store.save(data)
    data = store.load()
    # Same configured token as the recorded seed: the stored latest token wins.
    assert TokenStore.choose_token(data, KEY, "seed") == "latest"
    # The user re-authorized and configured a new token: the config wins.
    assert TokenStore.choose_token(data, KEY, "brand-new") == "brand-new"
    # Another realm is independent.
    assert TokenStore.choose_token(data, store_key("client", "2"), "seed") == "seed"


def test_corrupt_store_is_treated_as_empty(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    assert TokenStore(path).load()["entries"] == {}


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    store = TokenStore(tmp_path / "tokens.json")
    with store.locked() as data:
        TokenStore.record(data, KEY, "seed", "first")
        store.save(data)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with store.locked() as data:
        TokenStore.record(data, KEY, "seed", "second")
        with contextlib.suppress(OSError):
            store.save(data)
    monkeypatch.undo()
    assert store.load()["entries"][KEY]["refresh_token"] == "first"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _hold_lock(path: str, ready, release) -> None:
    store = TokenStore(path)
    with store.locked():
        ready.set()
        release.wait(10)


def test_lock_excludes_another_process(tmp_path):
    path = str(tmp_path / "tokens.json")
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(path, ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        acquired = threading.Event()

        def take() -> None:
            with TokenStore(path).locked():
                acquired.set()

        thread = threading.Thread(target=take)
        thread.start()
        assert not acquired.wait(0.3)  # blocked while the other process holds the lock
        release.set()
        assert acquired.wait(10)
        thread.join()
    finally:
        release.set()
        proc.join(10)


def _increment(path: str, n: int) -> None:
    store = TokenStore(path)
    for _ in range(n):
        with store.locked() as data:
            entry = data["entries"].get(KEY, {"refresh_token": "0"})
            TokenStore.record(data, KEY, "seed", str(int(entry["refresh_token"]) + 1))
            store.save(data)


def test_concurrent_writers_never_lose_an_update(tmp_path):
    path = str(tmp_path / "tokens.json")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_increment, args=(path, 25)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert TokenStore(path).load()["entries"][KEY]["refresh_token"] == "100"
