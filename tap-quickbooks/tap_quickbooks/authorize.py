"""`tap-quickbooks authorize`: connect a company with Intuit's authorization-code flow.

1. Listen on a loopback redirect, ``http://127.0.0.1:<port>/callback`` (Intuit accepts it for
   development keys; register it in the app's Redirect URIs).
2. Print (and open) the consent URL, with a random ``state``.
3. On the callback, check ``state``, exchange the code at the token endpoint, and keep the
   refresh token and the realm id in the token store (file or Postgres, as the tap's
   settings say).
4. Print the realm id: the value to add to ``realm_id``.

Settings come from ``--config FILE`` (the tap's JSON config) over ``TAP_QUICKBOOKS_*``
variables: ``client_id``, ``client_secret``, ``auth_url``, ``token_store_path`` or
``token_store_url``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import secrets
import sys
import threading
import typing as t
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from tap_quickbooks.auth import Store, open_store, refresh_token_lifetime
from tap_quickbooks.errors import AuthError, SettingError, TapQuickBooksError
from tap_quickbooks.query import validate_realm_id
from tap_quickbooks.settings import AUTH_URL, DEFAULTS, _secret, _url

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
SCOPE = "com.intuit.quickbooks.accounting"
DEFAULT_PORT = 8765
DEFAULT_TIMEOUT = 300.0
ENV_PREFIX = "TAP_QUICKBOOKS_"
_SETTINGS = ("client_id", "client_secret", "auth_url", "token_store_path", "token_store_url")
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>tap-quickbooks</title>"
    "<p>{message}</p><p>You can close this window.</p>"
)


class AuthorizeError(TapQuickBooksError):
    """The company could not be connected; nothing was stored."""


class _Callback(http.server.BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self._answer(404, "Not the callback.")
            return
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        ok = self.server.deliver(params)
        self._answer(
            200 if ok else 400,
            "The company is being connected; see the terminal."
            if ok
            else "This answer does not belong to the request; nothing was stored.",
        )

    def _answer(self, status: int, message: str) -> None:
        body = _PAGE.format(message=message).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: t.Any) -> None:
        """Quiet: the query string holds the code."""


class _CallbackServer(http.server.HTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Callback)
        self.answer: dict[str, str] | None = None
        self.arrived = threading.Event()

    def deliver(self, params: dict[str, str]) -> bool:
        """Take the first callback only; True when it carries a code or an error."""
        if self.arrived.is_set():
            return False
        self.answer = params
        self.arrived.set()
        return "code" in params or "error" in params


def consent_url(authorize_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """The URL of Intuit's consent screen for this request."""
    query = urlencode(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{authorize_url}{'&' if '?' in authorize_url else '?'}{query}"


def authorize(
    *,
    client_id: str,
    client_secret: str,
    token_url: str,
    store: Store,
    authorize_url: str = AUTHORIZE_URL,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    open_url: Callable[[str], object] | None = None,
    announce: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
) -> str:
    """Run the flow and return the realm id of the connected company."""
    try:
        server = _CallbackServer(port)
    except OSError as exc:
        msg = f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass another --port"
        raise AuthorizeError(msg) from None
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    state = secrets.token_urlsafe(24)
    url = consent_url(authorize_url, client_id, redirect_uri, state)
    thread = threading.Thread(target=server.serve_forever, name="authorize-callback", daemon=True)
    thread.start()
    try:
        announce(
            f"Redirect URI (add it to your Intuit app's Redirect URIs): {redirect_uri}\n"
            f"Open this URL, sign in and pick the company to connect:\n{url}"
        )
        if open_url is not None:
            open_url(url)
        if not server.arrived.wait(timeout):
            msg = f"no answer from the consent screen within {timeout:.0f} s; nothing stored"
            raise AuthorizeError(msg)
    finally:
        server.shutdown()
        server.server_close()
    answer = server.answer or {}
    if not secrets.compare_digest(answer.get("state", ""), state):
        msg = "the callback's state does not match this request (not this consent); nothing stored"
        raise AuthorizeError(msg)
    if "error" in answer:
        error = answer["error"]
        hint = " (the consent was declined)" if error == "access_denied" else ""
        raise AuthorizeError(f"the consent screen answered {error}{hint}; nothing stored")
    code, realm_id = answer.get("code", ""), answer.get("realmId", "")
    try:
        validate_realm_id(realm_id)
    except ValueError:
        msg = "the callback carries no valid realmId (pick a company on the consent screen)"
        raise AuthorizeError(msg) from None
    if not code:
        raise AuthorizeError("the callback carries no authorization code; nothing stored")
    body = _exchange(token_url, client_id, client_secret, code, redirect_uri)
    store.connect(client_id, realm_id, body["refresh_token"], refresh_token_lifetime(body))
    announce(
        f"Connected company {realm_id}; its refresh token is in the token store "
        f"{store.describe()}. Add {realm_id} to realm_id (TAP_QUICKBOOKS_REALM_ID)."
    )
    return realm_id


def _exchange(
    token_url: str, client_id: str, client_secret: str, code: str, redirect_uri: str
) -> dict[str, t.Any]:
    try:
        response = requests.post(
            token_url,
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
            auth=(client_id, client_secret),
            headers={"Accept": "application/json"},
            timeout=60,
        )
    except requests.RequestException as exc:
        msg = f"could not reach the token endpoint (auth_url {token_url}): {type(exc).__name__}"
        raise AuthorizeError(msg) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        if error == "invalid_client" or response.status_code == 401:
            raise AuthError(
                "QuickBooks refused the app credentials (invalid_client): check the settings "
                "client_id and client_secret"
            )
        reason = error if isinstance(error, str) and error.isidentifier() else "no error name"
        msg = (
            f"the token endpoint refused the code (HTTP {response.status_code}, {reason}); "
            "run `tap-quickbooks authorize` again"
        )
        raise AuthorizeError(msg)
    if not isinstance(body.get("refresh_token"), str) or not body["refresh_token"]:
        raise AuthorizeError("the token endpoint answered without a refresh token")
    return body


def _config(path: str | None, environ: Mapping[str, str]) -> dict[str, t.Any]:
    config: dict[str, t.Any] = {}
    for name in _SETTINGS:
        value = environ.get(f"{ENV_PREFIX}{name.upper()}")
        if value:
            config[name] = value
    if path:
        try:
            loaded = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthorizeError(f"--config {path}: cannot read a JSON object ({exc})") from None
        if not isinstance(loaded, dict):
            raise AuthorizeError(f"--config {path}: not a JSON object")
        config.update({k: v for k, v in loaded.items() if k in _SETTINGS and v})
    return config


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    """`tap-quickbooks authorize [--config FILE] [--port N] [--no-browser] ...`."""
    parser = argparse.ArgumentParser(
        prog="tap-quickbooks authorize",
        description="Connect a QuickBooks company: consent in the browser, then keep its "
        "refresh token in the token store and print its realm id.",
    )
    parser.add_argument("--config", help="the tap's JSON config (else TAP_QUICKBOOKS_* variables)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"callback port ({DEFAULT_PORT}; 0: any)"
    )
    parser.add_argument(
        "--authorize-url", default=AUTHORIZE_URL, help=f"consent screen ({AUTHORIZE_URL})"
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for consent"
    )
    args = parser.parse_args(argv)
    config = _config(args.config, os.environ if environ is None else environ)
    client_id = _secret(config, "client_id")
    client_secret = _secret(config, "client_secret")
    token_url = _url("auth_url", config["auth_url"]) if config.get("auth_url") else AUTH_URL
    authorize_url = _url("--authorize-url", args.authorize_url)
    if not 0 <= args.port <= 65535:
        raise SettingError("--port", "must be from 0 to 65535")
    path = Path(
        os.path.expanduser(str(config.get("token_store_path") or DEFAULTS["token_store_path"]))
    )
    store = open_store(path, config.get("token_store_url") or None)
    realm_id = authorize(
        client_id=client_id,
        client_secret=client_secret,
        token_url=token_url,
        store=store,
        authorize_url=authorize_url,
        port=args.port,
        timeout=args.timeout,
        open_url=None if args.no_browser else _open_browser,
    )
    print(realm_id, flush=True)
    return 0


def _open_browser(url: str) -> None:
    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)
