"""Shared fixtures: an in-process emulator, a small API client and the real fixture files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from qbo_emulator.testing import EmulatorServer

if TYPE_CHECKING:
    from collections.abc import Iterator

REALM = "9341450000000001"
CLIENT = ("qbo-emulator-client", "qbo-emulator-secret")


# The real response bodies this suite checks the emulator against, kept in the repository.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


class Api:
    """Minimal QBO client for tests: refreshes once, then queries one realm."""

    def __init__(self, emu: EmulatorServer, realm: str = REALM) -> None:
        self.emu = emu
        self.realm = realm
        self.session = requests.Session()
        self.refresh()

    def refresh(self) -> dict[str, Any]:
        resp = self.session.post(
            self.emu.token_url,
            auth=CLIENT,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self.emu.refresh_token(self.realm),
            },
            timeout=10,
        )
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        self.access_token = body["access_token"]
        return body

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}

    def url(self, resource: str) -> str:
        return f"{self.emu.base_url}/v3/company/{self.realm}/{resource}"

    def get(self, resource: str, **params: str) -> requests.Response:
        return self.session.get(self.url(resource), params=params, headers=self.headers, timeout=10)

    def query(self, text: str) -> requests.Response:
        return self.get("query", query=text, minorversion="75")

    def rows(self, text: str, entity: str) -> list[dict[str, Any]]:
        resp = self.query(text)
        assert resp.status_code == 200, resp.text
        rows: list[dict[str, Any]] = resp.json()["QueryResponse"].get(entity, [])
        return rows


@pytest.fixture(scope="session")
def emu() -> Iterator[EmulatorServer]:
    """A shared read-only emulator (tests that change state start their own)."""
    with EmulatorServer(seed=1, customers=60, items=20, invoices=400, realms=1) as server:
        yield server


@pytest.fixture(scope="session")
def api(emu: EmulatorServer) -> Api:
    return Api(emu)


def keys_shape(obj: Any) -> Any:
    """The key structure of a JSON value (types of leaves), for shape comparisons."""
    if isinstance(obj, dict):
        return {k: keys_shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [keys_shape(v) for v in obj[:1]]
    return type(obj).__name__
