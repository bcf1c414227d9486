"""The reader's input pipe."""

from __future__ import annotations

import fcntl
import os

import pytest

from target_postgres_fast.reader import PIPE_BYTES, widen_pipe


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="Linux pipes only")
def test_input_pipe_is_widened() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as reader:
        before = fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ)
        widen_pipe(reader)
        after = fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ)
    os.close(write_end)
    with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
        expected = min(PIPE_BYTES, int(limit.read()))
    assert after == expected >= before  # Linux's default: 16 pages
