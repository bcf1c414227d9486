"""The token endpoint: client authentication, rotation policies, error bodies, persistence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests
from conftest import CLIENT, fixture_json, keys_shape

from qbo_emulator.testing import EmulatorServer

if TYPE_CHECKING:
    from pathlib import Path


def refresh(
    emu: EmulatorServer, token: str, basic: bool = True, hard_expiry: bool = False
) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token}
    extra = {"x-include-refresh-token-hard-expires-in": "true"} if hard_expiry else {}
    if basic:
        return requests.post(
            emu.token_url,
            auth=CLIENT,
            data=data,
            timeout=10,
            headers={"Accept": "application/json", **extra},
        )
    data.update(client_id=CLIENT[0], client_secret=CLIENT[1])
    return requests.post(
        emu.token_url, data=data, timeout=10, headers={"Accept": "application/json", **extra}
    )


def small(**switches: Any) -> EmulatorServer:
    return EmulatorServer(seed=1, customers=5, items=5, invoices=10, **switches)


def test_success_body_matches_intuit_shape() -> None:
    with small() as emu:
        resp = refresh(emu, "qbo-emulator-refresh")
        assert resp.status_code == 200 and "intuit_tid" in resp.headers
        body = resp.json()
        real = fixture_json("oauth__intuit-oauth-jsclient__refresh_response_with_hard_expiry.json")
        real.pop("x_refresh_token_hard_expires_in")
        assert keys_shape(body) == keys_shape(real)
        assert body["token_type"] == "bearer" and body["expires_in"] == 3600
        assert body["x_refresh_token_expires_in"] == 8726400
        hard = refresh(emu, body["refresh_token"], hard_expiry=True).json()
        assert hard["x_refresh_token_hard_expires_in"] > 0


def test_body_credentials_are_accepted() -> None:
    with small() as emu:
        assert refresh(emu, "qbo-emulator-refresh", basic=False).status_code == 200


def test_bad_client_is_invalid_client_401() -> None:
    with small() as emu:
        resp = requests.post(
            emu.token_url,
            auth=("qbo-emulator-client", "wrong"),
            timeout=10,
            data={"grant_type": "refresh_token", "refresh_token": "qbo-emulator-refresh"},
        )
        assert resp.status_code == 401
        assert resp.json() == fixture_json(
            "oauth__intuit-oauth-rubyclient-issue14__401_invalid_client.json"
        )
        # a bad client does not consume the refresh token
        assert refresh(emu, "qbo-emulator-refresh").status_code == 200


def test_rotation_every_supersedes_the_old_token() -> None:
    with small() as emu:
        first = refresh(emu, "qbo-emulator-refresh").json()
        assert first["refresh_token"] != "qbo-emulator-refresh"
        assert emu.refresh_token() == first["refresh_token"]
        stale = refresh(emu, "qbo-emulator-refresh")
        assert stale.status_code == 400 and stale.json() == {"error": "invalid_grant"}
        assert len(stale.content) == 25  # the real content-length of this body
        second = refresh(emu, first["refresh_token"]).json()
        assert second["refresh_token"] not in (first["refresh_token"], "qbo-emulator-refresh")
        assert emu.stats()["token_refreshes"] == 2


@pytest.mark.parametrize(
    ("style", "fixture"),
    [
        ("described", "oauth__routablehq-python-quickbooks-issue397__400_invalid_grant.json"),
        ("token_invalid", "oauth__intuit-oauth-jsclient__invalid_grant_body.json"),
    ],
)
def test_invalid_grant_body_styles(style: str, fixture: str) -> None:
    with small(invalid_grant_body=style) as emu:
        resp = refresh(emu, "no-such-token")
        assert resp.status_code == 400
        assert resp.text == fixture_text_compact(fixture)


def fixture_text_compact(name: str) -> str:
    import json

    return json.dumps(fixture_json(name), separators=(",", ":"))


def test_rotation_daily_and_never() -> None:
    with small(rotation="daily") as emu:
        a = refresh(emu, "qbo-emulator-refresh").json()
        assert a["refresh_token"] == "qbo-emulator-refresh"
        emu.advance_clock(hours=2)
        b = refresh(emu, "qbo-emulator-refresh").json()
        assert b["refresh_token"] == "qbo-emulator-refresh"
        assert b["x_refresh_token_expires_in"] < a["x_refresh_token_expires_in"]
        emu.advance_clock(days=1)
        c = refresh(emu, "qbo-emulator-refresh").json()
        assert c["refresh_token"] != "qbo-emulator-refresh"
        assert refresh(emu, "qbo-emulator-refresh").status_code == 400
    with small(rotation="never") as emu:
        for _ in range(3):
            assert (
                refresh(emu, "qbo-emulator-refresh").json()["refresh_token"]
                == "qbo-emulator-refresh"
            )


def test_refresh_token_expires_after_its_lifetime() -> None:
    with small(rotation="never", refresh_token_ttl=1000) as emu:
        assert refresh(emu, "qbo-emulator-refresh").status_code == 200
        emu.advance_clock(seconds=1001)
        assert refresh(emu, "qbo-emulator-refresh").status_code == 400


def test_realm_families_are_independent() -> None:
    with small(realms=2) as emu:
        second = emu.realm_ids[1]
        assert emu.refresh_token(second) == f"qbo-emulator-refresh-{second}"
        refresh(emu, "qbo-emulator-refresh")
        assert refresh(emu, f"qbo-emulator-refresh-{second}").status_code == 200


def test_unsupported_grant() -> None:
    with small() as emu:
        resp = requests.post(
            emu.token_url, auth=CLIENT, data={"grant_type": "password"}, timeout=10
        )
        assert resp.status_code == 400 and resp.json() == {"error": "unsupported_grant_type"}


def test_token_state_survives_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "tokens.json")
    with small(token_state=state) as emu:
        rotated = refresh(emu, "qbo-emulator-refresh").json()
    with small(token_state=state) as emu:
        assert emu.refresh_token() == rotated["refresh_token"]
        assert refresh(emu, "qbo-emulator-refresh").status_code == 400
        # the access token issued before the restart still works
        resp = requests.get(
            f"{emu.base_url}/v3/company/{emu.realm_ids[0]}/query",
            params={"query": "select count(*) from Invoice"},
            headers={"Authorization": f"Bearer {rotated['access_token']}"},
            timeout=10,
        )
        assert resp.status_code == 200
        assert refresh(emu, rotated["refresh_token"]).status_code == 200
