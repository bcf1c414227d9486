"""Every place the tap reaches below singer-sdk's public surface, gathered here.

The SDK's public API cannot express three things the tap needs: bookmarks that move only
at verified points, RECORD lines written without the SDK's per-record walks, and
settings validated (with one-line errors) before the SDK's own schema check. What that
takes from the SDK's private parts is listed in :data:`TOUCH_POINTS`;
`tests/test_sdk_internals.py` names each one, so an SDK upgrade shows at once what it
broke. No other module imports a private SDK name or calls a private SDK method.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Stream, Tap
from singer_sdk.about import MarkdownFormatter
from singer_sdk.helpers._classproperty import classproperty
from singer_sdk.helpers._state import StateWriter, get_state_if_exists
from singer_sdk.helpers._util import utc_now
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Catalog
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage
from singer_sdk.singerlib.json import serialize_json
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

# (owner, attribute): every private SDK name the tap uses, and what for.
TOUCH_POINTS: tuple[tuple[str, str, str], ...] = (
    ("singer_sdk.Stream", "_increment_stream_state", "overridden: no per-record bookmarks"),
    ("singer_sdk.Stream", "_generate_record_messages", "overridden: no per-record walks"),
    ("singer_sdk.Stream", "_write_record_message", "overridden: orjson RECORD lines"),
    ("singer_sdk.Stream", "_write_state_message", "called: STATE at verified points"),
    ("singer_sdk.Stream", "_stream_version", "read: the RECORD version"),
    ("singer_sdk.Stream", "_tap", "read: the tap of a stream (settings, writer, streams)"),
    ("singer_sdk.Stream", "state_manager", "set is_flushed: a STATE is due"),
    ("singer_sdk.Tap", "_env_var_config", "overridden: one-line error for a bad variable"),
    ("singer_sdk.Tap", "_env_var_prefix", "read: TAP_QUICKBOOKS_"),
    ("singer_sdk.Tap", "_validate_config", "overridden: settings validated first"),
    ("singer_sdk.Tap", "_config", "read and normalised before the schema check"),
    ("singer_sdk.helpers._state", "get_state_if_exists", "read another stream's partition"),
    ("singer_sdk.helpers._util", "utc_now", "RECORD time_extracted"),
    ("singer_sdk.helpers._classproperty", "classproperty", "_env_var_config is one"),
    ("singer_sdk.singerlib.encoding.simple", "RecordMessage", "RECORD messages"),
    ("singer_sdk.singerlib.encoding.simple", "Message", "the writer's argument type"),
    ("singer_sdk.singerlib.json", "serialize_json", "the writer's fallback encoding"),
    ("singer_sdk.io_base", "SingerWriter", "the base of the orjson writer"),
    ("singer_sdk.Tap", "_get_about_info", "the README's settings table"),
    ("singer_sdk.about", "MarkdownFormatter", "the README's settings table"),
    ("singer_sdk.Tap", "_catalog", "set while the SDK maps the selected streams"),
    ("singer_sdk.helpers._state", "StateWriter", "the base of the STATE writer"),
    ("singer_sdk.Tap", "_state_writer", "set: STATE encoded once per message"),
)

__all__ = ["Message", "RecordMessage", "SingerWriter", "StateWriter", "serialize_json"]


def about_markdown(tap: type[Tap]) -> str:
    """What `--about --format=markdown` prints for `tap`."""
    return MarkdownFormatter().format_about(tap._get_about_info())


def partition_state(tap: Tap, stream: str, partition: dict[str, t.Any]) -> dict[str, t.Any]:
    """The state of one stream partition as the run started (empty when none)."""
    found = get_state_if_exists(tap.state, stream, state_partition_context=partition)
    return found or {}


class InternalsStream(Stream):
    """The stream-side touch points: bookmark handling and RECORD writing."""

    @property
    def tap(self) -> Tap:
        """The tap this stream belongs to."""
        return self._tap

    def emit_state(self) -> None:
        """Write a STATE message now (after a bookmark moved)."""
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        """Do nothing: bookmarks move only at verified commit points."""

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> t.Generator[RecordMessage, None, None]:
        """Build RECORD messages without the SDK's per-record recursive walks."""
        extracted = utc_now()
        for stream, mapped in self.mapped_records(record):
            yield RecordMessage(
                stream=stream,
                record=mapped,
                version=self._stream_version,
                time_extracted=extracted,
            )

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write RECORD lines straight through the tap's orjson writer (no message objects)."""
        write = getattr(self._tap.message_writer, "write_record", None)  # output.py's writer
        if write is None:
            super()._write_record_message(record)
            return
        extracted = utc_now()
        for stream, mapped in self.mapped_records(record):
            write(stream, mapped, self._stream_version, extracted)
        self.state_manager.is_flushed = False

    def mapped_records(self, record: dict[str, t.Any]) -> Iterator[tuple[str, dict[str, t.Any]]]:
        """`(stream alias, record)` for each stream map that keeps `record`."""
        raise NotImplementedError


class InternalsTap(Tap):
    """The tap-side touch points: settings from the environment and their validation."""

    def use_state_writer(self, writer: StateWriter) -> None:
        """Write STATE messages with `writer` (the SDK's own is used at every tap level)."""
        self._state_writer = writer

    @classproperty
    def _env_var_config(cls) -> dict[str, t.Any]:
        """Settings from `TAP_QUICKBOOKS_*` variables; a bad number is a setting error."""
        try:
            return super()._env_var_config  # type: ignore[no-any-return]
        except ValueError:
            cls.explain_env_var_error(cls._env_var_prefix)
            raise

    @classmethod
    def explain_env_var_error(cls, prefix: str) -> None:
        """Raise a one-line error for the variable the SDK could not read (if found)."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate settings first (one-line errors naming the setting), then the schema."""
        if raise_errors:
            self.prepare_config(self._config)
        return super()._validate_config(raise_errors=raise_errors)

    @override
    def setup_mapper(self) -> None:
        """Register unselected streams with the stream maps by their whole schema.

        The SDK registers an unselected stream with its schema pruned to nothing, so a map over
        every stream (meltano.yml's `'*'` alias) fails on that stream's key properties. Selected
        streams are registered as the SDK does; the others by their whole schema, so a map still
        applies if the stream is selected later.
        """
        catalog = self.catalog
        unselected = [
            entry
            for entry in catalog.values()
            if not entry.metadata.resolve_selection().get((), True)
        ]
        skipped = {entry.tap_stream_id for entry in unselected}
        self._catalog = Catalog((sid, e) for sid, e in catalog.items() if sid not in skipped)
        try:
            super().setup_mapper()
        finally:
            self._catalog = catalog
        for entry in unselected:
            self.mapper.register_raw_stream_schema(
                entry.stream or entry.tap_stream_id, entry.schema.to_dict(), entry.key_properties
            )

    def prepare_config(self, config: dict[str, t.Any]) -> None:
        """Validate and normalise `config` in place before the SDK's schema check."""
