"""The base of every stream: one partition per company, the tap's settings and connections.

Entity streams (`client.QuickBooksStream`) and report streams (`report_streams.ReportStream`)
are read differently but share what this class holds: the validated settings, the realm
connections of the run, a partition per configured realm, and how records are mapped.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_quickbooks.connection import Connections, connections_for
from tap_quickbooks.realm_metrics import RealmCountedStream

if t.TYPE_CHECKING:
    from tap_quickbooks.settings import Settings


class RealmStream(RealmCountedStream):
    """A stream partitioned by company (`{"realm_id": …}`), on the run's shared connections.

    Its metrics count each company apart (`realm_metrics.RealmCountedStream`).
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up per-run bookkeeping."""
        super().__init__(*args, **kwargs)
        self._deselected: tuple[str, ...] | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings of the tap."""
        return self.tap.settings  # type: ignore[attr-defined, no-any-return]

    @property
    def connections(self) -> Connections:
        """The realm connections shared by every stream of this run."""
        return connections_for(self.tap, self.settings)

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"realm_id": realm} for realm in self.settings.realm_ids]

    def drop_realm(self, context: dict[str, t.Any]) -> None:
        """Let go of what was read ahead for the company of `context` (it will not be read).

        Companies read at once (`realms.py`): called, instead of reading, for a company whose
        authorization failed in an earlier stream.
        """

    @override
    def mapped_records(self, record: dict[str, t.Any]) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
        """`(stream alias, record)` for each stream map that keeps the record.

        Records are built JSON-ready, and `payload` is one opaque object (an entity stream
        leaves it pre-encoded unless a stream map reads it), so only top-level deselection is
        applied (once the selection is known to need it).
        """
        if self._deselected is None:
            self._deselected = tuple(
                name for name in self.schema["properties"] if not self.mask[("properties", name)]
            )
        for name in self._deselected:
            record.pop(name, None)
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield stream_map.stream_alias, mapped
