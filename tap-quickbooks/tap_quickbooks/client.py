"""HTTP glue: one connection per realm (auth, budget, retries, fault mapping).

A `RealmConnection` owns what every stream of one company shares: the access token,
the requests-per-minute budget, the pool of page fetchers (at most
`max_concurrent_requests` in flight) and the HTTP session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import gc
import http.client
import logging
import re
import threading
import time
import typing as t
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.helpers._state import get_state_if_exists
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import RemoveRecordTransform, SameRecordTransform
from singer_sdk.singerlib.encoding.simple import RecordMessage
from typing_extensions import override

from tap_quickbooks import limits, pagination, pipeline, query, realms, records, windows
from tap_quickbooks.auth import REAUTHORIZE_HINT, RealmAuthenticator, Store, open_store
from tap_quickbooks.errors import (
    AuthError,
    QueryFaultError,
    RetriableError,
    RetriesExhaustedError,
    WindowFailedError,
)
from tap_quickbooks.output import FastSingerWriter

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Future

    from singer_sdk.helpers.types import Context

    from tap_quickbooks.settings import Settings

logger = logging.getLogger("tap-quickbooks.client")

_T = t.TypeVar("_T")

# 401s a request answers with a token refresh before it gives up (the app needs re-authorizing).
MAX_REFRESHES_PER_REQUEST = 2

_XML_DETAIL = re.compile(r"<Detail>(.*?)</Detail>", re.S)
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


@dataclass
class RequestStats:
    """Counters for the volumetry summary (thread-safe increments)."""

    requests: int = 0
    retries: int = 0
    throttles: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, *, requests: int = 0, retries: int = 0, throttles: int = 0) -> None:
        """Add to the counters."""
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttles += throttles


def fault_detail(body: bytes, limit: int = 500) -> str:
    """Intuit's Fault Message/Detail from a JSON or XML error body, as one line."""
    parts: list[str] = []
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        parts = [m.strip() for rx in (_XML_MESSAGE, _XML_DETAIL) for m in rx.findall(text)]
    else:
        if isinstance(data, dict):
            fault = data.get("Fault") or data.get("fault") or {}
            errors = (
                fault.get("Error") or fault.get("error") or [] if isinstance(fault, dict) else []
            )
            for error in errors if isinstance(errors, list) else []:
                if not isinstance(error, dict):
                    continue
                code = error.get("code")
                message = error.get("Message") or error.get("message")
                detail = error.get("Detail") or error.get("detail")
                parts.append(" ".join(str(p) for p in (code and f"[{code}]", message, detail) if p))
    line = " | ".join(p for p in parts if p) or "(no detail in the response body)"
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


class _GcPause:
    """Pause the cyclic garbage collector while any holder is inside (nested, thread-safe).

    A page of 1000 invoices parses into about 100,000 dicts and lists. With the collector
    on, allocating them triggers collections that walk every container still alive (the
    page being parsed and the pages waiting for their turn): about half of the tap's
    CPU. Parsed pages hold no reference cycles and are freed by reference counting as
    soon as their payloads are encoded, so nothing accumulates while it is paused.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._was_enabled:
                    gc.enable()


gc_paused = _GcPause()


_DECODING = threading.Lock()


class RealmConnection:
    """Authenticated, rate-limited, retrying access to one company's API."""

    def __init__(self, settings: Settings, realm_id: str, store: Store) -> None:
        """Prepare the connection; nothing is requested until the first call."""
        self.settings = settings
        self.realm_id = realm_id
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=settings.max_concurrent_requests + 2)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.auth = RealmAuthenticator(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            realm_id=realm_id,
            refresh_token=settings.refresh_tokens[realm_id],
            auth_url=settings.auth_url,
            store=store,
            session=self.session,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            user_agent=settings.user_agent,
        )
        self.limiter = limits.RateLimiter(settings.max_requests_per_minute)
        # One response body is parsed and converted at a time in the whole run, whichever
        # realm it is from (parsing holds the GIL anyway): pages in flight wait as bytes,
        # never as parsed trees, however many companies are read at once.
        self._decoding = _DECODING
        self.executor = ThreadPoolExecutor(
            max_workers=settings.max_concurrent_requests,
            thread_name_prefix=f"qbo-{realm_id}",
        )
        self.base = f"{settings.api_url}/v3/company/{realm_id}"
        # Requests of every pipeline of this realm not answered yet (at most
        # max_concurrent_requests together), and the pipeline of the stream that runs next,
        # started while the current one finishes: stream name -> (pipeline, its counters).
        self.in_flight: set[Future[t.Any]] = set()
        self.prefetched: dict[str, tuple[pipeline.WindowPipeline[t.Any], RequestStats]] = {}

    def close(self) -> None:
        """Stop the fetchers and close the session."""
        for run, _ in self.prefetched.values():
            run.close()
        self.prefetched.clear()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.session.close()

    def request_payload(self, endpoint: str, params: dict[str, t.Any]) -> dict[str, t.Any]:
        """What a record says about the request that produced it (never a token)."""
        return {
            "endpoint": f"{self.base}/{endpoint}",
            **params,
            "minorversion": self.settings.minor_version,
        }

    def get(self, endpoint: str, params: dict[str, t.Any], stats: RequestStats) -> dict[str, t.Any]:
        """GET `<base>/<endpoint>` and return the parsed JSON object, retrying as needed."""
        return self.get_decoded(endpoint, params, stats, _unchanged)

    def get_decoded(
        self,
        endpoint: str,
        params: dict[str, t.Any],
        stats: RequestStats,
        decode: Callable[[dict[str, t.Any]], _T],
        decode_body: Callable[[bytes], _T | None] | None = None,
    ) -> _T:
        """GET `<base>/<endpoint>` and return `decode(<parsed JSON object>)`, retrying.

        `decode` runs right after parsing, under the connection's decoding lock, so
        that only one parsed response is alive however many requests are in flight.
        `decode_body`, when given, is tried first on the raw body of a 200 without an
        escaped NUL; it returns None when the body is not what it expects (a fault,
        invalid JSON, an unusual shape), and the body is then parsed as usual.
        """
        url = f"{self.base}/{endpoint}"
        query = {**params, "minorversion": self.settings.minor_version}
        attempt = 0
        refreshed = 0  # 401s answered by a refresh, for this request
        while True:
            token, generation = self.auth.token()
            self.limiter.acquire()
            stats.add(requests=1)
            try:
                result = self._attempt(url, query, token, decode, decode_body)
            except _Unauthorized:
                # Another request may expire the token this one just refreshed (it saw a 401
                # too, later): one more refresh is normal; a third 401 in a row is not.
                if refreshed >= MAX_REFRESHES_PER_REQUEST:
                    msg = (
                        f"QuickBooks rejected a freshly refreshed access token (401) for realm "
                        f"{self.realm_id}: {REAUTHORIZE_HINT}"
                    )
                    raise AuthError(msg) from None
                logger.info("Access token rejected (401) for realm %s; refreshing", self.realm_id)
                self.auth.refresh_after_401(generation)
                refreshed += 1
                continue
            if not isinstance(result, RetriableError):
                return result
            error = result
            attempt += 1
            if attempt > self.settings.max_retries:
                msg = (
                    f"{error} (realm {self.realm_id}, {endpoint}); gave up after "
                    f"{self.settings.max_retries} retries (setting max_retries)"
                )
                raise RetriesExhaustedError(msg)
            stats.add(retries=1, throttles=int(error.throttled))
            delay = error.wait if error.wait is not None else limits.backoff_delay(attempt)
            logger.warning(
                "%s (realm %s, %s); retry %d/%d in %.1f s",
                error,
                self.realm_id,
                endpoint,
                attempt,
                self.settings.max_retries,
                delay,
            )
            limits.sleep(delay)

    def _attempt(
        self,
        url: str,
        query: dict[str, t.Any],
        token: str,
        decode: Callable[[dict[str, t.Any]], _T],
        decode_body: Callable[[bytes], _T | None] | None,
    ) -> _T | RetriableError:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self.settings.user_agent,
        }
        try:
            # stream=True + one raw read: the body arrives in a few large reads instead of
            # hundreds of 10 KB chunks (which cost CPU and GIL churn under concurrency).
            response = self.session.get(
                url,
                params=query,
                headers=headers,
                timeout=self.settings.request_timeout,
                stream=True,
            )
        except requests.Timeout:
            return RetriableError(f"request timed out after {self.settings.request_timeout:g} s")
        except requests.RequestException as exc:
            return RetriableError(
                f"connection failed ({type(exc).__name__}) to api_url {self.settings.api_url}"
            )
        try:
            body = response.raw.read(decode_content=True)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            response.close()
            return RetriableError(f"response body cut off ({type(exc).__name__})")
        response.raw.release_conn()
        status = response.status_code
        if status == 200:
            with self._decoding:
                if decode_body is not None and b"\\u0000" not in body:
                    fast = decode_body(body)
                    if fast is not None:
                        return fast
                try:
                    data = orjson.loads(body)
                except orjson.JSONDecodeError:
                    return RetriableError("truncated or invalid JSON in a 200 response")
                if not isinstance(data, dict):
                    return RetriableError("unexpected JSON in a 200 response")
                if b"\\u0000" in body:  # a NUL escaped in some string (rare): strip them all
                    data = records.strip_nul(data)
                if "Fault" in data:
                    msg = f"QuickBooks returned a fault: {fault_detail(body)}"
                    raise QueryFaultError(msg)
                decoded = decode(data)
                del data  # freed before the next response is parsed
            return decoded
        if status == 401:
            raise _Unauthorized
        if status == 429:
            return RetriableError(
                "throttled by QuickBooks (HTTP 429)",
                throttled=True,
                wait=limits.throttle_delay(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return RetriableError(f"HTTP {status} from QuickBooks")
        if status == 403:
            msg = (
                f"QuickBooks denied access to realm {self.realm_id} (HTTP 403): the refresh token "
                "belongs to another company or environment; check realm_id, environment and "
                f"refresh_token. {fault_detail(body)}"
            )
            raise AuthError(msg)
        msg = f"QuickBooks rejected the request (HTTP {status}): {fault_detail(body)}"
        raise QueryFaultError(msg)

    # QBO operations

    def query(self, text: str, stats: RequestStats) -> dict[str, t.Any]:
        """Run one query statement and return its `QueryResponse` object."""
        return self.query_decoded(text, stats, _unchanged)

    def query_decoded(
        self,
        text: str,
        stats: RequestStats,
        decode: Callable[[dict[str, t.Any]], _T],
        decode_body: Callable[[bytes], _T | None] | None = None,
    ) -> _T:
        """Run one query statement and return `decode(<its QueryResponse object>)`.

        `decode_body`: see :meth:`get_decoded`.
        """

        def decode_response(data: dict[str, t.Any]) -> _T:
            response = data.get("QueryResponse")
            if not isinstance(response, dict):
                msg = "QuickBooks answered a query without a QueryResponse"
                raise QueryFaultError(msg)
            return decode(response)

        return self.get_decoded("query", {"query": text}, stats, decode_response, decode_body)

    def count(self, text: str, stats: RequestStats) -> int:
        """Run a `SELECT COUNT(*)` statement."""
        total = self.query(text, stats).get("totalCount", 0)
        if not isinstance(total, int) or total < 0:
            msg = f"QuickBooks answered COUNT(*) with {total!r}"
            raise QueryFaultError(msg)
        return total

    def cdc(
        self, entity: str, since: dt.datetime, stats: RequestStats
    ) -> tuple[list[dict[str, t.Any]], dict[str, t.Any], dt.datetime | None]:
        """Changes of `entity` since `since`, the request payload, and QBO's answer `time` (UTC)."""
        params = {
            "entities": entity,
            "changedSince": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        data = self.get("cdc", params, stats)
        objects: list[dict[str, t.Any]] = []
        for cdc in data.get("CDCResponse") or []:
            for response in (cdc or {}).get("QueryResponse") or []:
                rows = (response or {}).get(entity) or []
                objects.extend(row for row in rows if isinstance(row, dict))
        server_time = None
        if isinstance(data.get("time"), str):
            try:
                server_time = dt.datetime.fromisoformat(records.utc_iso(data["time"]))
            except ValueError:
                server_time = None
        return objects, self.request_payload("cdc", params), server_time


class _Unauthorized(Exception):
    pass


def _unchanged(data: dict[str, t.Any]) -> dict[str, t.Any]:
    return data


class Connections:
    """The realm connections of one tap run (shared by all its streams)."""

    def __init__(self, settings: Settings) -> None:
        """One token store for the run; connections are opened on first use."""
        self.settings = settings
        self.store = open_store(settings.token_store_path, settings.token_store_url)
        self._by_realm: dict[str, RealmConnection] = {}
        self._lock = threading.Lock()
        # Windows end here (whole seconds) unless end_date says otherwise.
        self.run_started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def get(self, realm_id: str) -> RealmConnection:
        """The connection for `realm_id`."""
        with self._lock:
            if realm_id not in self._by_realm:
                self._by_realm[realm_id] = RealmConnection(self.settings, realm_id, self.store)
            return self._by_realm[realm_id]

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            for connection in self._by_realm.values():
                connection.close()
            self._by_realm.clear()


_REGISTRY: weakref.WeakKeyDictionary[object, Connections] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def close_connections(owner: object) -> None:
    """Close the connections of `owner` (end of its run), if it opened any."""
    with _REGISTRY_LOCK:
        found = _REGISTRY.pop(owner, None)
    if found is not None:
        found.close()


def connections_for(owner: object, settings: Settings) -> Connections:
    """The `Connections` shared by everything belonging to `owner` (the tap instance)."""
    with _REGISTRY_LOCK:
        found = _REGISTRY.get(owner)
        if found is None:
            found = _REGISTRY[owner] = Connections(settings)
        return found


# The base stream ------------------------------------------------------------------------

CHUNK_PAGES = 25  # pages between two verifying COUNT(*) requests (and bookmark commits)
MAX_CHURN_RESTARTS = 5  # restarts of a window in a row without the bookmark moving

ENVELOPE_SCHEMA = th.PropertiesList(
    th.Property("realm_id", th.StringType, required=True, description="QuickBooks company id"),
    th.Property("id", th.StringType, required=True, description="QBO `Id`"),
    th.Property("sync_token", th.StringType, description="QBO `SyncToken` (null on tombstones)"),
    th.Property(
        "last_updated_time",
        th.DateTimeType,
        required=True,
        description="`MetaData.LastUpdatedTime` in UTC (the replication key)",
    ),
    th.Property("payload", th.ObjectType(), description="The whole QBO object as returned"),
    th.Property("ingested_at_utc", th.DateTimeType),
    th.Property("extract_window_start_utc", th.DateTimeType),
    th.Property("extract_window_end_utc", th.DateTimeType),
    th.Property("page_number", th.IntegerType),
    th.Property("page_size", th.IntegerType),
    th.Property("request_payload", th.ObjectType(), description="Query text and paging; no token"),
    th.Property("_sdc_deleted_at", th.DateTimeType, description="Set on CDC tombstones only"),
).to_dict()


@dataclass
class StreamTotals:
    """Volumetry of one stream and realm."""

    rows: int = 0
    windows: int = 0
    restarts: int = 0
    tombstones: int = 0


class QuickBooksStream(Stream):
    """A QBO entity read by LastUpdatedTime windows with verified, concurrent offset paging.

    Bookmarks move only at verified points: after a chunk of pages has been emitted and
    a second COUNT(*) of the window shows that no row left it meanwhile (in a window that
    ends before the run started rows can only leave, so an unchanged count proves that no
    offset shifted). The SDK's per-record state increment is disabled.
    """

    entity: t.ClassVar[str]
    include_inactive: t.ClassVar[bool] = False
    primary_keys: t.ClassVar[list[str]] = ["realm_id", "id"]
    replication_key = "last_updated_time"
    is_sorted = True
    schema = ENVELOPE_SCHEMA
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are built JSON-ready

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up per-run bookkeeping."""
        super().__init__(*args, **kwargs)
        self._committed: dict[str, dt.datetime] = {}
        self._deselected: tuple[str, ...] | None = None
        self._maps_read_payload: bool | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings of the tap."""
        return self._tap.settings  # type: ignore[attr-defined, no-any-return]

    @property
    def connections(self) -> Connections:
        """The realm connections shared by every stream of this run."""
        return connections_for(self._tap, self.settings)

    @property
    @override
    def partitions(self) -> list[dict[str, t.Any]] | None:
        return [{"realm_id": realm} for realm in self.settings.realm_ids]

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        """Do nothing: bookmarks move only at verified commit points (`_commit`)."""

    @override
    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Decode the pre-encoded payload when a stream map has to look inside it.

        This runs before the SDK evaluates map filters, so filters see it decoded too.
        """
        if self._maps_read_payload is None:
            self._maps_read_payload = self._stream_maps_read_payload()
        if self._maps_read_payload:
            payload = row.get("payload")
            if isinstance(payload, records.RawJSON):
                row["payload"] = payload.value()
        return row

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> t.Generator[RecordMessage, None, None]:
        """Build RECORD messages without the SDK's per-record recursive walks."""
        extracted = utc_now()
        for stream, mapped in self._mapped_records(record):
            yield RecordMessage(
                stream=stream,
                record=mapped,
                version=self._stream_version,
                time_extracted=extracted,
            )

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """Write RECORD lines straight through the tap's orjson writer (no message objects)."""
        writer = self._tap.message_writer
        if not isinstance(writer, FastSingerWriter):
            super()._write_record_message(record)
            return
        extracted = utc_now()
        for stream, mapped in self._mapped_records(record):
            writer.write_record(stream, mapped, self._stream_version, extracted)
        self.state_manager.is_flushed = False

    def _mapped_records(self, record: dict[str, t.Any]) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
        """`(stream alias, record)` for each stream map that keeps the record.

        Records are built JSON-ready, and `payload` is one opaque object (left
        pre-encoded unless a stream map reads it, see `post_process`), so only
        top-level deselection is applied (once the selection is known to need it).
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

    def _stream_maps_read_payload(self) -> bool:
        """True when a stream map flattens records or evaluates an expression or filter.

        Renaming the stream (`__alias__`, `__source__`), removing properties or the stream
        and `__key_properties__` never look inside a record's values.
        """
        maps = self.stream_maps
        if any(stream_map.flattening_enabled for stream_map in maps):
            return True
        if all(isinstance(m, SameRecordTransform | RemoveRecordTransform) for m in maps):
            return False
        mapper = self._tap.mapper
        for key, definition in (mapper.stream_maps_dict if mapper else {}).items():
            if not isinstance(definition, dict):
                continue
            if not fnmatch.fnmatchcase(self.name, str(definition.get("__source__", key))):
                continue
            for prop, expression in definition.items():
                if prop in {"__alias__", "__source__", "__key_properties__"}:
                    continue
                if expression is not None and expression != "__NULL__":
                    return True
        return False

    def _bookmark(self, context: Context) -> dt.datetime | None:
        return self._bookmark_in(self.get_context_state(context))

    def _bookmark_in(self, state: dict[str, t.Any]) -> dt.datetime | None:
        value = state.get("replication_key_value")
        if value and state.get("replication_key") == self.replication_key:
            try:
                return windows.to_utc(dt.datetime.fromisoformat(str(value)))
            except ValueError:
                self.logger.warning("Ignoring unreadable bookmark %r", value)
        return None

    def _commit(self, context: Context, value: str) -> None:
        """Move the bookmark to `value` (never backwards) and emit STATE."""
        realms.on_sync_thread(lambda: self._commit_now(context, value))

    def _commit_now(self, context: Context, value: str) -> None:
        realm = context["realm_id"]
        moment = dt.datetime.fromisoformat(value)
        if realm in self._committed and moment <= self._committed[realm]:
            return
        self._committed[realm] = moment
        state = self.get_context_state(context)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _plan(
        self, bookmark: dt.datetime | None
    ) -> tuple[dt.datetime, dt.datetime, list[windows.Window]]:
        """`(start, end, windows)` of a run from `bookmark`."""
        settings = self.settings
        start = max(settings.start_date, bookmark) if bookmark else settings.start_date
        end = settings.end_date or self.connections.run_started_at
        return start, end, windows.plan_windows(start, end, settings.window_days)

    def _pipeline(
        self,
        conn: RealmConnection,
        plan: list[windows.Window],
        stats: RequestStats,
        committed: dt.datetime | None,
    ) -> pipeline.WindowPipeline[dict[str, t.Any]]:
        settings = self.settings
        inactive = self.include_inactive

        def count(window: windows.Window) -> int:
            text = query.count_query(self.entity, window.range, include_inactive=inactive)
            return conn.count(text, stats)

        return pipeline.WindowPipeline(
            plan,
            count=count,
            fetch=self._page_fetcher(conn, stats),
            mark=_last_updated,
            executor=conn.executor,
            max_in_flight=settings.max_concurrent_requests,
            page_size=settings.page_size,
            chunk_pages=CHUNK_PAGES,
            max_churn_restarts=MAX_CHURN_RESTARTS,
            committed=committed,
            in_flight=conn.in_flight,
        )

    def _prefetch_next(self, context: Context) -> pipeline.WindowPipeline[t.Any] | None:
        """Prepare the pipeline of the stream and realm the SDK syncs after this one."""
        # Realms read at once: the same realm's next stream (each realm has its own reader).
        same_realm = realms.active(self)
        order = [
            (stream, partition)
            for stream in self._tap.streams.values()
            if isinstance(stream, QuickBooksStream) and stream.selected
            for partition in stream.partitions or []
            if not same_realm or partition["realm_id"] == context["realm_id"]
        ]
        here = [i for i, (s, c) in enumerate(order) if s is self and c == dict(context)]
        if not here or here[0] + 1 >= len(order):
            return None
        stream, partition = order[here[0] + 1]
        realm = partition["realm_id"]
        conn = stream.connections.get(realm)
        state = get_state_if_exists(self._tap.state, stream.name, state_partition_context=partition)
        bookmark = stream._bookmark_in(state or {})
        _, _, plan = stream._plan(bookmark)
        if not plan:
            return None
        stats = RequestStats()
        run = stream._pipeline(conn, plan, stats, bookmark)
        old = conn.prefetched.pop(stream.name, None)
        if old is not None:
            old[0].close()
        conn.prefetched[stream.name] = (run, stats)
        return run

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        if realms.active(self):
            yield from realms.records(self, dict(context), self._realm_records)
        else:
            yield from self._realm_records(context)

    def _realm_records(self, context: Context) -> t.Iterator[dict[str, t.Any]]:
        """The records of one realm (its windows, then `after_windows`)."""
        realm = context["realm_id"]
        conn = self.connections.get(realm)
        totals = StreamTotals()
        started = time.monotonic()

        bookmark = self._bookmark(context)
        if bookmark is not None:
            self._committed[realm] = bookmark
        start, end, plan = self._plan(bookmark)
        self.logger.info(
            "Extracting %s for realm %s from %s to %s in %d windows",
            self.name,
            realm,
            start.isoformat(),
            end.isoformat(),
            len(plan),
        )
        # Started while the previous stream finished, for this very plan (else dropped).
        first, stats = conn.prefetched.pop(self.name, (None, RequestStats()))
        if first is not None and (first.plan, first.committed) != (plan, bookmark):
            first.close()
            first, stats = None, RequestStats()
        with gc_paused():
            yield from self._sync_windows(conn, context, plan, stats, totals, first)
            yield from self.after_windows(conn, context, bookmark, stats, totals)

        self.logger.info(
            "Summary %s realm=%s rows=%d windows=%d requests=%d retries=%d throttles=%d "
            "restarts=%d tombstones=%d seconds=%.1f",
            self.name,
            realm,
            totals.rows,
            totals.windows,
            stats.requests,
            stats.retries,
            stats.throttles,
            totals.restarts,
            totals.tombstones,
            time.monotonic() - started,
        )

    def after_windows(
        self,
        conn: RealmConnection,
        context: Context,
        bookmark_at_start: dt.datetime | None,
        stats: RequestStats,
        totals: StreamTotals,
    ) -> t.Iterable[dict[str, t.Any]]:
        """Extra records after the windows (invoices: CDC tombstones)."""
        return ()

    def _sync_windows(
        self,
        conn: RealmConnection,
        context: Context,
        plan: list[windows.Window],
        stats: RequestStats,
        totals: StreamTotals,
        first: pipeline.WindowPipeline[dict[str, t.Any]] | None = None,
    ) -> t.Iterator[dict[str, t.Any]]:
        """Emit every row of the windows in order, committing at verified points.

        A window that keeps failing is retried from the last verified bookmark (with a
        back-off) until it fails `max_window_failures` times in a row. `first`: the
        pipeline for `plan` if one was started already.
        """
        realm = context["realm_id"]
        settings = self.settings
        todo = list(plan)
        failures = 0
        started = time.monotonic()
        successor = self._prefetch_next(context)
        while todo:
            conn.auth.clear_failure()  # a failed token refresh is tried again per attempt
            run = first or self._pipeline(conn, todo, stats, self._committed.get(realm))
            first = None
            run.successor = successor
            try:
                for event in run:
                    if isinstance(event, list):
                        yield from event
                    elif isinstance(event, pipeline.Verified):
                        self._commit(context, event.value)
                    elif isinstance(event, pipeline.WindowDone):
                        todo.pop(0)
                        failures = 0
                        totals.windows += 1
                        totals.rows += event.rows
                        self.logger.info(
                            "Window %s realm=%s window=%s pages=%d rows=%d seconds=%.2f",
                            self.name,
                            realm,
                            event.window.label,
                            event.pages,
                            event.rows,
                            time.monotonic() - started,
                        )
                        started = time.monotonic()
                        gc.collect(0)  # the few cycles a window leaves (e.g. retried errors)
                    else:
                        totals.restarts += 1
                        self.logger.info(
                            "%s realm=%s: COUNT(*) changed %d -> %d while paging %s; re-reading "
                            "from the last verified bookmark %s",
                            self.name,
                            realm,
                            event.expected,
                            event.found,
                            event.paged.label,
                            event.resume.start.isoformat(),
                        )
            except (RetriesExhaustedError, WindowFailedError) as exc:
                failures += 1
                resume = todo[0].starting_at(self._committed.get(realm, todo[0].start))
                if failures >= settings.max_window_failures:
                    msg = (
                        f"{self.name}, realm {realm}: window {resume.label} failed "
                        f"{failures} times in a row (setting max_window_failures); last error: "
                        f"{exc}. State is kept at the last verified bookmark; rerun to resume "
                        f"from {resume.start.isoformat()}"
                    )
                    raise WindowFailedError(msg) from None
                delay = limits.backoff_delay(failures + 2)
                self.logger.warning(
                    "%s realm=%s window %s failed (%d/%d): %s; retrying the window in %.0f s",
                    self.name,
                    realm,
                    resume.label,
                    failures,
                    settings.max_window_failures,
                    exc,
                    delay,
                )
                limits.sleep(delay)

    def _page_fetcher(
        self, conn: RealmConnection, stats: RequestStats
    ) -> t.Callable[[windows.Window, pagination.Page], list[dict[str, t.Any]]]:
        realm = conn.realm_id
        entity = self.entity
        page_size = self.settings.page_size

        def fetch(window: windows.Window, page: pagination.Page) -> list[dict[str, t.Any]]:
            window_start = window.start.isoformat()
            window_end = window.end.isoformat()
            text = query.select_query(
                entity,
                window.range,
                start_position=page.start_position,
                max_results=page.max_results,
                include_inactive=self.include_inactive,
            )
            request_payload = conn.request_payload(
                "query",
                {
                    "query": text,
                    "start_position": page.start_position,
                    "max_results": page.max_results,
                },
            )

            def envelopes(
                rows: t.Iterable[tuple[t.Any, t.Any, str | None, records.RawJSON]],
            ) -> list[dict[str, t.Any]]:
                # One record per `(id, sync token, last updated, payload)` of the page.
                ingested = dt.datetime.now(dt.UTC).isoformat()
                return [
                    {
                        "realm_id": realm,
                        "id": row_id,
                        "sync_token": sync_token,
                        "last_updated_time": last_updated,
                        "payload": payload,
                        "ingested_at_utc": ingested,
                        "extract_window_start_utc": window_start,
                        "extract_window_end_utc": window_end,
                        "page_number": page.number,
                        "page_size": page_size,
                        "request_payload": request_payload,
                        "_sdc_deleted_at": None,
                    }
                    for row_id, sync_token, last_updated, payload in rows
                ]

            def spliced(body: bytes) -> list[dict[str, t.Any]] | None:
                # Each payload is the row's bytes as received: nothing is parsed beyond the
                # few envelope fields, nothing re-encoded. None: parse the page as a whole.
                rows = records.split_page(body, entity)
                if rows is None:
                    return None
                return envelopes(
                    (head.Id, head.SyncToken, head.last_updated(), records.RawJSON(data))
                    for head, data in rows
                )

            def parsed(response: dict[str, t.Any]) -> list[dict[str, t.Any]]:
                # Each payload is encoded here, once: the parsed page is dropped right after.
                return envelopes(
                    (
                        obj.get("Id"),
                        obj.get("SyncToken"),
                        records.last_updated(obj),
                        records.RawJSON.encode(obj),
                    )
                    for obj in response.get(entity) or []
                    if isinstance(obj, dict)
                )

            return conn.query_decoded(text, stats, parsed, spliced)

        return fetch


def _last_updated(rows: list[dict[str, t.Any]]) -> str | None:
    """The replication key of the last of `rows` that has one."""
    for row in reversed(rows):
        value = row["last_updated_time"]
        if value:
            return t.cast("str", value)
    return None
