"""OAuth 2.0 refresh-token authentication and the durable token store.

Intuit rotates refresh tokens: every token returned by the token endpoint must be kept,
because the one used to get it may stop working at once. Meltano regenerates the tap's
config on every run, so the latest token lives in a small JSON file (the token store),
written atomically (temp file + ``os.replace``), mode 0600, under an ``fcntl`` lock on a
sidecar ``.lock`` file that is held across the whole refresh so that two runs at once
neither corrupt the file nor spend the same refresh token twice.

The store remembers a hash of the configured refresh token each entry was derived from
(its seed). When the configured token differs from that seed, the user has
re-authorized and the configured token wins; otherwise the stored (latest) token wins.
Without a configured token the stored one is used (a company connected with
`tap-quickbooks authorize`).

Runs on more than one machine share a Postgres store instead (`token_store_url`, module
`tap_quickbooks.pg_store`): both implement the `Store` protocol below.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
import typing as t
from pathlib import Path

import requests

from tap_quickbooks import limits
from tap_quickbooks.errors import AuthError, RetriesExhaustedError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger("tap-quickbooks.auth")

STORE_VERSION = 1
EXPIRY_MARGIN_SECONDS = 300.0
REAUTHORIZE_HINT = (
    "re-authorize: connect the company again with `tap-quickbooks authorize` (or set a new "
    "refresh token from Intuit's OAuth 2.0 Playground in TAP_QUICKBOOKS_REFRESH_TOKEN, "
    "setting refresh_token)"
)


class Slot(t.Protocol):
    """One company's token, locked from reading it until the rotated one is saved."""

    refresh_token: str

    def rotated(self, refresh_token: str, expires_in: float | None) -> None:
        """Save the token the endpoint returned (the same or a new one), durably, at once."""


class Store(t.Protocol):
    """Where the latest refresh token of each app and company is kept."""

    def describe(self) -> str:
        """Where the store is, for messages (never a secret)."""

    def rotation(
        self, client_id: str, realm_id: str, configured: str
    ) -> contextlib.AbstractContextManager[Slot]:
        """Lock one company's token; `configured` is the setting's token ("" for none)."""

    def connect(
        self,
        client_id: str,
        realm_id: str,
        refresh_token: str,
        expires_in: float | None,
        configured: str = "",
    ) -> None:
        """Keep the refresh token of a newly authorized company."""

    def companies(self, client_id: str) -> list[str]:
        """The realm ids connected for this app, sorted."""


def sha256_hex(*parts: str) -> str:
    """Hex SHA-256 of the parts joined by NUL (unambiguous)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def store_key(client_id: str, realm_id: str) -> str:
    """The store entry key for one app and company: sha256(client_id, realm_id)."""
    return sha256_hex(client_id, realm_id)


class TokenStore:
    """A JSON file of the latest refresh token per (client, realm)."""

    def __init__(self, path: Path) -> None:
        """Use the store at `path` (created on first write, with its parent directory)."""
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, t.Any]]:
        """Hold the exclusive lock and yield the current contents (write with `save`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield self.load()
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def load(self) -> dict[str, t.Any]:
        """Read the store; a missing or unreadable file is an empty store."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": STORE_VERSION, "entries": {}}
        try:
            data = json.loads(raw)
        except ValueError:
            logger.warning("Token store %s is not valid JSON; starting a new one", self.path)
            return {"version": STORE_VERSION, "entries": {}}
        if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
            return {"version": STORE_VERSION, "entries": {}}
        return data

    def save(self, data: dict[str, t.Any]) -> None:
        """Replace the file atomically with `data`, mode 0600 (call under `locked`)."""
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    @staticmethod
    def choose_token(data: dict[str, t.Any], key: str, configured: str) -> str:
        """The refresh token to use: the stored one unless the user re-authorized.

        "" when there is neither a stored nor a configured token.
        """
        entry = data.get("entries", {}).get(key)
        if (
            isinstance(entry, dict)
            and (not configured or entry.get("seed_sha256") == sha256_hex(configured))
            and isinstance(entry.get("refresh_token"), str)
            and entry["refresh_token"]
        ):
            return str(entry["refresh_token"])
        return configured

    @staticmethod
    def record(
        data: dict[str, t.Any],
        key: str,
        configured: str,
        refresh_token: str,
        *,
        realm_id: str | None = None,
        app: str | None = None,
    ) -> None:
        """Remember `refresh_token` as the latest token derived from `configured`.

        Without a configured token the entry keeps the seed it had.
        """
        data["version"] = STORE_VERSION
        entries = data.setdefault("entries", {})
        previous = entries.get(key) if isinstance(entries.get(key), dict) else {}
        seed = sha256_hex(configured) if configured else previous.get("seed_sha256")
        entry = {
            "refresh_token": refresh_token,
            "seed_sha256": seed,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        for name, value in (("realm_id", realm_id), ("app", app)):
            if value or previous.get(name):
                entry[name] = value or previous[name]
        entries[key] = entry

    # ------------------------------------------------------------------ the Store protocol
    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    @contextlib.contextmanager
    def rotation(self, client_id: str, realm_id: str, configured: str) -> Iterator[Slot]:
        """Hold the file lock from reading the token until the rotated one is saved."""
        key = store_key(client_id, realm_id)
        with self.locked() as data:
            yield _FileSlot(self, data, key, configured, client_id, realm_id)

    def connect(
        self,
        client_id: str,
        realm_id: str,
        refresh_token: str,
        expires_in: float | None,
        configured: str = "",
    ) -> None:
        """Keep the refresh token of a newly authorized company."""
        with self.rotation(client_id, realm_id, configured) as slot:
            slot.rotated(refresh_token, expires_in)

    def companies(self, client_id: str) -> list[str]:
        """Realm ids of the entries written for this app (older entries have none)."""
        app = sha256_hex(client_id)
        entries = self.load().get("entries", {})
        return sorted(
            {
                str(e["realm_id"])
                for e in entries.values()
                if isinstance(e, dict) and e.get("app") == app and e.get("realm_id")
            }
        )


class _FileSlot:
    def __init__(
        self,
        store: TokenStore,
        data: dict[str, t.Any],
        key: str,
        configured: str,
        client_id: str,
        realm_id: str,
    ) -> None:
        self._store = store
        self._data = data
        self._key = key
        self._configured = configured
        self._app = sha256_hex(client_id)
        self._realm_id = realm_id
        self.refresh_token = TokenStore.choose_token(data, key, configured)

    def rotated(self, refresh_token: str, expires_in: float | None) -> None:
        TokenStore.record(
            self._data,
            self._key,
            self._configured,
            refresh_token,
            realm_id=self._realm_id,
            app=self._app,
        )
        self._store.save(self._data)


def open_store(token_store_path: Path, token_store_url: str | None) -> Store:
    """The Postgres store when `token_store_url` is set, else the file store."""
    if token_store_url:
        from tap_quickbooks.pg_store import PostgresTokenStore

        return PostgresTokenStore(token_store_url)
    return TokenStore(token_store_path)


def refresh_token_lifetime(body: dict[str, t.Any]) -> float | None:
    """`x_refresh_token_expires_in` of a token response, when it is a number."""
    value = body.get("x_refresh_token_expires_in")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RealmAuthenticator:
    """Access tokens for one realm: refreshed before the first call and after a 401."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        realm_id: str,
        refresh_token: str,
        auth_url: str,
        store: Store,
        session: requests.Session,
        timeout: float,
        max_retries: int,
        user_agent: str,
    ) -> None:
        """Configure the refresher; no request is made until `token()` is called."""
        self.client_id = client_id
        self._client_secret = client_secret
        self.realm_id = realm_id
        self._configured = refresh_token
        self.auth_url = auth_url
        self.store = store
        self.session = session
        self.timeout = timeout
        self.max_retries = max_retries
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.generation = 0
        self.refreshes = 0
        # The failure of the last refresh, until `clear_failure()`: every request in flight
        # gets it, instead of trying again each (with its own retries) against a token
        # endpoint that is down.
        self._failure: AuthError | RetriesExhaustedError | None = None

    def token(self) -> tuple[str, int]:
        """A valid access token and its generation (refreshing first when needed)."""
        with self._lock:
            if self._access_token is None or time.monotonic() >= self._expires_at:
                self._refresh()
            assert self._access_token is not None
            return self._access_token, self.generation

    def refresh_after_401(self, generation: int) -> None:
        """Refresh once for all requests that saw a 401 with token `generation`."""
        with self._lock:
            if generation == self.generation:
                self._refresh()

    def clear_failure(self) -> None:
        """Let the next request try to refresh again (e.g. when a window is retried)."""
        with self._lock:
            self._failure = None

    def _refresh(self) -> None:
        if self._failure is not None:
            raise copy.copy(self._failure) from None
        try:
            self._refresh_once()
        except (AuthError, RetriesExhaustedError) as exc:
            self._failure = exc
            raise
        self._failure = None

    def _refresh_once(self) -> None:
        with self.store.rotation(self.client_id, self.realm_id, self._configured) as slot:
            refresh_token = slot.refresh_token
            if not refresh_token:
                msg = (
                    f"no refresh token for realm {self.realm_id} in the token store "
                    f"{self.store.describe()}: connect the company with `tap-quickbooks "
                    "authorize`, or set refresh_token"
                )
                raise AuthError(msg)
            body = self._post(refresh_token)
            new_refresh = body.get("refresh_token")
            access = body.get("access_token")
            if not isinstance(access, str) or not access:
                msg = f"token endpoint answered without an access token (auth_url {self.auth_url})"
                raise AuthError(msg)
            if not isinstance(new_refresh, str) or not new_refresh:
                new_refresh = refresh_token
            slot.rotated(new_refresh, refresh_token_lifetime(body))
        try:
            expires_in = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        self._access_token = access
        self._expires_at = time.monotonic() + max(0.0, expires_in - EXPIRY_MARGIN_SECONDS)
        self.generation += 1
        self.refreshes += 1
        logger.info("Refreshed the access token for realm %s", self.realm_id)

    def _post(self, refresh_token: str) -> dict[str, t.Any]:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.post(
                    self.auth_url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=(self.client_id, self._client_secret),
                    headers={"Accept": "application/json", "User-Agent": self.user_agent},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                problem = (
                    f"could not reach the token endpoint (auth_url {self.auth_url}): "
                    f"{type(exc).__name__}"
                )
                if attempt > self.max_retries:
                    raise RetriesExhaustedError(problem) from None
                logger.warning("%s; retrying", problem)
                limits.sleep(limits.backoff_delay(attempt))
                continue
            if response.status_code == 200:
                try:
                    body = response.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    return body
                problem = "token endpoint returned a body that is not JSON"
            elif response.status_code in {400, 401}:
                error = _oauth_error(response)
                if error == "invalid_grant":
                    msg = (
                        f"QuickBooks refused the refresh token for realm {self.realm_id} "
                        f"(invalid_grant: expired, revoked or already used): {REAUTHORIZE_HINT}"
                    )
                    raise AuthError(msg)
                if error == "invalid_client" or response.status_code == 401:
                    msg = (
                        "QuickBooks refused the app credentials (invalid_client): check the "
                        "settings client_id and client_secret"
                    )
                    raise AuthError(msg)
                reason = error or response.status_code
                msg = f"token endpoint refused the refresh ({reason}): {REAUTHORIZE_HINT}"
                raise AuthError(msg)
            elif response.status_code == 429 or response.status_code >= 500:
                problem = f"token endpoint answered HTTP {response.status_code}"
            else:
                msg = (
                    f"token endpoint answered HTTP {response.status_code} "
                    f"(auth_url {self.auth_url})"
                )
                raise AuthError(msg)
            if attempt > self.max_retries:
                raise RetriesExhaustedError(problem)
            logger.warning("%s; retrying", problem)
            limits.sleep(limits.backoff_delay(attempt))


def _oauth_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) and error.isidentifier() else None
