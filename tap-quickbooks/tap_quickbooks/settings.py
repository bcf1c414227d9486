"""Settings: validation of the tap's config into a frozen `Settings` (pure).

Each problem raises :class:`SettingError` naming the setting, before any request.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import typing as t
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tap_quickbooks.errors import SettingError
from tap_quickbooks.query import MAX_PAGE_SIZE, validate_realm_id

if t.TYPE_CHECKING:
    from collections.abc import Mapping

API_URLS = {
    "production": "https://quickbooks.api.intuit.com",
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
}
AUTH_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
DEFAULT_TOKEN_STORE = "~/.config/tap-quickbooks/tokens.json"  # noqa: S105 - a path
DEFAULTS: dict[str, t.Any] = {
    "environment": "production",
    "window_days": 365,
    "page_size": 1000,
    "minor_version": 75,
    "token_store_path": DEFAULT_TOKEN_STORE,
    "max_requests_per_minute": 450,
    "max_concurrent_requests": 10,
    "request_timeout": 120,
    "max_retries": 5,
    "include_deletes": True,
    "max_window_failures": 3,
    "parallel_realms": True,
    "max_total_requests": 40,
    "max_buffered_pages": 10,
}
MAX_CONCURRENT = 10  # Intuit: at most 10 concurrent requests per app and realm
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
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
    parallel_realms: bool = True
    max_total_requests: int = 40
    max_buffered_pages: int = 10

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


def _int(config: Mapping[str, t.Any], name: str, lo: int, hi: int) -> int:
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


# Intuit stopped serving minor versions 1-74 on 2025-08-01: it answers them as 75 (its
# "Minor versions of our API" page and developer blog, 2025-01-21).
MIN_MINOR_VERSION = 75


def _minor_version(config: Mapping[str, t.Any]) -> int:
    value = _int(config, "minor_version", 1, 999)
    if value < MIN_MINOR_VERSION:
        raise SettingError(
            "minor_version",
            f"must be {MIN_MINOR_VERSION} or more, got {value}: Intuit retired minor versions "
            f"1-74 on 2025-08-01 and answers them as {MIN_MINOR_VERSION}",
        )
    return value


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
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise SettingError("request_timeout", "must be a number of seconds from 0 to 600")

    user_agent = config.get("user_agent") or default_user_agent
    if not isinstance(user_agent, str) or any(c in user_agent for c in "\r\n"):
        raise SettingError("user_agent", "must be a single-line string")

    return Settings(
        client_id=client_id,
        client_secret=client_secret,
        refresh_tokens=refresh_tokens,
        realm_ids=realms,
        api_url=api_url,
        auth_url=auth_url,
        start_date=start_date,
        end_date=end_date,
        window_days=_int(config, "window_days", 1, 3660),
        page_size=_int(config, "page_size", 1, MAX_PAGE_SIZE),
        minor_version=_minor_version(config),
        token_store_path=token_store_path,
        token_store_url=token_store_url,
        max_requests_per_minute=_int(config, "max_requests_per_minute", 1, 1_000_000),
        max_concurrent_requests=_int(config, "max_concurrent_requests", 1, MAX_CONCURRENT),
        request_timeout=float(timeout),
        max_retries=_int(config, "max_retries", 0, 20),
        user_agent=user_agent,
        include_deletes=_bool(config, "include_deletes"),
        max_window_failures=_int(config, "max_window_failures", 1, 100),
        parallel_realms=_bool(config, "parallel_realms"),
        max_total_requests=_int(config, "max_total_requests", 1, 1000),
        max_buffered_pages=_int(config, "max_buffered_pages", 1, 1000),
    )
