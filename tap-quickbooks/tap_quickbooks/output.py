"""Singer message output: orjson encoding and one flush per non-RECORD message.

The SDK's writer encodes with simplejson and flushes stdout after every message; at
tens of thousands of rows a second that is most of the tap's CPU. RECORD lines are
buffered and every other message (SCHEMA, STATE) flushes, so a STATE line never
reaches the target before the records it covers. Payloads arrive pre-encoded
(`records.RawJSON`) and are copied into the line as they are.

STATE messages carry the whole state: a partition per stream and company. The SDK's state
writer deep-copies it after each message and its message walks it again to encode it, so
with 20 companies (660 partitions, 66 KB of state) and a STATE at every verified point that
was most of the tap's CPU; :class:`FastStateWriter` encodes it once per message instead.
"""

from __future__ import annotations

import sys
import typing as t

import orjson
from typing_extensions import override

from tap_quickbooks.records import encode_default
from tap_quickbooks.sdk_internals import RecordMessage, SingerWriter, StateWriter, serialize_json

if t.TYPE_CHECKING:
    import datetime as dt

    from singer_sdk.helpers.types import TapState

    from tap_quickbooks.sdk_internals import Message


class FastSingerWriter(SingerWriter):
    """orjson-encoded Singer messages (simplejson fallback for unusual values)."""

    @override
    def serialize_message(self, message: Message) -> str:
        return self.encode(message).decode()

    @staticmethod
    def encode(message: Message) -> bytes:
        """One message as JSON bytes (no newline)."""
        data = message.to_dict()
        try:
            return orjson.dumps(data, default=encode_default)
        except TypeError:  # e.g. Decimal from a stream map: keep the SDK's encoding
            return serialize_json(data).encode()

    def write_record(
        self,
        stream: str,
        record: dict[str, t.Any],
        version: int | None,
        time_extracted: dt.datetime,
    ) -> None:
        """Write one RECORD line, as `write_message(RecordMessage(...))` would, but cheaper."""
        data: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            data["version"] = version
        data["time_extracted"] = time_extracted
        try:
            line = orjson.dumps(data, default=encode_default, option=orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            self.write_message(RecordMessage(stream, record, version, time_extracted))
            return
        binary = getattr(sys.stdout, "buffer", None)
        if binary is not None:
            binary.write(line)
        else:
            sys.stdout.write(line.decode())

    @override
    def write_message(self, message: Message) -> None:
        self.write_line(self.encode(message), flush=not isinstance(message, RecordMessage))

    @staticmethod
    def write_line(encoded: bytes, *, flush: bool) -> None:
        """Write one encoded message and a newline (every message goes through here)."""
        line = encoded + b"\n"
        binary = getattr(sys.stdout, "buffer", None)
        if binary is not None:
            binary.write(line)
            if flush:
                binary.flush()
        else:
            sys.stdout.write(line.decode())
            if flush:
                sys.stdout.flush()


class FastStateWriter(StateWriter):
    """STATE messages encoded once each, and only when the state changed (as the SDK's)."""

    def __init__(self, writer: FastSingerWriter) -> None:
        """Write through `writer`."""
        super().__init__(writer)
        self._writer = writer
        self._last: bytes | None = None

    @override
    def write_state(self, state: TapState) -> None:
        try:
            encoded = orjson.dumps({"type": "STATE", "value": state})
        except TypeError:  # a value orjson cannot encode: the SDK's way
            self._last = None
            super().write_state(state)
            return
        if encoded != self._last:
            self._last = encoded
            self._writer.write_line(encoded, flush=True)
