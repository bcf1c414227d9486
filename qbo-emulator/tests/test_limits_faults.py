"""Throttling, latency, injected faults and the stats counters."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import requests
from conftest import Api, fixture_text

from qbo_emulator.testing import EmulatorServer

NS = "{http://schema.intuit.com/finance/v3}"


def small(**switches: Any) -> EmulatorServer:
    return EmulatorServer(seed=1, customers=5, items=5, invoices=30, **switches)


def xml_fault(text: str) -> tuple[str, str, str, str]:
    root = ET.fromstring(text.encode())
    fault = root.find(f"{NS}Fault")
    assert fault is not None
    error = fault.find(f"{NS}Error")
    assert error is not None
    return (
        fault.get("type", ""),
        error.get("code", ""),
        error.findtext(f"{NS}Message", ""),
        error.findtext(f"{NS}Detail", ""),
    )


def test_rate_limit_answers_429_with_intuits_xml() -> None:
    with small(rate_limit=3) as emu:
        api = Api(emu)
        codes = [api.query("select count(*) from Invoice").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        resp = api.query("select count(*) from Invoice")
        assert resp.status_code == 429 and "Retry-After" not in resp.headers
        real = fixture_text("error__ruckus-quickbooks-ruby__429_throttle_exceeded.xml")
        assert xml_fault(resp.text) == xml_fault(real)
        stats = emu.stats()
        assert stats["throttled"] == 2 and stats["realms"][api.realm]["throttled"] == 2


def test_reset_limits_and_requests_made_while_the_limit_is_off() -> None:
    with small(rate_limit=0) as emu:
        api = Api(emu)
        for _ in range(3):
            assert api.query("select count(*) from Item").status_code == 200
        # Requests made while the limit was off do not count once it is on.
        emu.configure(rate_limit=2)
        codes = [api.query("select count(*) from Item").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        emu.reset_limits()
        codes = [api.query("select count(*) from Item").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        reset = requests.post(emu.base_url + "/__emulator__/limits/reset", timeout=10)
        assert reset.status_code == 200
        assert api.query("select count(*) from Item").status_code == 200


def test_throttle_json_and_retry_after_switches() -> None:
    with small(rate_limit=1, throttle_format="json", retry_after=60) as emu:
        api = Api(emu)
        assert api.query("select * from Item").status_code == 200
        resp = api.query("select * from Item")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
        error = resp.json()["Fault"]["Error"][0]
        assert error["code"] == "3001" and "ThrottleExceeded" in error["Message"]


def test_concurrency_limit_per_realm() -> None:
    with small(concurrency_limit=2, latency_ms=400) as emu:
        api = Api(emu)
        token = api.access_token
        results: list[int] = []
        barrier = threading.Barrier(4)

        def call() -> None:
            barrier.wait()
            results.append(
                requests.get(
                    api.url("query"),
                    params={"query": "select * from Item"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                ).status_code
            )

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [200, 200, 429, 429]
        stats = emu.stats()
        assert stats["max_in_flight"][api.realm] == 2
        # The client had more at once: each refused request arrived beside the two answered.
        assert stats["max_concurrent"][api.realm] == 3
        assert stats["realms"][api.realm]["max_concurrent"] == 3


def test_max_concurrent_counts_what_the_client_sent_without_a_limit() -> None:
    with small(concurrency_limit=0, latency_ms=400) as emu:
        api = Api(emu)
        token = api.access_token
        barrier = threading.Barrier(5)
        codes: list[int] = []

        def call() -> None:
            barrier.wait()
            codes.append(
                requests.get(
                    api.url("query"),
                    params={"query": "select * from Item"},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=10,
                ).status_code
            )

        threads = [threading.Thread(target=call) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert codes == [200] * 5
        stats = emu.stats()
        assert stats["max_concurrent"][api.realm] == 5
        assert stats["max_in_flight"][api.realm] == 5


def test_faults_at_request_numbers() -> None:
    faults = {"500": [2], "502": [3], "503": [4], "429": [5], "truncate": [6], "reset": [7]}
    with small(fault_at=faults) as emu:
        api = Api(emu)
        q = "select * from Invoice maxresults 5"
        assert api.query(q).status_code == 200
        r500 = api.query(q)
        assert r500.status_code == 500
        assert r500.json()["Fault"]["type"] == "SystemFault"
        r502 = api.query(q)
        assert r502.status_code == 502 and "<h1>502 Bad Gateway</h1>" in r502.text
        assert api.query(q).status_code == 503
        r429 = api.query(q)
        assert r429.status_code == 429 and "ThrottleExceeded" in r429.text
        truncated = api.query(q)
        assert truncated.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(truncated.text)
        with pytest.raises(requests.ConnectionError):
            api.query(q)
        assert api.query(q).status_code == 200
        assert emu.stats()["faults"] == {k: 1 for k in faults}


def test_slow_response_passes_client_timeout() -> None:
    with small(fault_at={"slow": [1]}, slow_seconds=3) as emu:
        api = Api(emu)
        with pytest.raises(requests.Timeout):
            requests.get(
                api.url("query"),
                params={"query": "select * from Item"},
                headers=api.headers,
                timeout=0.3,
            )
        assert api.query("select * from Item").status_code == 200


def test_fault_rate_is_seeded() -> None:
    def pattern() -> list[int]:
        with small(fault_rate={"503": 0.3}, fault_seed=42) as emu:
            api = Api(emu)
            return [api.query("select * from Item").status_code for _ in range(30)]

    first, second = pattern(), pattern()
    assert first == second
    assert 503 in first and 200 in first


def test_configure_at_run_time_and_stats() -> None:
    with small() as emu:
        api = Api(emu)
        assert api.query("select * from Item").status_code == 200
        emu.configure(fault_at={"500": [2]})
        assert api.query("select * from Item").status_code == 500
        with pytest.raises(ValueError, match="rotation"):
            emu.configure(rotation="sometimes")
        stats = emu.stats()
        assert stats["requests"]["api"] == 2 and stats["by_endpoint"]["query"] == 1
        assert stats["token_refreshes"] == 1 and stats["queries"] == 1


def test_admin_http_endpoints() -> None:
    with small(realms=2) as emu:
        base = emu.base_url + "/__emulator__"
        truth = requests.get(f"{base}/truth", timeout=10).json()
        assert truth == emu.truth() and set(truth) == set(emu.realm_ids)
        realm = emu.realm_ids[1]
        new = requests.post(
            f"{base}/mutate", json={"realm": realm, "entity": "Invoice", "op": "create"}, timeout=10
        ).json()["id"]
        assert emu.truth()[realm]["Invoice"][new] == "0"
        cfg = requests.post(f"{base}/config", json={"latency_ms": 5}, timeout=10).json()
        assert cfg["latency_ms"] == 5 and cfg["client_secret"] == "***"
        bad = requests.post(f"{base}/config", json={"rate_limit": "many"}, timeout=10)
        assert bad.status_code == 400 and "rate_limit" in bad.json()["error"]
        clock = requests.post(f"{base}/clock", json={"days": 2}, timeout=10).json()
        assert "now" in clock
        tokens = requests.get(f"{base}/tokens", timeout=10).json()
        assert tokens[realm] == f"qbo-emulator-refresh-{realm}"
        assert requests.get(f"{base}/stats", timeout=10).json()["requests"]["admin"] >= 5


def test_latency_model_per_request_and_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr("qbo_emulator.server.sleep", record)
    with small(latency_ms=50, latency_per_row_ms=2) as emu:
        api = Api(emu)
        assert (
            api.query("select * from Invoice maxresults 10").json()["QueryResponse"]["maxResults"]
            == 10
        )
        assert api.query("select count(*) from Invoice").status_code == 200
        emu.configure(latency_ms=0, latency_per_row_ms=0)
        api.query("select * from Invoice maxresults 10")
    assert delays == [pytest.approx(0.07), pytest.approx(0.05)]


def test_missing_bearer_gets_xml_authentication_fault() -> None:
    with small() as emu:
        resp = requests.get(
            f"{emu.base_url}/v3/company/{emu.realm_ids[0]}/query",
            params={"query": "select * from Item"},
            timeout=10,
        )
        assert resp.status_code == 401
        real = fixture_text("error__intuit-oauth-jsclient-issue91__401_general_auth_failure.xml")
        assert xml_fault(resp.text) == xml_fault(real)
        assert emu.stats()["auth_failures"] == 1
        emu.reset_stats()
        assert emu.stats()["auth_failures"] == 0
