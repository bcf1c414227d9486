"""The SDK's metrics of a stream, per company: each count carries its own realm.

The SDK keeps one record counter and one sync timer per stream and tags them with the
partition it started last. With several companies that is wrong twice over: records of
every company read at once arrive while the SDK is at its first partition (`realms.py`),
and the count it logs at the end holds every company's records under the last one's
realm. Here each record is counted under its own `realm_id` (the SDK hands every record to
`post_process` just before counting it), and every company of the stream gets its own
`record_count` point; the stream's `sync_duration` is tagged with a realm only when the run
reads one company. `http_request_count` points (requests of one stream and company) come
from the streams themselves, through :func:`log_requests`.

Only the SDK's public metrics API is used (`singer_sdk.metrics`).
"""

from __future__ import annotations

import time
import typing as t

from singer_sdk import metrics
from typing_extensions import override

from tap_quickbooks.sdk_internals import InternalsStream

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from singer_sdk.helpers.types import Context


def realm_context(realm: str) -> dict[str, str]:
    """The `context` tag of one company's metrics (the stream partition it belongs to)."""
    return {"realm_id": realm}


class RealmRecordCounter(metrics.Counter):
    """`record_count` of one stream, one point per company.

    `realm_of()` names the company of the record being counted.
    """

    def __init__(
        self, stream: str, realm_of: Callable[[], str | None], log_interval: float
    ) -> None:
        """Count the records of `stream`."""
        super().__init__(
            metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM: stream}, log_interval=log_interval
        )
        self._realm_of = realm_of
        self._counts: dict[str, int] = {}  # realm -> records since the last point
        self._logged: set[str] = set()

    @override
    def with_context(self, value: Context | None) -> None:
        """Note the partition's company; the count itself follows each record's realm."""
        realm = (value or {}).get("realm_id")
        if realm:
            self._counts.setdefault(str(realm), 0)

    @override
    def increment(self, value: int = 1) -> None:
        """Count `value` records of the company being read."""
        realm = self._realm_of() or ""
        self._counts[realm] = self._counts.get(realm, 0) + value
        self.value += value
        if time.time() - self.last_log_time > self.log_interval:
            self._log(final=False)

    @override
    def exit(self) -> None:
        """Log what is left: one point per company (each company once at least)."""
        self._log(final=True)

    def _log(self, *, final: bool) -> None:
        for realm, count in self._counts.items():
            if count or (final and realm not in self._logged):
                tags = {**self.tags, metrics.Tag.CONTEXT: realm_context(realm)}
                metrics.log(self.logger, metrics.Point("counter", self.metric, count, tags))
                self._logged.add(realm)
        self._counts = dict.fromkeys(self._counts, 0)
        self.value = 0
        self.last_log_time = time.time()


class StreamTimer(metrics.Timer):
    """`sync_duration` of one stream: tagged with a company only when it reads one."""

    def __init__(self, stream: str, realms: t.Sequence[str]) -> None:
        """Time `stream`, which reads `realms`."""
        super().__init__(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: stream})
        self._single = len(realms) == 1

    @override
    def with_context(self, value: Context | None) -> None:
        """Keep the partition only when it is the run's one company."""
        if self._single:
            super().with_context(value)


def log_requests(stream: str, realm: str, endpoint: str, requests: int) -> None:
    """One `http_request_count` point: the requests `stream` sent for company `realm`."""
    with metrics.http_request_counter(stream, endpoint, context=realm_context(realm)) as counter:
        counter.increment(requests)


class RealmCountedStream(InternalsStream):
    """A stream of every configured company whose metrics carry each company's realm."""

    _counted_realm: str | None = None  # the realm of the record the SDK is handling

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Note the record's company: the SDK counts it right after this."""
        self._counted_realm = row.get("realm_id")
        return row

    @override
    def get_record_counter(
        self,
        *,
        endpoint: str | None = None,
        log_interval: float = metrics.DEFAULT_LOG_INTERVAL,
    ) -> metrics.Counter:
        return RealmRecordCounter(self.name, lambda: self._counted_realm, log_interval)

    @override
    def get_sync_timer(self) -> metrics.Timer:
        realms = [str(p.get("realm_id")) for p in self.partitions or []]
        return StreamTimer(self.name, realms)
