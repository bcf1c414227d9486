"""The /query endpoint over HTTP: forms, exact bodies, faults, auth gateway, unknown paths."""

from __future__ import annotations

import re

import requests
from conftest import REALM, Api, fixture_json, keys_shape

from qbo_emulator.testing import EmulatorServer

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}-0[78]:00$")


def test_page_shape_key_order_and_maxresults(api: Api) -> None:
    resp = api.query(
        "SELECT * FROM Customer WHERE Active IN (true, false) MAXRESULTS 5 STARTPOSITION 3"
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    assert re.match(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$", resp.headers["intuit_tid"])
    body = resp.json()
    assert list(body) == ["QueryResponse", "time"] and TIME_RE.match(body["time"])
    qr = body["QueryResponse"]
    assert list(qr) == ["Customer", "startPosition", "maxResults"]
    assert qr["startPosition"] == 3 and qr["maxResults"] == len(qr["Customer"]) == 5
    real = fixture_json("customer__minimul-qbo_api__query_id_in_page2.json")["QueryResponse"]
    assert list(real) == list(qr)


def test_last_partial_page_reports_rows_returned(api: Api) -> None:
    count = api.query("SELECT COUNT(*) FROM Invoice").json()["QueryResponse"]["totalCount"]
    qr = api.query(
        f"SELECT * FROM Invoice ORDERBY Id STARTPOSITION {count - 2} MAXRESULTS 10"
    ).json()["QueryResponse"]
    assert qr["maxResults"] == 3 and qr["startPosition"] == count - 2


def test_empty_page_is_exactly_the_real_body(api: Api) -> None:
    resp = api.query("SELECT * FROM Invoice STARTPOSITION 100000 MAXRESULTS 10")
    real = fixture_json("query__minimul-qbo_api__empty_page_past_end.json")
    body = resp.json()
    assert body["QueryResponse"] == real["QueryResponse"] == {}
    assert list(body) == list(real)
    assert resp.text.startswith('{"QueryResponse":{},"time":"')


def test_count_body_matches_real(api: Api) -> None:
    body = api.query("select count(*) from Customer").json()
    real = fixture_json("query__minimul-qbo_api__count_vendor.json")
    assert keys_shape(body) == keys_shape(real)
    everything = api.query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)").json()
    assert everything["QueryResponse"]["totalCount"] > body["QueryResponse"]["totalCount"]


def test_post_application_text_and_plus_as_space(api: Api, emu: EmulatorServer) -> None:
    text = "SELECT * FROM Item WHERE Active IN (true, false) ORDERBY Id MAXRESULTS 7"
    get = api.query(text).json()["QueryResponse"]
    post = api.session.post(
        api.url("query"),
        params={"minorversion": "75"},
        data=text.encode(),
        headers={**api.headers, "Content-Type": "application/text"},
        timeout=10,
    ).json()["QueryResponse"]
    raw_url = (
        api.url("query")
        + "?query="
        + text.replace(" ", "+").replace("(", "%28").replace(")", "%29").replace(",", "%2C")
        + "&minorversion=75"
    )
    plus = api.session.get(raw_url, headers=api.headers, timeout=10).json()["QueryResponse"]
    assert get == post == plus and get["maxResults"] == 7


def test_query_faults_match_real_shapes(api: Api) -> None:
    real = fixture_json("error__minimul-qbo_api__400_query_invalid_entity_4001.json")
    resp = api.query("SELECT * FROM Custmoer")
    assert resp.status_code == 400
    body = resp.json()
    assert keys_shape(body) == keys_shape(real)
    assert body["Fault"] == real["Fault"]  # verbatim: same detail text for the same typo
    parse_err = api.query("SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'")
    assert parse_err.status_code == 400
    err = parse_err.json()["Fault"]
    assert err["type"] == "ValidationFault"
    assert (err["Error"][0]["code"], err["Error"][0]["Message"]) == ("4000", "Error parsing query")
    too_big = api.query("SELECT * FROM Invoice MAXRESULTS 1001").json()["Fault"]["Error"][0]
    assert too_big["code"] == "4001" and "Max allowed value is 1000" in too_big["Detail"]
    active = api.query("SELECT * FROM Invoice WHERE Active = true").json()["Fault"]["Error"][0]
    assert active["code"] == "4001" and "Property Active not found" in active["Detail"]


def test_expired_or_unknown_bearer_gets_gateway_401(api: Api, emu: EmulatorServer) -> None:
    real = fixture_json("error__minimul-qbo_api__401_expired_authentication.json")
    resp = requests.get(
        api.url("query"),
        params={"query": "select * from Invoice"},
        headers={"Authorization": "Bearer " + "A" * 50, "Accept": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    body = resp.json()
    assert list(body) == list(real) and keys_shape(body["fault"]) == keys_shape(real["fault"])
    assert body["fault"]["error"][0]["code"] == "3200"
    assert isinstance(body["time"], int)
    short = requests.get(
        api.url("query"),
        params={"query": "select * from Invoice"},
        headers={"Authorization": "Bearer abc"},
        timeout=10,
    ).json()
    malformed = fixture_json(
        "error__routablehq-python-quickbooks-issue250__401_malformed_bearer.json"
    )
    assert short["fault"]["error"][0]["detail"] == malformed["fault"]["error"][0]["detail"]


def test_access_token_expires_with_the_clock() -> None:
    with EmulatorServer(seed=1, customers=5, items=5, invoices=10, access_token_ttl=600) as emu:
        api = Api(emu)
        assert api.query("select * from Invoice").status_code == 200
        emu.advance_clock(seconds=601)
        resp = api.query("select * from Invoice")
        assert resp.status_code == 401
        assert resp.json()["fault"]["error"][0]["detail"].startswith("Token expired")


def test_token_for_another_realm_is_forbidden() -> None:
    with EmulatorServer(seed=1, customers=5, items=5, invoices=10, realms=2) as emu:
        assert emu.realm_ids == ["9341450000000001", "9341450000000002"]
        api = Api(emu, realm=emu.realm_ids[1])
        api.realm = emu.realm_ids[0]
        resp = api.query("select * from Invoice")
        assert resp.status_code == 403
        real = fixture_json("error__intuit-oauth-jsclient-issue2__403_authorization_failed.json")
        assert resp.json()["fault"]["error"][0]["message"] == real["fault"]["error"][0]["message"]


def test_unknown_path_is_400_code_500(api: Api) -> None:
    real = fixture_json("error__minimul-qbo_api__400_unsupported_operation_500.json")
    resp = api.get("customer/1/5")
    assert resp.status_code == 400
    body = resp.json()
    assert keys_shape(body) == keys_shape(real)
    assert body["Fault"]["Error"][0]["code"] == "500"
    assert f"/v3/company/{REALM}/customer/1/5" in body["Fault"]["Error"][0]["Detail"]


def test_companyinfo_and_entity_read(api: Api) -> None:
    body = api.get(f"companyinfo/{REALM}").json()
    assert body["CompanyInfo"]["Id"] == "1" and "time" in body
    cust = api.get("customer/5").json()
    assert cust["Customer"]["Id"] == "5"
    real = fixture_json("error__minimul-qbo_api__400_invalid_id_2030.json")
    assert api.get("customer/1.5").json() == real
