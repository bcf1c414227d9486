"""A Singer reader that parses each RECORD line once, keeping float literals."""

from __future__ import annotations

import typing as t
from collections import Counter, defaultdict

from singer_sdk.singerlib.encoding import SimpleSingerReader
from typing_extensions import override

from target_postgres_fast.encoding import loads_fragments

if t.TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FastSingerReader"]


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

    def _parse(self, line: str) -> dict[str, t.Any]:
        try:
            parsed = loads_fragments(line)
        except ValueError:
            parsed = None
        if (
            isinstance(parsed, dict)
            and parsed.get("type") == "RECORD"
            and isinstance(stream := parsed.get("stream"), str)
            and self._is_fast_stream(stream)
        ):
            return parsed
        return self.deserialize_json(line)

    @override
    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        """Process Singer lines like the stock reader, parsing records once."""
        stats: dict[str, int] = defaultdict(int)
        filein = file_input or self.default_input
        for line in filein:
            self._current_message = line
            line_dict = self._parse(line)
            self.assert_line_requires(line_dict, requires={"type"})
            record_type: str = line_dict["type"]
            if callback := callbacks.get(record_type):
                callback(line_dict)
            else:
                self._process_unknown_message(line_dict)
            stats[record_type] += 1
        return Counter(**stats)
