"""A Singer reader that parses each RECORD line once, keeping float literals."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import typing as t
from collections import Counter, defaultdict

from singer_sdk.singerlib.encoding import SimpleSingerReader
from typing_extensions import override

from target_postgres_fast.encoding import loads_fragments

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["FastSingerReader", "widen_pipe"]

# Bytes asked for in the pipe the target reads (Linux caps it at fs/pipe-max-size).
PIPE_BYTES = 1024 * 1024


def widen_pipe(stream: t.IO[t.Any]) -> None:
    """Let the pipe the target reads hold about 400 records, not Linux's 64 KB.

    The writer (Meltano relaying the tap) then blocks, and this process wakes, once
    per several hundred lines instead of every 26: a `meltano run` spends noticeably
    less CPU and wall time on the hand-over. A no-op for files, off Linux, or when
    the system refuses.
    """
    try:
        import fcntl  # noqa: PLC0415 (POSIX only)
    except ImportError:
        return
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)  # Linux only
    with contextlib.suppress(
        OSError, ValueError, AttributeError, io.UnsupportedOperation
    ):
        descriptor = stream.fileno()
        if set_size is None or not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            return
        with open("/proc/sys/fs/pipe-max-size", encoding="ascii") as limit:
            size = min(PIPE_BYTES, int(limit.read()))
        fcntl.fcntl(descriptor, set_size, size)


class FastSingerReader(SimpleSingerReader):
    """Reads RECORD lines of fast streams with floats as ``orjson.Fragment``.

    Every other line (SCHEMA, STATE, records of streams that need the stock value
    types) is parsed by the stock reader exactly as before.
    """

    def __init__(self, is_fast_stream: Callable[[str], bool]) -> None:
        """Initialize the reader.

        Args:
            is_fast_stream: tells whether records of a stream may carry fragments.
        """
        super().__init__()
        self._is_fast_stream = is_fast_stream

    def _fast(self, line: str | bytes) -> dict[str, t.Any] | None:
        """The line parsed with fragments, if it is a RECORD of a fast stream."""
        try:
            parsed = loads_fragments(line)
        except ValueError:
            return None
        if (
            isinstance(parsed, dict)
            and parsed.get("type") == "RECORD"
            and isinstance(stream := parsed.get("stream"), str)
            and self._is_fast_stream(stream)
        ):
            return parsed
        return None

    def _lines(self, filein: t.IO[str]) -> Iterator[str | bytes]:
        """Lines of the input, as bytes when the text layer can be bypassed.

        Decoding every line to ``str`` costs as much as parsing it; msgspec reads
        UTF-8 bytes directly. Lines that need the stock reader are decoded as the
        text layer would have: strict UTF-8, universal newlines.
        """
        raw = getattr(filein, "buffer", None)
        if raw is None or getattr(filein, "encoding", "").lower() not in {
            "utf-8",
            "utf8",
        }:
            yield from filein
            return
        for line in raw:
            if b"\r" in line:
                yield from io.StringIO(line.decode(), newline=None)
            else:
                yield line

    @override
    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        """Process Singer lines like the stock reader, parsing records once."""
        stats: dict[str, int] = defaultdict(int)
        filein = file_input or self.default_input
        widen_pipe(filein)
        for line in self._lines(filein):
            line_dict = self._fast(line)
            if line_dict is None:
                text = line.decode() if isinstance(line, bytes) else line
                self._current_message = text
                line_dict = self.deserialize_json(text)
            self.assert_line_requires(line_dict, requires={"type"})
            record_type: str = line_dict["type"]
            if callback := callbacks.get(record_type):
                callback(line_dict)
            else:
                self._process_unknown_message(line_dict)
            stats[record_type] += 1
        return Counter(**stats)
