"""Settings: validation of the tap's config into a frozen `Settings` (pure).

Each problem raises :class:`SettingError` naming the setting, before any request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

from tap_quickbooks.errors import SettingError
from tap_quickbooks.query import MAX_PAGE_SIZE, validate_realm_id
from tap_quickbooks.reports import METHODS, ReportSettings, load_report_settings, report_fields

if t.TYPE_CHECKING:
    from collections.abc import Mapping

API_URLS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
AUTH_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
DEFAULT_TOKEN_STORE = "~/.config/tap-quickbooks/tokens.json"  # noqa: S105 - a path


@dataclasses.dataclass(frozen=True)
class Spec:
    """One setting, declared once: the tap's JSON schema and :func:`load_settings` read it."""

    name: str
    type: str  # "string" | "integer" | "number" | "boolean" | "date-time" | "object"
    description: str
    default: t.Any = None
    required: bool = False
    secret: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None


MAX_CONCURRENT = 10  # Intuit: at most 10 concurrent requests per app and realm
ENTITY_OVERRIDE_FLAGS = ("cdc", "include_inactive", "tombstones")

# Intuit stopped serving minor versions 1-74 on 2025-08-01: it answers them as 75 (its
# "Minor versions of our API" page and developer blog, 2025-01-21).
MIN_MINOR_VERSION = 75
AUTO_WINDOW_DAYS = 365  # the windows a large stream is counted in when window_days is unset
SPECS: tuple[Spec, ...] = (
    Spec(
        "client_id",
        "string",
        "OAuth 2.0 client id of your Intuit app (Keys & credentials).",
        required=True,
    ),
    Spec(
        "client_secret",
        "string",
        "OAuth 2.0 client secret of your Intuit app.",
        required=True,
        secret=True,
    ),
    Spec(
        "refresh_token",
        "string",
        "OAuth 2.0 refresh token of the company (one per realm, comma-separated in "
        "realm_id order, for several). Intuit rotates it: the latest token is kept in "
        "the token store and used until you configure a different one. Not needed for "
        "a company connected with `tap-quickbooks authorize`.",
        secret=True,
    ),
    Spec(
        "realm_id",
        "string",
        "QuickBooks company id (digits); several as a comma-separated list.",
        required=True,
    ),
    Spec(
        "environment",
        "string",
        "Intuit API environment; picks the default api_url.",
        default="production",
        allowed=("production", "sandbox"),
    ),
    Spec("api_url", "string", "API base URL override (default from environment)."),
    Spec("auth_url", "string", "OAuth 2.0 token endpoint override (default Intuit's)."),
    Spec(
        "start_date",
        "date-time",
        "Earliest MetaData.LastUpdatedTime to extract (inclusive).",
        required=True,
    ),
    Spec(
        "end_date",
        "date-time",
        "Latest MetaData.LastUpdatedTime to extract (exclusive); default: when the run "
        "starts. A run with an end_date in the past reads by query windows, never CDC.",
    ),
    Spec(
        "window_days",
        "integer",
        "Width in days of the extraction windows (their first counts go 30 to a /batch "
        "request; each window costs its pages and a verifying count every 25 pages). Unset: "
        "automatic - a stream of up to 100 pages is one window, a larger one is counted in "
        "365-day windows merged up to 100 pages (fewest requests).",
        minimum=1,
        maximum=3660,
    ),
    Spec(
        "page_size",
        "integer",
        "Rows per query page.",
        default=1000,
        minimum=1,
        maximum=MAX_PAGE_SIZE,
    ),
    Spec(
        "minor_version",
        "integer",
        "QBO API minorversion sent with every request (Intuit retired 1-74 on 2025-08-01).",
        default=75,
        minimum=MIN_MINOR_VERSION,
        maximum=999,
    ),
    Spec(
        "token_store_path",
        "string",
        "JSON file (mode 0600) holding the latest refresh token per app and realm.",
        default=DEFAULT_TOKEN_STORE,
    ),
    Spec(
        "token_store_url",
        "string",
        "postgresql:// URL of a token store shared by runs on several machines (tables "
        "tap_quickbooks.tokens and token_rotations); replaces token_store_path. Needs the "
        "tap's `postgres` extra (psycopg).",
        secret=True,
    ),
    Spec(
        "max_requests_per_minute",
        "integer",
        "Client-side request budget per realm, shared by all streams (Intuit allows 500).",
        default=450,
        minimum=1,
        maximum=1_000_000,
    ),
    Spec(
        "max_concurrent_requests",
        "integer",
        "Requests in flight at once per realm (Intuit allows 10).",
        default=10,
        minimum=1,
        maximum=MAX_CONCURRENT,
    ),
    Spec(
        "request_timeout",
        "number",
        "Seconds before a request is abandoned and retried.",
        default=120,
        minimum=0,
        maximum=600,
    ),
    Spec(
        "max_retries",
        "integer",
        "Retries of a request after 429, 5xx, timeouts, resets or truncated bodies.",
        default=5,
        minimum=0,
        maximum=20,
    ),
    Spec("user_agent", "string", "User-Agent header (default tap-quickbooks/<version>)."),
    Spec(
        "include_deletes",
        "boolean",
        "Emit tombstones (_sdc_deleted_at) of deleted transactions, from CDC.",
        default=True,
    ),
    Spec(
        "use_cdc",
        "boolean",
        "Read streams that were read less than 30 days ago from one CDC request per "
        "company (false: query windows only).",
        default=True,
    ),
    Spec(
        "max_window_failures",
        "integer",
        "Stop after this many consecutive failed attempts at a window.",
        default=3,
        minimum=1,
        maximum=100,
    ),
    Spec(
        "report_period",
        "string",
        "Report streams: one report per calendar month or quarter.",
        default="month",
        allowed=("month", "quarter"),
    ),
    Spec(
        "report_accounting_method",
        "string",
        "Report streams: accrual, cash, or both (one row per method).",
        default="accrual",
        allowed=("accrual", "cash", "both"),
    ),
    Spec(
        "report_restate_months",
        "integer",
        "Report streams: months read again on every run, because postings dated in closed "
        "months change their reports.",
        default=3,
        minimum=0,
        maximum=120,
    ),
    Spec(
        "report_start_date",
        "string",
        "Report streams: first period to read, YYYY-MM-DD (default: start_date's; a later "
        "date keeps a long entity history from costing years of reports).",
    ),
    Spec(
        "report_requests_per_minute",
        "integer",
        "Report requests per minute per realm, taken from the same realm budget as every "
        "other request (max_requests_per_minute).",
        default=200,
        minimum=1,
        maximum=1_000_000,
    ),
    Spec(
        "parallel_realms",
        "boolean",
        "Read the companies of realm_id at once (each with its own budget, concurrency and "
        "state); false: one after another.",
        default=True,
    ),
    Spec(
        "max_total_requests",
        "integer",
        "Requests in flight across all companies read at once; each gets an equal share, at "
        "most max_concurrent_requests.",
        default=40,
        minimum=1,
        maximum=1000,
    ),
    Spec(
        "max_buffered_pages",
        "integer",
        "Rows read and not yet written (in pages), across all companies read at once: "
        "pages in flight, buffered, read ahead for the next streams; half of it may be read "
        "ahead.",
        default=30,
        minimum=1,
        maximum=1000,
    ),
    Spec(
        "entity_overrides",
        "object",
        "Per-entity facts Intuit does not document for certain, e.g. "
        '{"CustomerType": {"include_inactive": true}}; flags: cdc, include_inactive, '
        "tombstones (see README: streams).",
    ),
)
SPEC = {spec.name: spec for spec in SPECS}
DEFAULTS: dict[str, t.Any] = {s.name: s.default for s in SPECS if s.default is not None}
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated settings; secrets are kept out of `repr`."""

    client_id: str
    client_secret: str
    # The configured token per realm; "" when none is (the token store's is used).
    refresh_tokens: dict[str, str]
    realm_ids: tuple[str, ...]
    api_url: str
    auth_url: str
    start_date: dt.datetime
    end_date: dt.datetime | None
    window_days: int
    page_size: int
    minor_version: int
    token_store_path: Path
    token_store_url: str | None
    max_requests_per_minute: int
    max_concurrent_requests: int
    request_timeout: float
    max_retries: int
    user_agent: str
    include_deletes: bool
    max_window_failures: int
    use_cdc: bool = True
    merge_windows: bool = False  # window_days unset: as few windows as the counts allow
    entity_overrides: dict[str, dict[str, bool]] = dataclasses.field(default_factory=dict)
    parallel_realms: bool = True
    max_total_requests: int = 40
    max_buffered_pages: int = 30
    report_period: str = "month"
    report_accounting_method: str = "accrual"
    report_restate_months: int = 3
    report_start_date: dt.date | None = None
    report_requests_per_minute: int = 200

    @property
    def report(self) -> ReportSettings:
        """The report streams' settings, as `reports` uses them."""
        return ReportSettings(
            period=self.report_period,
            methods=METHODS[self.report_accounting_method],
            restate_months=self.report_restate_months,
            requests_per_minute=self.report_requests_per_minute,
            start_date=self.report_start_date,
        )

    def __repr__(self) -> str:
        """Never show secrets."""
        return f"Settings(client_id={self.client_id!r}, realm_ids={self.realm_ids!r}, ...)"


def parse_datetime(setting: str, value: t.Any) -> dt.datetime:
    """Parse an ISO-8601 date or date-time setting into an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if _DATE_ONLY.match(text):
                parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            else:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise SettingError(setting, f"not an ISO-8601 date or date-time: {text!r}") from None
    else:
        raise SettingError(setting, "expected an ISO-8601 date or date-time, e.g. 2022-01-01")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _secret(config: Mapping[str, t.Any], name: str) -> str:
    value = config.get(name)
    if value is None:
        raise SettingError(name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise SettingError(name, "must be a non-empty string")
    return value.strip()


def _int(config: Mapping[str, t.Any], name: str) -> int:
    spec = SPEC[name]
    lo, hi = int(spec.minimum or 0), int(spec.maximum or 0)
    value = config.get(name)
    if value is None:
        value = DEFAULTS[name]
    if isinstance(value, bool):
        raise SettingError(name, f"must be an integer from {lo} to {hi}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise SettingError(name, f"must be an integer from {lo} to {hi}") from None
    if not isinstance(value, int) or not lo <= value <= hi:
        raise SettingError(name, f"must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _minor_version(config: Mapping[str, t.Any]) -> int:
    raw = config.get("minor_version")
    with contextlib.suppress(TypeError, ValueError):
        if raw is not None and not isinstance(raw, bool) and int(raw) < MIN_MINOR_VERSION:
            raise SettingError(
                "minor_version",
                f"must be {MIN_MINOR_VERSION} or more, got {int(raw)}: Intuit retired minor "
                f"versions 1-74 on 2025-08-01 and answers them as {MIN_MINOR_VERSION}",
            )
    return _int(config, "minor_version")


def _url(name: str, value: t.Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SettingError(name, "must be an http(s) URL")
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.netloc or any(c in text for c in " '\""):
        raise SettingError(name, f"must be an http(s) URL, got {text!r}")
    return text


def parse_realm_ids(value: t.Any) -> tuple[str, ...]:
    """Realm ids from a string, a comma-separated string or a list; digits only."""
    if value is None:
        raise SettingError("realm_id", "is required")
    if isinstance(value, str):
        items = value.split(",") if value.strip() else []
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise SettingError("realm_id", "must be a string or a list of strings")
    realms: list[str] = []
    for item in items:
        text = str(item).strip() if isinstance(item, str | int) else ""
        try:
            validate_realm_id(text)
        except ValueError as exc:
            raise SettingError("realm_id", f"{exc}; got {str(item)!r}") from None
        if text not in realms:
            realms.append(text)
    if not realms:
        raise SettingError("realm_id", "is required (the QuickBooks company id)")
    return tuple(realms)


def _refresh_tokens(config: Mapping[str, t.Any], realms: tuple[str, ...]) -> dict[str, str]:
    if config.get("refresh_token") in (None, ""):
        # A company connected with `tap-quickbooks authorize`: its token is in the store.
        return dict.fromkeys(realms, "")
    raw = _secret(config, "refresh_token")
    tokens = [part.strip() for part in raw.split(",")]
    if any(not token for token in tokens):
        raise SettingError("refresh_token", "contains an empty token")
    if any(c.isspace() for token in tokens for c in token):
        raise SettingError("refresh_token", "must not contain whitespace")
    if len(tokens) == 1:
        return dict.fromkeys(realms, tokens[0])
    if len(tokens) != len(realms):
        raise SettingError(
            "refresh_token",
            f"has {len(tokens)} comma-separated tokens for {len(realms)} realms; "
            "give one per realm_id, in the same order",
        )
    return dict(zip(realms, tokens, strict=True))


def _bool(config: Mapping[str, t.Any], name: str) -> bool:
    value = config.get(name, DEFAULTS[name])
    if value is None:
        return bool(DEFAULTS[name])
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise SettingError(name, "must be true or false")


def load_settings(
    config: Mapping[str, t.Any],
    *,
    now: dt.datetime | None = None,
    default_user_agent: str = "tap-quickbooks",
) -> Settings:
    """Validate `config` (the tap's config dict) and return `Settings`."""
    now = now or dt.datetime.now(dt.UTC)
    client_id = _secret(config, "client_id")
    client_secret = _secret(config, "client_secret")
    realms = parse_realm_ids(config.get("realm_id"))
    refresh_tokens = _refresh_tokens(config, realms)

    environment = config.get("environment") or DEFAULTS["environment"]
    if environment not in API_URLS:
        raise SettingError(
            "environment", f"must be 'production' or 'sandbox', got {str(environment)!r}"
        )
    api_url = _url("api_url", config["api_url"]) if config.get("api_url") else API_URLS[environment]
    auth_url = _url("auth_url", config["auth_url"]) if config.get("auth_url") else AUTH_URL

    if config.get("start_date") in (None, ""):
        raise SettingError("start_date", "is required (e.g. 2022-01-01)")
    start_date = parse_datetime("start_date", config["start_date"])
    end_date = None
    if config.get("end_date") not in (None, ""):
        end_date = parse_datetime("end_date", config["end_date"])
        if end_date <= start_date:
            raise SettingError("end_date", "must be after start_date (it is exclusive)")
    if start_date >= now:
        raise SettingError("start_date", "is in the future")

    token_store = config.get("token_store_path") or DEFAULTS["token_store_path"]
    if not isinstance(token_store, str) or not token_store.strip():
        raise SettingError("token_store_path", "must be a file path")
    token_store_path = Path(os.path.expanduser(token_store.strip()))
    if token_store_path.exists() and token_store_path.is_dir():
        raise SettingError("token_store_path", "is a directory; give a file path")

    token_store_url = config.get("token_store_url") or None
    if token_store_url is not None:
        if not isinstance(token_store_url, str):
            raise SettingError("token_store_url", "must be a postgresql:// URL")
        from tap_quickbooks.pg_store import validate_url

        token_store_url = validate_url(token_store_url)

    timeout = config.get("request_timeout")
    if timeout is None:
        timeout = DEFAULTS["request_timeout"]
    if isinstance(timeout, str):
        try:
            timeout = float(timeout)
        except ValueError:
            raise SettingError("request_timeout", "must be a number of seconds") from None
    most = SPEC["request_timeout"].maximum or 0
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= most:
        raise SettingError("request_timeout", f"must be a number of seconds from 0 to {most:g}")

    user_agent = config.get("user_agent") or default_user_agent
    if not isinstance(user_agent, str) or any(c in user_agent for c in "\r\n"):
        raise SettingError("user_agent", "must be a single-line string")

    windows_set = config.get("window_days") not in (None, "")
    return Settings(
        client_id=client_id,
        client_secret=client_secret,
        refresh_tokens=refresh_tokens,
        realm_ids=realms,
        api_url=api_url,
        auth_url=auth_url,
        start_date=start_date,
        end_date=end_date,
        window_days=_int(config, "window_days") if windows_set else AUTO_WINDOW_DAYS,
        merge_windows=not windows_set,
        page_size=_int(config, "page_size"),
        minor_version=_minor_version(config),
        token_store_path=token_store_path,
        token_store_url=token_store_url,
        max_requests_per_minute=_int(config, "max_requests_per_minute"),
        max_concurrent_requests=_int(config, "max_concurrent_requests"),
        request_timeout=float(timeout),
        max_retries=_int(config, "max_retries"),
        user_agent=user_agent,
        include_deletes=_bool(config, "include_deletes"),
        max_window_failures=_int(config, "max_window_failures"),
        use_cdc=_bool(config, "use_cdc"),
        entity_overrides=_entity_overrides(config.get("entity_overrides")),
        **report_fields(load_report_settings(config)),
        parallel_realms=_bool(config, "parallel_realms"),
        max_total_requests=_int(config, "max_total_requests"),
        max_buffered_pages=_int(config, "max_buffered_pages"),
    )


def _entity_overrides(value: t.Any) -> dict[str, dict[str, bool]]:
    """`{Entity: {flag: bool}}` with known flags only (entity names checked by the tap)."""
    if value in (None, "", {}):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SettingError("entity_overrides", "must be a JSON object") from None
    if not isinstance(value, dict):
        raise SettingError("entity_overrides", "must be an object of entity -> flags")
    result: dict[str, dict[str, bool]] = {}
    for entity, flags in value.items():
        if not isinstance(flags, dict) or not flags:
            raise SettingError("entity_overrides", f"{entity!r} must map to an object of flags")
        for flag, on in flags.items():
            if flag not in ENTITY_OVERRIDE_FLAGS:
                known = ", ".join(ENTITY_OVERRIDE_FLAGS)
                raise SettingError("entity_overrides", f"unknown flag {flag!r} (known: {known})")
            if not isinstance(on, bool):
                raise SettingError("entity_overrides", f"{entity}.{flag} must be true or false")
        result[str(entity)] = dict(flags)
    return result


def config_jsonschema() -> dict[str, t.Any]:
    """The tap's settings schema, from :data:`SPECS` (bounds included)."""
    properties: dict[str, t.Any] = {}
    for spec in SPECS:
        description = spec.description
        if spec.minimum is not None and spec.maximum is not None:
            description = f"{description} ({spec.minimum:g}..{spec.maximum:g})"
        prop: dict[str, t.Any] = {"description": description}
        if spec.type == "date-time":
            prop["type"] = ["string"] if spec.required else ["string", "null"]
            prop["format"] = "date-time"
        else:
            prop["type"] = [spec.type] if spec.required else [spec.type, "null"]
        if spec.default is not None:
            prop["default"] = spec.default
        if spec.minimum is not None:
            prop["minimum"] = spec.minimum
        if spec.maximum is not None:
            prop["maximum"] = spec.maximum
        if spec.allowed:
            prop["enum"] = list(spec.allowed)
        if spec.secret:
            prop["secret"] = True
            prop["writeOnly"] = True
        properties[spec.name] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [spec.name for spec in SPECS if spec.required],
    }


def coerced() -> tuple[str, ...]:
    """Settings given as strings in hand-written config that are numbers or flags."""
    return tuple(s.name for s in SPECS if s.type in {"integer", "number", "boolean"})
