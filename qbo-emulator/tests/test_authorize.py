"""The consent screen (/connect/oauth2) and the authorization_code grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from conftest import CLIENT

from qbo_emulator.testing import EmulatorServer

REDIRECT = "http://127.0.0.1:8765/callback"


def consent(emu: EmulatorServer, **overrides: str) -> requests.Response:
    params = {
        "client_id": CLIENT[0],
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": REDIRECT,
        "state": "s-123",
        **overrides,
    }
    return requests.get(
        f"{emu.base_url}/connect/oauth2", params=params, allow_redirects=False, timeout=10
    )


def redirected(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 302, resp.text
    location = resp.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(emu: EmulatorServer, code: str, redirect: str = REDIRECT) -> requests.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
    return requests.post(emu.token_url, auth=CLIENT, data=data, timeout=10)


def small(**switches: Any) -> EmulatorServer:
    return EmulatorServer(seed=1, customers=5, items=5, invoices=10, realms=2, **switches)


def test_consent_then_code_exchange_connects_the_company() -> None:
    with small() as emu:
        answer = redirected(consent(emu))
        assert answer["state"] == "s-123" and answer["realmId"] == emu.realm_ids[0]
        body = exchange(emu, answer["code"]).json()
        assert set(body) >= {"access_token", "refresh_token", "expires_in"}
        assert body["x_refresh_token_expires_in"] == 8726400
        # The new refresh token is the realm's current one; the old one is superseded.
        assert emu.refresh_token(emu.realm_ids[0]) == body["refresh_token"]
        old = requests.post(
            emu.token_url,
            auth=CLIENT,
            data={"grant_type": "refresh_token", "refresh_token": "qbo-emulator-refresh"},
            timeout=10,
        )
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
        api = requests.get(
            f"{emu.base_url}/v3/company/{emu.realm_ids[0]}/companyinfo/{emu.realm_ids[0]}",
            headers={"Authorization": f"Bearer {body['access_token']}"},
            timeout=10,
        )
        assert api.status_code != 401


def test_a_code_is_good_once_and_only_with_its_redirect_uri() -> None:
    with small() as emu:
        code = redirected(consent(emu))["code"]
        wrong = exchange(emu, code, "http://127.0.0.1:9/callback")
        assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant"}
        # The failed attempt used the code up.
        assert exchange(emu, code).status_code == 400
        code = redirected(consent(emu))["code"]
        assert exchange(emu, code).status_code == 200
        assert exchange(emu, code).json() == {"error": "invalid_grant"}


def test_an_expired_code_is_refused() -> None:
    with small() as emu:
        code = redirected(consent(emu))["code"]
        emu.advance_clock(seconds=301)
        assert exchange(emu, code).json() == {"error": "invalid_grant"}


def test_deny_and_bad_requests() -> None:
    with small(consent="deny") as emu:
        assert redirected(consent(emu)) == {"error": "access_denied", "state": "s-123"}
        emu.configure(consent="allow", consent_realm=emu.realm_ids[1])
        assert redirected(consent(emu))["realmId"] == emu.realm_ids[1]
        assert redirected(consent(emu, scope="openid"))["error"] == "invalid_scope"
        assert redirected(consent(emu, response_type="token"))["error"] == (
            "unsupported_response_type"
        )
        # No redirect to an unknown client or a missing redirect_uri: an error page.
        assert consent(emu, client_id="someone-else").status_code == 400
        assert consent(emu, redirect_uri="").status_code == 400
        no_grant = requests.post(
            emu.token_url, auth=CLIENT, data={"grant_type": "password"}, timeout=10
        )
        assert no_grant.json() == {"error": "unsupported_grant_type"}
