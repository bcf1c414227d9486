"""OAuth 2.0: the consent screen, the authorization-code and refresh-token grants.

Token families per realm, rotation, access-token lifetimes.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    from qbo_emulator.config import Config
    from qbo_emulator.timeutil import Clock

INITIAL_REFRESH = "qbo-emulator-refresh"
_JWE_HEAD = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.."
HARD_EXPIRY = 157680000  # five years
SUPERSEDED_KEPT = 100
#: The consent screen (Intuit: https://appcenter.intuit.com/connect/oauth2).
AUTHORIZE_PATH = "/connect/oauth2"
#: The scope the tap asks for; Intuit refuses a request without a known scope.
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
#: Seconds an authorization code can be exchanged (Intuit: a few minutes), once.
CODE_TTL = 300.0


def initial_refresh_token(realm: str, index: int) -> str:
    return INITIAL_REFRESH if index == 0 else f"{INITIAL_REFRESH}-{realm}"


@dataclass
class Family:
    realm: str
    current: str
    issued_at: float
    superseded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Code:
    realm: str
    redirect_uri: str
    expires_at: float


class OAuthError(Exception):
    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body.get("error", ""))
        self.status = status
        self.body = body


class Tokens:
    """Refresh tokens (one family per realm) and the access tokens issued from them."""

    def __init__(self, realms: list[str], config: Config, clock: Clock, path: str | None) -> None:
        self.config = config
        self.clock = clock
        self.path = path
        now = clock.now()
        self.families: dict[str, Family] = {
            realm: Family(realm, initial_refresh_token(realm, i), now)
            for i, realm in enumerate(realms)
        }
        self.access: dict[str, tuple[str, float]] = {}
        self.codes: dict[str, Code] = {}
        if path and os.path.exists(path):
            self._load(path)

    # ------------------------------------------------------------------ persistence
    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        for realm, fam in state.get("families", {}).items():
            if realm in self.families:
                self.families[realm] = Family(
                    realm, fam["current"], float(fam["issued_at"]), list(fam.get("superseded", []))
                )
        for token, (realm, expires) in state.get("access", {}).items():
            if realm in self.families:
                self.access[token] = (realm, float(expires))

    def _save(self) -> None:
        if not self.path:
            return
        now = self.clock.now()
        state = {
            "families": {
                r: {"current": f.current, "issued_at": f.issued_at, "superseded": f.superseded}
                for r, f in self.families.items()
            },
            "access": {t: [r, e] for t, (r, e) in self.access.items() if e > now},
        }
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
        os.replace(tmp, self.path)

    # ------------------------------------------------------------------ grant
    def _invalid_grant(self) -> OAuthError:
        style = self.config.invalid_grant_body
        if style == "described":
            body = {
                "error": "invalid_grant",
                "error_description": "Incorrect or invalid refresh token",
            }
        elif style == "token_invalid":
            body = {"error_description": "Token invalid", "error": "invalid_grant"}
        else:
            body = {"error": "invalid_grant"}
        return OAuthError(400, body)

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.config.client_id or client_secret != self.config.client_secret:
            raise OAuthError(401, {"error": "invalid_client"})

    def refresh(self, refresh_token: str, hard_expiry: bool = False) -> dict[str, Any]:
        """Answer a refresh_token grant, rotating per the policy; raises OAuthError."""
        now = self.clock.now()
        fam = next((f for f in self.families.values() if f.current == refresh_token), None)
        if fam is None:
            raise self._invalid_grant()
        ttl = self.config.refresh_token_ttl
        if now - fam.issued_at >= ttl:
            raise self._invalid_grant()
        rotate = self.config.rotation == "every" or (
            self.config.rotation == "daily" and now - fam.issued_at >= 86400
        )
        if rotate:
            fam.superseded = [*fam.superseded, fam.current][-SUPERSEDED_KEPT:]
            fam.current = f"RT1-{fam.realm[-3:]}-H0-{int(now)}{secrets.token_hex(10)}"
            fam.issued_at = now
        access = f"{_JWE_HEAD}{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(96)}"
        self.access[access] = (fam.realm, now + self.config.access_token_ttl)
        if len(self.access) > 10000:
            self.access = {t: v for t, v in self.access.items() if v[1] > now}
        self._save()
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.config.access_token_ttl,
            "refresh_token": fam.current,
            "x_refresh_token_expires_in": max(0, int(ttl - (now - fam.issued_at))),
        }
        if hard_expiry:
            body["x_refresh_token_hard_expires_in"] = HARD_EXPIRY
        return body

    # ------------------------------------------------------------------ consent and code grant
    def authorize(self, params: dict[str, str]) -> str:
        """The consent screen: the URL it sends the browser back to (raises OAuthError when
        the request cannot be sent back: unknown client or no usable redirect_uri)."""
        if params.get("client_id") != self.config.client_id:
            raise OAuthError(400, {"error": "invalid_client"})
        redirect = params.get("redirect_uri", "")
        if urlsplit(redirect).scheme not in {"http", "https"} or not urlsplit(redirect).netloc:
            raise OAuthError(
                400, {"error": "invalid_request", "error_description": "redirect_uri is invalid"}
            )
        answer: dict[str, str]
        if params.get("response_type") != "code":
            answer = {"error": "unsupported_response_type"}
        elif ACCOUNTING_SCOPE not in params.get("scope", "").split():
            answer = {"error": "invalid_scope"}
        elif self.config.consent == "deny":
            answer = {"error": "access_denied"}
        else:
            realm = self.config.consent_realm or next(iter(self.families))
            if realm not in self.families:
                raise OAuthError(400, {"error": "invalid_request", "error_description": "realm"})
            code = f"AB11{int(self.clock.now())}{secrets.token_urlsafe(24)}"
            self.codes[code] = Code(realm, redirect, self.clock.now() + CODE_TTL)
            answer = {"code": code, "realmId": realm}
        if "state" in params:
            answer["state"] = params["state"]
        return f"{redirect}{'&' if '?' in redirect else '?'}{urlencode(answer)}"

    def exchange_code(
        self, code: str, redirect_uri: str, hard_expiry: bool = False
    ) -> dict[str, Any]:
        """Answer an authorization_code grant: a new refresh token for the consented realm.

        A code is good once, before it expires, with the redirect_uri it was issued for.
        The realm's previous refresh token is superseded (the user connected again).
        """
        grant = self.codes.pop(code, None)
        now = self.clock.now()
        if grant is None or grant.expires_at <= now or grant.redirect_uri != redirect_uri:
            raise self._invalid_grant()
        fam = self.families[grant.realm]
        fam.superseded = [*fam.superseded, fam.current][-SUPERSEDED_KEPT:]
        fam.current = f"RT1-{fam.realm[-3:]}-H0-{int(now)}{secrets.token_hex(10)}"
        fam.issued_at = now
        access = f"{_JWE_HEAD}{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(96)}"
        self.access[access] = (fam.realm, now + self.config.access_token_ttl)
        self._save()
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": self.config.access_token_ttl,
            "refresh_token": fam.current,
            "x_refresh_token_expires_in": int(self.config.refresh_token_ttl),
        }
        if hard_expiry:
            body["x_refresh_token_hard_expires_in"] = HARD_EXPIRY
        return body

    def bearer_realm(self, token: str) -> tuple[str | None, str]:
        """(realm, "") for a live access token, else (None, gateway detail)."""
        if len(token) < 20 or len(token) > 4096:
            return None, "Malformed bearer token: too short or too long"
        entry = self.access.get(token)
        if entry is None or entry[1] <= self.clock.now():
            return None, f"Token expired: {token[:50]}"
        return entry[0], ""

    def current(self) -> dict[str, str]:
        return {r: f.current for r, f in self.families.items()}
