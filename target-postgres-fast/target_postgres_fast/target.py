"""target-postgres with the fast sink; settings and behaviour are the stock ones."""

from __future__ import annotations

import typing as t

from singer_sdk.mapper import CustomStreamMap, SameRecordTransform
from target_postgres.target import TargetPostgres

from target_postgres_fast.reader import FastSingerReader
from target_postgres_fast.sinks import FastPostgresSink

if t.TYPE_CHECKING:
    from pathlib import PurePath

__all__ = ["TargetPostgresFast"]


class TargetPostgresFast(TargetPostgres):
    """MeltanoLabs target-postgres 0.8.1 with a faster sink.

    The plugin keeps the stock name and settings, so it is a drop-in replacement.
    """

    package_name = "target-postgres-fast"
    default_sink_class = FastPostgresSink

    def __init__(
        self,
        config: dict[str, t.Any] | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
    ) -> None:
        """Initialize the target (see ``TargetPostgres``)."""
        super().__init__(
            config=config,
            parse_env_config=parse_env_config,
            validate_config=validate_config,
        )
        self.message_reader = FastSingerReader(self._is_fast_stream)

    def _is_alias_only(self, stream_name: str) -> bool:
        maps = self.config.get("stream_maps") or {}
        transform = maps.get(stream_name)
        return isinstance(transform, dict) and set(transform) <= {"__alias__"}

    def _is_fast_stream(self, stream_name: str) -> bool:
        """Whether RECORDs of a stream may be read with float fragments.

        True only when every map of the stream passes records through untouched
        (no expressions, no flattening) into a fast sink that does not look at
        values before converting them.
        """
        stream_maps = self.mapper.stream_maps.get(stream_name)
        if not stream_maps:
            return False
        for stream_map in stream_maps:
            if stream_map.flattening_enabled:
                return False
            if not (
                type(stream_map) is SameRecordTransform
                or (
                    type(stream_map) is CustomStreamMap
                    and self._is_alias_only(stream_name)
                )
            ):
                return False
            sink = self._sinks_active.get(stream_map.stream_alias)
            if not isinstance(sink, FastPostgresSink) or not sink.accepts_fragments:
                return False
        return True
