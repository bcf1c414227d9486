"""Response bodies shaped like the real ones (see the protocol reference and fixtures)."""

from __future__ import annotations

import json
import secrets
import time

from qbo_emulator.timeutil import pacific_millis

JSON = "application/json;charset=utf-8"
JSON_FAULT = "application/json"
XML = "application/xml"
HTML = "text/html"


def tid() -> str:
    """`1-<8 hex epoch seconds>-<24 hex>` like Intuit's intuit_tid."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def fault(
    code: str,
    message: str,
    detail: str,
    now: float | None,
    kind: str = "ValidationFault",
    element: str | None = None,
) -> bytes:
    error: dict[str, str] = {"Message": message, "Detail": detail, "code": code}
    if element is not None:
        error["element"] = element
    body: dict[str, object] = {"Fault": {"Error": [error], "type": kind}}
    if now is not None:
        body["time"] = pacific_millis(now)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def gateway(status: int, message: str, detail: str | None, code: str, kind: str) -> bytes:
    """The API gateway's lower-case body used for 401/403 (epoch-millis `time`)."""
    body: dict[str, object] = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": kind,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def unauthorized(detail: str) -> bytes:
    return gateway(
        401,
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        detail,
        "3200",
        "AUTHENTICATION",
    )


def forbidden() -> bytes:
    return gateway(
        403,
        "message=AuthorizationFailed; errorCode=003100; statusCode=403",
        None,
        "3100",
        "SERVICE",
    )


def general_auth_failure_xml(now: float) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
        f'xmlns="http://schema.intuit.com/finance/v3" time="{pacific_millis(now)}"><Fault '
        'type="AuthenticationFault"><Error code="100"><Message>General Authentication Error'
        "</Message><Detail>AuthenticationErrorGeneral: SRV-110-Authentication Failure , "
        "statusCode: 401</Detail></Error></Fault></IntuitResponse>"
    ).encode()


THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def throttle_xml(now: float) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<IntuitResponse time="{pacific_millis(now)}" '
        'xmlns="http://schema.intuit.com/finance/v3">\n'
        '  <Fault type="SERVICE">\n'
        '    <Error code="3001">\n'
        f"      <Message>{THROTTLE_MESSAGE}</Message>\n"
        f"      <Detail>{THROTTLE_DETAIL}</Detail>\n"
        "    </Error>\n"
        "  </Fault>\n"
        "</IntuitResponse>\n"
    ).encode()


def throttle_json(now: float) -> bytes:
    return fault("3001", THROTTLE_MESSAGE, THROTTLE_DETAIL, now, kind="SERVICE")


def system_fault(now: float) -> bytes:
    return fault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
        "Please wait a few minutes and try again. If the problem persists, contact customer "
        "support.",
        now,
        kind="SystemFault",
    )


def nginx(status: int) -> bytes:
    title = {502: "502 Bad Gateway", 503: "503 Service Temporarily Unavailable"}[status]
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def unsupported_operation(path: str, now: float) -> bytes:
    return fault(
        "500",
        "Unsupported Operation",
        f"Operation Could not find resource for relative : {path} of full path: "
        f"https://c50.qbo.intuit.com/qbo50{path} is not supported.",
        now,
    )


def cdc_too_old(since_text: str, now: float) -> bytes:
    """The 400 some companies answer to a CDC `changedSince` older than CDC's 30 days.

    The message is the one users report (its code and detail are not recorded; see the
    protocol reference, section 8).
    """
    message = (
        f"Operation cdc with changedSince date {since_text} which is older than fixed days "
        "is not supported."
    )
    return fault("10000", message, message, now)


_MEMO = b'"CustomerMemo":{"value":"'


def with_nul_in_memo(inner: bytes) -> bytes:
    """A query answer whose invoices' CustomerMemo values start with a NUL (`\\u0000`)."""
    return inner.replace(_MEMO, _MEMO + b"\\u0000")
