import fcntl
import os
import random

import pytest

from tap_quickbooks import cli, limits, records


def test_throttle_delay_honours_retry_after():
    assert limits.throttle_delay(None) == 60
    assert limits.throttle_delay("7") == 7
    assert limits.throttle_delay("garbage") == 60
    assert limits.throttle_delay("-1") == 60


def test_backoff_grows_and_is_capped():
    rng = random.Random(1)
    delays = [limits.backoff_delay(n, rng=rng) for n in range(1, 12)]
    assert 0.5 <= delays[0] <= 1
    assert 4 <= delays[3] <= 8
    assert all(d <= limits.BACKOFF_CAP_SECONDS for d in delays)


def test_rate_limiter_waits_for_the_oldest_slot(monkeypatch):
    now = [1000.0]
    slept = []
    monkeypatch.setattr(limits, "sleep", slept.append)
    limiter = limits.RateLimiter(3, clock=lambda: now[0])
    for _ in range(3):
        limiter.acquire()
    assert slept == []
    now[0] += 10
    limiter.acquire()
    assert slept == [pytest.approx(50.0)]
    limiter.acquire()  # next slot is reserved after the previous reservation
    assert slept[-1] == pytest.approx(50.0)
    now[0] += 70
    limiter.acquire()
    assert len(slept) == 2


def test_strip_nul_everywhere():
    value = {"a\x00": ["x\x00y", {"k": "\x00"}], "n": 1, "b": None}
    assert records.strip_nul(value) == {"a": ["xy", {"k": ""}], "n": 1, "b": None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2015-10-01T16:48:43-07:00", "2015-10-01T23:48:43+00:00"),
        ("2015-11-05T05:45:17-08:00", "2015-11-05T13:45:17+00:00"),
        ("2020-01-01T00:00:00Z", "2020-01-01T00:00:00+00:00"),
        ("2020-01-01T00:00:00", "2020-01-01T00:00:00+00:00"),
    ],
)
def test_utc_iso(text, expected):
    assert records.utc_iso(text) == expected


def test_last_updated():
    assert records.last_updated({"MetaData": {"LastUpdatedTime": "2015-10-01T16:48:43-07:00"}}) == (
        "2015-10-01T23:48:43+00:00"
    )
    assert records.last_updated({}) is None


def test_malloc_is_tuned_unless_the_environment_says_otherwise(monkeypatch):
    from tap_quickbooks import cli

    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.setattr(cli.ctypes, "CDLL", lambda _name: FakeLibc())
    for variable in cli._MALLOPT:
        monkeypatch.delenv(variable, raising=False)
    cli.tune_malloc()
    assert calls == [(-8, 2), (-3, 256 * 1024), (-1, 128 * 1024)]

    calls.clear()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    cli.tune_malloc()
    assert calls == [(-8, 2), (-1, 128 * 1024)]  # glibc reads that one from the environment


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_stdout_pipe_is_widened():
    read_end, write_end = os.pipe()
    saved = os.dup(1)
    try:
        os.dup2(write_end, 1)
        before = fcntl.fcntl(1, fcntl.F_GETPIPE_SZ)
        cli.widen_stdout_pipe()
        after = fcntl.fcntl(1, fcntl.F_GETPIPE_SZ)
    finally:
        os.dup2(saved, 1)
        for fd in (saved, read_end, write_end):
            os.close(fd)
    with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
        expected = min(cli.PIPE_BYTES, int(limit.read()))
    assert after == expected >= before  # Linux's default: 16 pages
