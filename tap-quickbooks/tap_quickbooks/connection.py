"""The connection: one per realm (HTTP, auth, budget, retries, fault mapping).

Nothing here knows about streams or records: it sends GET queries, `/batch` and `/cdc`
requests and returns what QuickBooks answered.

A `RealmConnection` owns what every stream of one company shares: the access token,
the requests-per-minute budget, the pool of page fetchers and the HTTP session. Every
request of the company (queries, `/batch`, `/cdc`, reports) goes through
:meth:`RealmConnection.get_decoded`, which holds one of the company's
`max_concurrent_requests` request slots from its budget wait until its body is read: the
cap holds whichever thread sends it (a fetcher, a prefetched pipeline, the planning
requests, a report, the SDK's thread).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import http.client
import logging
import re
import threading
import typing as t
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter

from tap_quickbooks import limits, pipeline, records
from tap_quickbooks.auth import REAUTHORIZE_HINT, RealmAuthenticator, Store, open_store
from tap_quickbooks.errors import (
    AuthError,
    QueryFaultError,
    RetriableError,
    RetriesExhaustedError,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from concurrent.futures import Future

    from tap_quickbooks.realm_plan import RealmPlan
    from tap_quickbooks.settings import Settings

logger = logging.getLogger("tap-quickbooks.client")

_T = t.TypeVar("_T")

# 401s a request answers with a token refresh before it gives up (the app needs re-authorizing).
MAX_REFRESHES_PER_REQUEST = 2
MAX_BATCH_ITEMS = 30  # Intuit: at most 30 statements per /batch request (PROTOCOL §11)
BATCH_PER_MINUTE = 35  # Intuit: 40 /batch requests per minute per realm and app, with a margin
CDC_MAX_OBJECTS = 1000  # Intuit: a /cdc answer holds at most 1,000 objects (PROTOCOL §8)

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


# One response body is parsed at a time in the whole run (parsing holds the GIL anyway):
# pages in flight wait as bytes, however many companies are read at once.
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
        # Intuit also limits /batch requests: 40 per minute per realm and app (PROTOCOL §7).
        self.batch_limiter = limits.RateLimiter(BATCH_PER_MINUTE)
        # One response body is parsed and converted at a time (parsing holds the GIL
        # anyway): pages in flight wait as bytes, never as parsed trees.
        self._decoding = _DECODING  # one for the whole run, whichever realm
        self.executor = ThreadPoolExecutor(
            max_workers=settings.max_concurrent_requests,
            thread_name_prefix=f"qbo-{realm_id}",
        )
        # The company's request slots: a request holds one from its budget wait until its
        # body is read (Intuit: at most 10 requests of a company at once, PROTOCOL §7).
        self._slots = threading.BoundedSemaphore(settings.max_concurrent_requests)
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

    def post(self, endpoint: str, body: bytes, stats: RequestStats) -> dict[str, t.Any]:
        """POST the JSON `body` to `<base>/<endpoint>` and return the parsed answer, retrying.

        Only `/batch` is posted to, and it only reads: a retried POST changes nothing.
        """
        return self.get_decoded(endpoint, {}, stats, _unchanged, body=body)

    def get_decoded(
        self,
        endpoint: str,
        params: dict[str, t.Any],
        stats: RequestStats,
        decode: Callable[[dict[str, t.Any]], _T],
        decode_body: Callable[[bytes], _T | None] | None = None,
        *,
        body: bytes | None = None,
    ) -> _T:
        """GET `<base>/<endpoint>` and return `decode(<parsed JSON object>)`, retrying.

        With `body`, the request is a POST of that JSON body instead.

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
            with self._slots:  # the one place the company's in-flight cap is held
                if body is not None:
                    self.batch_limiter.acquire()
                self.limiter.acquire()
                stats.add(requests=1)
                sent = self._send(url, query, token, body)
            try:
                result = (
                    sent
                    if isinstance(sent, RetriableError)
                    else self._answer(sent, decode, decode_body)
                )
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

    def _send(
        self, url: str, query: dict[str, t.Any], token: str, payload: bytes | None
    ) -> _Answer | RetriableError:
        """Send one request and read its whole body (nothing is parsed here)."""
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "User-Agent": self.settings.user_agent,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        try:
            # stream=True + one raw read: the body arrives in a few large reads instead of
            # hundreds of 10 KB chunks (which cost CPU and GIL churn under concurrency).
            response = self.session.request(
                "GET" if payload is None else "POST",
                url,
                params=query,
                data=payload,
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
        return _Answer(response.status_code, response.headers, body)

    def _answer(
        self,
        answer: _Answer,
        decode: Callable[[dict[str, t.Any]], _T],
        decode_body: Callable[[bytes], _T | None] | None,
    ) -> _T | RetriableError:
        """What QuickBooks' answer means: `decode(<its JSON>)`, a retriable error, or a raise."""
        status, body = answer.status, answer.body
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
                wait=limits.throttle_delay(answer.headers.get("Retry-After")),
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

    def cdc(self, entities: t.Sequence[str], since: dt.datetime, stats: RequestStats) -> CdcAnswer:
        """Changes of every one of `entities` since `since`, in one request."""
        params = {
            "entities": ",".join(entities),
            "changedSince": since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        data = self.get("cdc", params, stats)
        objects: dict[str, list[dict[str, t.Any]]] = {entity: [] for entity in entities}
        for cdc in data.get("CDCResponse") or []:
            for response in (cdc or {}).get("QueryResponse") or []:
                for entity in entities:
                    rows = (response or {}).get(entity) or []
                    objects[entity].extend(row for row in rows if isinstance(row, dict))
        return CdcAnswer(objects, self.request_payload("cdc", params), _server_time(data))

    def batch(
        self,
        queries: t.Sequence[str],
        stats: RequestStats,
        entities: t.Sequence[str | None] | None = None,
    ) -> tuple[list[dict[str, t.Any]], dt.datetime | None]:
        """Run up to `MAX_BATCH_ITEMS` query statements in one `/batch` request.

        Returns each statement's `QueryResponse`, in order, and QuickBooks' answer time (None
        when the rows were spliced). With `entities` (the entity of each `SELECT *`, None for
        a count), rows are kept as their exact bytes (:class:`records.Spliced`) when the
        answer allows. A statement QuickBooks refused raises :class:`QueryFaultError`.
        """
        if not 1 <= len(queries) <= MAX_BATCH_ITEMS:
            msg = f"a batch holds 1..{MAX_BATCH_ITEMS} statements, not {len(queries)}"
            raise ValueError(msg)
        body = orjson.dumps(
            {"BatchItemRequest": [{"bId": str(i), "Query": q} for i, q in enumerate(queries)]}
        )
        if entities is not None:
            wanted = list(entities)

            def spliced(raw: bytes) -> dict[str, t.Any] | None:
                found = records.split_batch(raw, wanted)
                return None if found is None else {"spliced": found}

            data = self.get_decoded("batch", {}, stats, _unchanged, spliced, body=body)
            if "spliced" in data:
                return data["spliced"], None
        else:
            data = self.post("batch", body, stats)
        answers: dict[str, dict[str, t.Any]] = {}
        for item in data.get("BatchItemResponse") or []:
            if not isinstance(item, dict):
                continue
            bid = str(item.get("bId"))
            if "Fault" in item:
                detail = fault_detail(orjson.dumps({"Fault": item["Fault"]}))
                msg = f"QuickBooks refused batch statement {queries[int(bid)]!r}: {detail}"
                raise QueryFaultError(msg)
            response = item.get("QueryResponse")
            if isinstance(response, dict):
                answers[bid] = response
        missing = [i for i in range(len(queries)) if str(i) not in answers]
        if missing:
            msg = f"QuickBooks answered a batch without items {missing}"
            raise QueryFaultError(msg)
        return [answers[str(i)] for i in range(len(queries))], _server_time(data)


@dataclass(frozen=True)
class CdcAnswer:
    """One `/cdc` answer: the objects per entity, the request payload and QuickBooks' time."""

    objects: dict[str, list[dict[str, t.Any]]]
    request_payload: dict[str, t.Any]
    server_time: dt.datetime | None

    @property
    def total(self) -> int:
        """Objects in the answer (QuickBooks returns at most `CDC_MAX_OBJECTS`)."""
        return sum(len(rows) for rows in self.objects.values())


def _server_time(data: dict[str, t.Any]) -> dt.datetime | None:
    if isinstance(data.get("time"), str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(records.utc_iso(data["time"]))
    return None


class _Unauthorized(Exception):
    pass


@dataclass(frozen=True)
class _Answer:
    """A response as received: its status, headers and whole body."""

    status: int
    headers: t.Mapping[str, str]
    body: bytes


def _unchanged(data: dict[str, t.Any]) -> dict[str, t.Any]:
    return data


class Connections:
    """The realm connections of one tap run (shared by all its streams)."""

    def __init__(self, settings: Settings) -> None:
        """One token store for the run; connections are opened on first use."""
        self.settings = settings
        self.store = open_store(settings.token_store_path, settings.token_store_url)
        self._by_realm: dict[str, RealmConnection] = {}
        self._plans: dict[str, RealmPlan] = {}
        self._lock = threading.Lock()
        # Windows end here (whole seconds) unless end_date says otherwise.
        self.run_started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def get(self, realm_id: str) -> RealmConnection:
        """The connection for `realm_id`."""
        with self._lock:
            if realm_id not in self._by_realm:
                self._by_realm[realm_id] = RealmConnection(self.settings, realm_id, self.store)
            return self._by_realm[realm_id]

    def plan(self, realm_id: str) -> RealmPlan:
        """The plan of this run for `realm_id` (how each of its streams is read)."""
        from tap_quickbooks.realm_plan import RealmPlan

        connection = self.get(realm_id)
        with self._lock:
            if realm_id not in self._plans:
                self._plans[realm_id] = RealmPlan(
                    connection, self.settings, self.run_started_at, RequestStats()
                )
            return self._plans[realm_id]

    def close(self) -> None:
        """Close every connection."""
        with self._lock:
            self._plans.clear()
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
