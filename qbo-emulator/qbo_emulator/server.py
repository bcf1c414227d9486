"""The emulator application (routing, limits, faults, churn) on a lean asyncio HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import json
import random
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from qbo_emulator import bodies, reporting
from qbo_emulator.auth import AUTHORIZE_PATH, OAuthError, Tokens
from qbo_emulator.config import Config, ConfigError
from qbo_emulator.data import Company, build_companies, realm_ids
from qbo_emulator.entities import REGISTRY, canonical
from qbo_emulator.query import (
    Executor,
    QueryError,
    parse,
    plan,
)
from qbo_emulator.timeutil import Clock, pacific_millis, parse_instant

if TYPE_CHECKING:
    from qbo_emulator.data import Row

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
#: The latency model's sleep (a module attribute so tests can record instead of waiting).
sleep = asyncio.sleep
ADMIN_PREFIX = "/__emulator__/"
#: API requests kept for `GET /__emulator__/requests`
REQUEST_LOG_SIZE = 10_000
#: lower-case path segment of a single read -> entity
RESOURCES = {spec.resource: name for name, spec in REGISTRY.items() if spec.kind != "singleton"}
REASONS = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    path: str = ""
    params: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = unquote(parts.path)
        self.params = parse_qs(parts.query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        """A query-string parameter, name matched case-insensitively."""
        for key, values in self.params.items():
            if key.lower() == name.lower():
                return values[0]
        return None


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = bodies.JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str = ""  # "" | reset | truncate | slow
    rows: int = 0


@dataclass
class RealmStats:
    requests: int = 0
    in_flight: int = 0  # answered requests being handled now
    max_in_flight: int = 0
    # Every request of the realm at once, those refused with a 429 included: what a client
    # sent concurrently (max_in_flight stops at `concurrency_limit`, this does not).
    concurrent: int = 0
    max_concurrent: int = 0
    throttled: int = 0


class Emulator:
    """All state of one emulator: companies, tokens, clock, switches and counters."""

    def __init__(
        self,
        seed: int = 1,
        customers: int = 60,
        items: int = 20,
        invoices: int = 400,
        realms: int = 1,
        token_state: str | None = None,
        clock: str | float | None = None,
        cache_rows: int = 250_000,
        prewarm: bool = True,
        sizes: dict[str, int] | None = None,
        multicurrency: bool = False,
        **switches: Any,
    ) -> None:
        self.config = Config()
        self.config.update(**switches)
        start: float | None
        if isinstance(clock, str):
            start = parse_instant(clock)
            if start is None:
                raise ConfigError(f"clock: not a datetime: {clock!r}")
        else:
            start = clock
        self.clock = Clock(start)
        self.realm_ids = realm_ids(realms)
        try:
            self.companies: dict[str, Company] = build_companies(
                seed, customers, items, invoices, realms, cache_rows, sizes, multicurrency
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if prewarm:
            for company in self.companies.values():
                company.prewarm()
        self.executors = {r: Executor(c) for r, c in self.companies.items()}
        self.tokens = Tokens(self.realm_ids, self.config, self.clock, token_state)
        self.fault_rng = random.Random(self.config.fault_seed)
        self._fault_seed_used = self.config.fault_seed
        self.window: dict[str, deque[float]] = {r: deque() for r in self.realm_ids}
        self.batch_window: dict[str, deque[float]] = {r: deque() for r in self.realm_ids}
        self.churn_count: dict[str, int] = {r: 0 for r in self.realm_ids}
        self.books = {r: reporting.Books(c) for r, c in self.companies.items()}
        self._entities: list[str] = []
        self._endpoint = ""
        self.reset_stats()

    # ------------------------------------------------------------------ counters
    def reset_stats(self) -> None:
        self.api_requests = 0
        self.counts: dict[str, int] = {"total": 0, "api": 0, "token": 0, "admin": 0}
        self.by_endpoint: dict[str, int] = {}
        self.by_status: dict[str, int] = {}
        self.realm_stats = {r: RealmStats() for r in self.realm_ids}
        self.throttled = 0
        self.faults: dict[str, int] = {}
        self.token_refreshes = 0
        self.token_errors: dict[str, int] = {}
        self.auth_failures = 0
        self.queries = 0
        self.churned: dict[str, int] = {}
        self.churn_log: list[dict[str, str]] = []
        self.by_entity: dict[str, int] = {}
        self.batch_items = 0
        self.batch_throttled = 0
        self.cdc_entities: dict[str, int] = {}
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.counts),
            "by_endpoint": dict(self.by_endpoint),
            "by_status": dict(self.by_status),
            "queries": self.queries,
            "realms": {
                r: {
                    "requests": s.requests,
                    "in_flight": s.in_flight,
                    "max_in_flight": s.max_in_flight,
                    "max_concurrent": s.max_concurrent,
                    "throttled": s.throttled,
                }
                for r, s in self.realm_stats.items()
            },
            "max_in_flight": {r: s.max_in_flight for r, s in self.realm_stats.items()},
            "max_concurrent": {r: s.max_concurrent for r, s in self.realm_stats.items()},
            "throttled": self.throttled,
            "faults": dict(self.faults),
            "token_refreshes": self.token_refreshes,
            "token_errors": dict(self.token_errors),
            "auth_failures": self.auth_failures,
            "churn": dict(self.churned),
            "churn_log": list(self.churn_log),
            "by_entity": dict(self.by_entity),
            "batch_items": self.batch_items,
            "batch_throttled": self.batch_throttled,
            "cdc_entities": dict(self.cdc_entities),
        }

    def requests(self) -> list[dict[str, Any]]:
        """The latest API requests (at most REQUEST_LOG_SIZE), oldest first."""
        return list(self.request_log)

    def truth(self) -> dict[str, Any]:
        return {r: c.truth() for r, c in self.companies.items()}

    def configure(self, **switches: Any) -> None:
        self.config.update(**switches)
        if "fault_seed" in switches:
            self.fault_rng = random.Random(self.config.fault_seed)

    def mutate(self, realm: str, entity: str, op: str, id: str | int | None = None) -> str:
        company = self.companies.get(str(realm))
        if company is None:
            raise KeyError(f"unknown realm {realm}")
        name = canonical(str(entity))
        if name is None:
            raise ValueError(f"unknown entity {entity!r}; one of {', '.join(REGISTRY)}")
        iid = None if id is None else int(id)
        self.books[str(realm)].invalidate()
        return str(company.mutate(name, op, iid, self.clock.now()))

    def report(self, realm: str, name: str, params: dict[str, str]) -> dict[str, Any]:
        """A report as the API computes it, without the size cap or any counting."""
        return reporting.compute(self, realm, name, params)

    def reset_limits(self) -> None:
        """Forget the requests of the last minute, as if a minute had passed for the limits."""
        for window in (*self.window.values(), *self.batch_window.values()):
            window.clear()

    def advance_clock(self, days: float = 0, hours: float = 0, seconds: float = 0) -> float:
        self.clock.advance(days * 86400 + hours * 3600 + seconds)
        return self.clock.now()

    # ------------------------------------------------------------------ dispatch
    async def handle(self, req: Request) -> Response:
        self.counts["total"] += 1
        if req.path.startswith(ADMIN_PREFIX):
            self.counts["admin"] += 1
            return self.admin(req)
        if req.path == TOKEN_PATH:
            self.counts["token"] += 1
            return self.token_endpoint(req)
        if req.path == AUTHORIZE_PATH:
            return self.consent(req)
        if req.path.startswith("/v3/company/"):
            self.counts["api"] += 1
            return await self.api(req)
        return Response(404, b'{"error":"not found"}', bodies.JSON_FAULT)

    # ------------------------------------------------------------------ OAuth
    def token_endpoint(self, req: Request) -> Response:
        if req.method != "POST":
            return Response(405, b'{"error":"invalid_request"}', bodies.JSON)
        form = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)

        def get(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        client_id, client_secret = get("client_id"), get("client_secret")
        auth = req.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(auth[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = client_secret = None
        try:
            self.tokens.check_client(client_id, client_secret)
            grant = get("grant_type")
            hard = req.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
            if grant == "authorization_code":
                code, redirect = get("code") or "", get("redirect_uri") or ""
                body = self.tokens.exchange_code(code, redirect, hard)
            elif grant != "refresh_token":
                raise OAuthError(400, {"error": "unsupported_grant_type"})
            else:
                body = self.tokens.refresh(get("refresh_token") or "", hard)
        except OAuthError as exc:
            self.token_errors[exc.body["error"]] = self.token_errors.get(exc.body["error"], 0) + 1
            return Response(
                exc.status, json.dumps(exc.body, separators=(",", ":")).encode(), bodies.JSON
            )
        self.token_refreshes += 1
        return Response(200, json.dumps(body).encode(), "application/json;charset=UTF-8")

    def consent(self, req: Request) -> Response:
        """The consent screen, answered at once (switches `consent`, `consent_realm`)."""
        params = {k: v[0] for k, v in req.params.items() if v}
        try:
            location = self.tokens.authorize(params)
        except OAuthError as exc:
            return Response(exc.status, json.dumps(exc.body).encode(), bodies.JSON)
        return Response(302, b"", "text/plain", [("Location", location)])

    # ------------------------------------------------------------------ API
    async def api(self, req: Request) -> Response:
        self.api_requests += 1
        number = self.api_requests
        parts = req.path.split("/")  # ['', 'v3', 'company', realm, resource, ...]
        realm = parts[3] if len(parts) > 3 else ""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            self.auth_failures += 1
            return Response(
                401,
                bodies.general_auth_failure_xml(self.clock.now()),
                bodies.XML,
                [("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"')],
            )
        token_realm, detail = self.tokens.bearer_realm(auth[7:].strip())
        if token_realm is None:
            self.auth_failures += 1
            return Response(
                401,
                bodies.unauthorized(detail),
                bodies.JSON_FAULT,
                [("WWW-Authenticate", 'Bearer realm="Intuit", error="invalid_token"')],
            )
        if token_realm != realm:
            self.auth_failures += 1
            return Response(403, bodies.forbidden(), bodies.JSON_FAULT)
        stats = self.realm_stats[realm]
        stats.requests += 1
        stats.concurrent += 1
        stats.max_concurrent = max(stats.max_concurrent, stats.concurrent)
        try:
            return await self._admitted(req, realm, parts, number, stats)
        finally:
            stats.concurrent -= 1

    async def _admitted(
        self, req: Request, realm: str, parts: list[str], number: int, stats: RealmStats
    ) -> Response:
        """An authorized API request of `realm`: throttled, faulted or answered."""
        if self._throttled(realm, stats):
            self.throttled += 1
            stats.throttled += 1
            return self._throttle_response()
        if self.config.rate_limit:
            self.window[realm].append(time.monotonic())
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            fault = self._pick_fault(number)
            if fault:
                self.faults[fault] = self.faults.get(fault, 0) + 1
            if fault == "429":
                return self._throttle_response()
            if fault == "500":
                return Response(500, bodies.system_fault(self.clock.now()), bodies.JSON_FAULT)
            if fault in ("502", "503"):
                return Response(int(fault), bodies.nginx(int(fault)), bodies.HTML)
            self._entities = []
            self._endpoint = ""
            resp = self.route(req, realm, parts[4:])
            self.request_log.append(
                {
                    "n": number,
                    "realm": realm,
                    "method": req.method,
                    "path": req.path,
                    "endpoint": self._endpoint,
                    "status": resp.status,
                    "entities": self._entities,
                    "rows": resp.rows,
                }
            )
            delay = self.config.latency_ms + resp.rows * self.config.latency_per_row_ms
            if delay > 0:
                await sleep(delay / 1000)
            if fault == "slow":
                await sleep(self.config.slow_seconds)
            if fault in ("reset", "truncate"):
                resp.action = fault
            return resp
        finally:
            stats.in_flight -= 1

    def _throttled(self, realm: str, stats: RealmStats) -> bool:
        cfg = self.config
        if cfg.concurrency_limit and stats.in_flight >= cfg.concurrency_limit:
            return True
        if cfg.rate_limit:
            window = self.window[realm]
            cutoff = time.monotonic() - 60.0
            while window and window[0] <= cutoff:
                window.popleft()
            if len(window) >= cfg.rate_limit:
                return True
        return False

    def _throttle_response(self) -> Response:
        now = self.clock.now()
        headers = []
        if self.config.retry_after is not None:
            headers.append(("Retry-After", str(self.config.retry_after)))
        if self.config.throttle_format == "json":
            return Response(429, bodies.throttle_json(now), bodies.JSON_FAULT, headers)
        return Response(429, bodies.throttle_xml(now), bodies.XML, headers)

    def _pick_fault(self, number: int) -> str:
        cfg = self.config
        for kind, numbers in cfg.fault_at.items():
            if number in numbers:
                return kind
        for kind, rate in cfg.fault_rate.items():
            if rate > 0 and self.fault_rng.random() < rate:
                return kind
        return ""

    def route(self, req: Request, realm: str, rest: list[str]) -> Response:
        now = self.clock.now()
        resource = rest[0] if rest else ""
        if resource == "query" and len(rest) == 1:
            self._count("query")
            return self.query_endpoint(req, realm)
        if resource == "batch" and len(rest) == 1 and req.method == "POST":
            self._count("batch")
            return self.batch_endpoint(req, realm)
        if resource == "cdc" and len(rest) == 1 and req.method == "GET":
            self._count("cdc")
            return self.cdc_endpoint(req, realm)
        if resource == "companyinfo" and len(rest) == 2 and rest[1] == realm:
            self._count("companyinfo")
            return self.read_singleton(realm, "CompanyInfo")
        if resource == "preferences" and len(rest) == 1 and req.method == "GET":
            self._count("preferences")
            return self.read_singleton(realm, "Preferences")
        if resource == "reports" and len(rest) == 2 and req.method == "GET":
            self._count("reports")
            return reporting.endpoint(self, req, realm, rest[1])
        if resource in RESOURCES and len(rest) == 2 and req.method == "GET":
            self._count("read")
            return self.read_entity(realm, resource, rest[1])
        self._count("unknown")
        return Response(400, bodies.unsupported_operation(req.path, now), bodies.JSON_FAULT)

    def _count(self, endpoint: str) -> None:
        self.by_endpoint[endpoint] = self.by_endpoint.get(endpoint, 0) + 1
        self._endpoint = endpoint

    def _saw(self, entity: str) -> None:
        self.by_entity[entity] = self.by_entity.get(entity, 0) + 1
        self._entities.append(entity)

    def read_singleton(self, realm: str, entity: str) -> Response:
        company = self.companies[realm]
        self._saw(entity)
        row = company.tables[entity].rows.get(1)
        body = company.render(entity, row) if row is not None else b"{}"
        return Response(
            200,
            b'{"%s":%s,"time":"%s"}'
            % (entity.encode(), body, pacific_millis(self.clock.now()).encode()),
            rows=1,
        )

    @staticmethod
    def _json(status: int, obj: Any) -> Response:
        return Response(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())

    def _fault_response(self, exc: QueryError) -> Response:
        return Response(
            400,
            bodies.fault(exc.code, exc.message, exc.detail, self.clock.now()),
            bodies.JSON_FAULT,
        )

    def read_entity(self, realm: str, resource: str, raw_id: str) -> Response:
        now = self.clock.now()
        entity = RESOURCES[resource]
        self._saw(entity)
        if not raw_id.isdigit():
            return Response(
                400,
                bodies.fault(
                    "2030",
                    "Invalid ID",
                    f"Id should be a valid number. Supplied value:{raw_id}",
                    None,
                    element="Id",
                ),
                bodies.JSON_FAULT,
            )
        company = self.companies[realm]
        row = company.tables[entity].rows.get(int(raw_id))
        if row is None:
            return Response(
                400,
                bodies.fault(
                    "610",
                    "Object Not Found",
                    "Object Not Found : Something you're trying to use has been made inactive. "
                    "Check the fields with accounts, customers, items, vendors or employees.",
                    now,
                    element="",
                ),
                bodies.JSON_FAULT,
            )
        body = b'{"%s":%s,"time":"%s"}' % (
            entity.encode(),
            company.render(entity, row),
            pacific_millis(now).encode(),
        )
        return Response(200, body, rows=1)

    # ------------------------------------------------------------------ query
    def query_endpoint(self, req: Request, realm: str) -> Response:
        text = req.param("query")
        if text is None and req.method == "POST":
            ctype = req.headers.get("content-type", "").lower()
            raw = req.body.decode("utf-8", "replace")
            if "x-www-form-urlencoded" in ctype:
                text = (parse_qs(raw).get("query") or [""])[0]
            else:
                text = raw
        try:
            inner, rows = self.run_query(realm, text or "")
        except QueryError as exc:
            return self._fault_response(exc)
        if self.config.nul_in_memo:
            inner = bodies.with_nul_in_memo(inner)
        body = b'{"QueryResponse":%s,"time":"%s"}' % (
            inner,
            pacific_millis(self.clock.now()).encode(),
        )
        return Response(200, body, rows=rows)

    def run_query(self, realm: str, text: str) -> tuple[bytes, int]:
        """The QueryResponse object's bytes and the row count; raises QueryError."""
        self.queries += 1
        company = self.companies[realm]
        query = parse(text)
        now = self.clock.now()
        p = plan(query, now, company)
        self._saw(p.entity)
        executor = self.executors[realm]
        spec = REGISTRY.get(p.entity)
        if (
            self.config.churn_every
            and spec
            and spec.kind != "singleton"
            and not p.count
            and (not self.config.churn_entities or p.entity in self.config.churn_entities)
        ):
            self.churn_count[realm] += 1
            if self.churn_count[realm] % self.config.churn_every == 0:
                self._churn(realm, p, executor)
                p = plan(query, self.clock.now(), company)
        total, rows = executor.run(p)
        if total is not None:
            return b'{"totalCount":%d}' % total, 0
        if not rows:
            return b"{}", 0
        render = company.render
        entity = p.entity
        joined = b",".join([render(entity, r) for r in rows])
        return (
            b'{"%s":[%s],"startPosition":%d,"maxResults":%d}'
            % (entity.encode(), joined, p.start, len(rows)),
            len(rows),
        )

    def _churn(self, realm: str, p: Any, executor: Executor) -> None:
        """Change one row of the range being paged, preferring rows already served."""
        company = self.companies[realm]
        rng = company.churn_rng
        served = p.start - 1
        candidates: list[Row] = []
        for n, row in enumerate(executor.matches(p)):
            if served and n >= served:
                break
            candidates.append(row)
            if not served and len(candidates) >= p.max:
                break
        ops = list(self.config.churn_ops)
        op = ops[(self.churn_count[realm] // self.config.churn_every - 1) % len(ops)]
        if op == "create":
            iid = company.mutate(p.entity, "create", None, self.clock.now())
        else:
            if not candidates:
                return
            spec = REGISTRY[p.entity]
            if op == "delete" and not spec.deletable:
                op = "deactivate"
            if op == "deactivate" and not spec.active:
                op = "update"
            row = candidates[rng.randrange(len(candidates))]
            iid = company.mutate(p.entity, op, row.id, self.clock.now())
        self.books[realm].invalidate()
        self.churned[op] = self.churned.get(op, 0) + 1
        self.churn_log.append({"realm": realm, "entity": p.entity, "op": op, "id": str(iid)})

    # ------------------------------------------------------------------ batch
    def batch_endpoint(self, req: Request, realm: str) -> Response:
        now = self.clock.now()
        try:
            payload = json.loads(req.body or b"{}")
            items = payload["BatchItemRequest"]
            if not isinstance(items, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return Response(
                400,
                bodies.fault(
                    "2010",
                    "Request has invalid or unsupported property",
                    "BatchItemRequest must be a list of batch items",
                    now,
                ),
                bodies.JSON_FAULT,
            )
        if self._batch_throttled(realm):
            self.batch_throttled += 1
            self.throttled += 1
            self.realm_stats[realm].throttled += 1
            return self._throttle_response()
        if len(items) > self.config.batch_max_items:
            return Response(
                400,
                bodies.fault(
                    "2010",
                    "Request has invalid or unsupported property",
                    f"Batch request has {len(items)} items; the maximum is "
                    f"{self.config.batch_max_items}",
                    now,
                ),
                bodies.JSON_FAULT,
            )
        out: list[bytes] = []
        total_rows = 0
        self.batch_items += len(items)
        for item in items:
            bid = json.dumps(str(item.get("bId", "")) if isinstance(item, dict) else "")
            query = item.get("Query") if isinstance(item, dict) else None
            if not isinstance(query, str):
                err = bodies.fault(
                    "500",
                    "Unsupported Operation",
                    "Only Query batch items are supported by this emulator",
                    None,
                    element="",
                )
                out.append(b'{"Fault":%s,"bId":%s}' % (_inner_fault(err), bid.encode()))
                continue
            try:
                inner, rows = self.run_query(realm, query)
            except QueryError as exc:
                err = bodies.fault(exc.code, exc.message, exc.detail, None, element="")
                out.append(b'{"Fault":%s,"bId":%s}' % (_inner_fault(err), bid.encode()))
                continue
            total_rows += rows
            out.append(b'{"QueryResponse":%s,"bId":%s}' % (inner, bid.encode()))
        body = b'{"BatchItemResponse":[%s],"time":"%s"}' % (
            b",".join(out),
            pacific_millis(now).encode(),
        )
        return Response(200, body, rows=total_rows)

    def _batch_throttled(self, realm: str) -> bool:
        """Intuit's batch limit: at most `batch_rate_limit` batch requests per 60 s per realm."""
        limit = self.config.batch_rate_limit
        if not limit or not self.config.rate_limit:
            return False
        window = self.batch_window[realm]
        now = time.monotonic()
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    # ------------------------------------------------------------------ CDC
    def cdc_endpoint(self, req: Request, realm: str) -> Response:
        now = self.clock.now()
        names = [n.strip() for n in (req.param("entities") or "").split(",") if n.strip()]
        since_text = req.param("changedSince")
        bad = None
        if not names:
            bad = "entities parameter is required"
        elif since_text is None:
            bad = "changedSince parameter is required"
        since = parse_instant(since_text) if since_text else None
        if bad is None and since is None:
            bad = f"changedSince is not a valid date/time: {since_text}"
        if bad is not None or since is None:
            return Response(
                400,
                bodies.fault("2010", "Request has invalid or unsupported property", bad or "", now),
                bodies.JSON_FAULT,
            )
        reject = self.config.cdc_reject_older_days
        if reject and since < now - reject * 86400:
            return Response(400, bodies.cdc_too_old(since_text or "", now), bodies.JSON_FAULT)
        company = self.companies[realm]
        budget = self.config.cdc_max_objects
        if self.config.cdc_horizon_days:
            since = max(since, now - self.config.cdc_horizon_days * 86400)
        entities: list[str] = []
        for name in names:
            entity = canonical(name)
            if entity is None:
                return self._fault_response(
                    QueryError("4001", f"QueryValidationError: invalid context declaration: {name}")
                )
            if not REGISTRY[entity].cdc and self.config.cdc_unsupported == "fault":
                return Response(
                    400,
                    bodies.fault(
                        "2010",
                        "Request has invalid or unsupported property",
                        f"Change data capture is not supported for entity: {entity}",
                        now,
                    ),
                    bodies.JSON_FAULT,
                )
            entities.append(entity)
        groups: list[bytes] = []
        total_rows = 0
        start = int(since) if since == int(since) else int(since) + 1
        for entity in entities:
            self._saw(entity)
            self.cdc_entities[entity] = self.cdc_entities.get(entity, 0) + 1
            table = company.tables[entity]
            if not REGISTRY[entity].cdc or budget <= 0:
                groups.append(b"{}")
                continue
            i = bisect.bisect_left(table.order, (start, -1))
            keys = [(lut, iid, False) for lut, iid in table.order[i : i + budget]]
            keys += [(when, iid, True) for iid, when in table.deleted.items() if when >= since]
            keys.sort()
            keys = keys[:budget]
            budget -= len(keys)
            if not keys:
                groups.append(b"{}")
                continue
            total_rows += len(keys)
            rendered = [
                company.tombstone(entity, iid) if gone else company.render(entity, table.rows[iid])
                for _, iid, gone in keys
            ]
            groups.append(
                b'{"%s":[%s],"startPosition":1,"maxResults":%d}'
                % (entity.encode(), b",".join(rendered), len(keys))
            )
        body = b'{"CDCResponse":[{"QueryResponse":[%s]}],"time":"%s"}' % (
            b",".join(groups),
            pacific_millis(now).encode(),
        )
        return Response(200, body, rows=total_rows)

    # ------------------------------------------------------------------ admin
    def admin(self, req: Request) -> Response:
        name = req.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            payload = json.loads(req.body) if req.body else {}
            if not isinstance(payload, dict):
                raise ValueError("body must be a JSON object")
            if name == "truth" and req.method == "GET":
                realm = req.param("realm")
                truth = self.truth()
                return self._json(200, {realm: truth[realm]} if realm in truth else truth)
            if name == "stats" and req.method == "GET":
                return self._json(200, self.stats())
            if name == "stats/reset" and req.method == "POST":
                self.reset_stats()
                return self._json(200, self.stats())
            if name == "limits/reset" and req.method == "POST":
                self.reset_limits()
                return self._json(200, {"reset": True})
            if name == "requests" and req.method == "GET":
                return self._json(200, {"requests": self.requests()})
            if name == "tokens" and req.method == "GET":
                return self._json(200, self.tokens.current())
            if name == "config" and req.method == "GET":
                return self._json(200, self.config.public())
            if name == "config" and req.method == "POST":
                self.configure(**payload)
                return self._json(200, self.config.public())
            if name == "mutate" and req.method == "POST":
                iid = self.mutate(
                    payload["realm"], payload["entity"], payload["op"], payload.get("id")
                )
                return self._json(200, {"id": iid})
            if name == "report" and req.method == "GET":
                params = {k: v[0] for k, v in req.params.items() if k not in ("realm", "name")}
                return self._json(
                    200, self.report(req.param("realm") or "", req.param("name") or "", params)
                )
            if name == "backdate" and req.method == "POST":
                return self._json(200, self.books[str(payload["realm"])].backdate(**payload))
            if name == "clock" and req.method == "POST":
                now = self.advance_clock(
                    float(payload.get("days", 0)),
                    float(payload.get("hours", 0)),
                    float(payload.get("seconds", 0)),
                )
                return self._json(200, {"now": pacific_millis(now), "epoch": now})
        except (ConfigError, KeyError, ValueError, TypeError) as exc:
            return self._json(400, {"error": str(exc)})
        return self._json(404, {"error": f"no admin endpoint {req.method} {req.path}"})


def _inner_fault(fault_body: bytes) -> bytes:
    """The `Fault` object of a fault body (batch items carry no `time`)."""
    obj = json.loads(fault_body)
    return json.dumps(obj["Fault"], ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------- HTTP/1.1
_LINGER_RST = struct.pack("ii", 1, 0)


class HTTPServer:
    """Keep-alive HTTP/1.1 over asyncio streams; Nagle off; Content-Length bodies."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self.server: asyncio.Server | None = None
        self.clients: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(
            self._client, self.host, self.port, limit=1 << 20, reuse_address=True
        )
        sock = self.server.sockets[0]
        self.port = sock.getsockname()[1]
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.clients):
            task.cancel()
        if self.clients:
            await asyncio.gather(*self.clients, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.clients.add(task)
        try:
            await self._serve_connection(reader, writer)
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self.clients.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                req = await self._read(reader, writer)
                if req is None:
                    break
                try:
                    resp = await self.emulator.handle(req)
                except Exception as exc:  # a bug must not kill the connection loop silently
                    resp = Response(
                        500, json.dumps({"error": repr(exc)}).encode(), bodies.JSON_FAULT
                    )
                if resp.action == "reset":
                    if sock is not None:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                    writer.transport.abort()
                    return
                keep = req.headers.get("connection", "").lower() != "close"
                body = resp.body
                if resp.action == "truncate":
                    body = body[: max(1, len(body) // 2)]
                    keep = False
                head = [
                    f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
                    f"Content-Type: {resp.content_type}",
                    f"Content-Length: {len(body)}",
                    "Server: nginx",
                    f"intuit_tid: {bodies.tid()}",
                    "Connection: " + ("keep-alive" if keep else "close"),
                ]
                head.extend(f"{k}: {v}" for k, v in resp.headers)
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                if req.method != "HEAD":
                    writer.write(body)
                await writer.drain()
                if not keep:
                    break
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass

    @staticmethod
    async def _read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if version.strip().upper() == "HTTP/1.0" and "connection" not in headers:
            headers["connection"] = "close"
        body = b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        return Request(method.upper(), target, headers, body)
