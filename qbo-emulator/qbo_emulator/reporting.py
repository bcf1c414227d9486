"""The reports endpoint: a company's books (ledger cache, backdated entries), the HTTP answer."""

from __future__ import annotations

import json
import time
from collections import deque
from datetime import date
from typing import TYPE_CHECKING, Any

from qbo_emulator import bodies
from qbo_emulator.ledger import DEFAULT_ACCOUNTS, Ledger, build_ledger, cents, company_objects
from qbo_emulator.reports import ReportError, build_report, cells, truncate
from qbo_emulator.timeutil import pacific_date, pacific_seconds

if TYPE_CHECKING:
    from qbo_emulator.server import Emulator, Request, Response

#: Ids of backdated journal entries start here (clear of the company's own ids).
BACKDATED_FIRST_ID = 900_001
REPORT_PARAMS = (
    "start_date",
    "end_date",
    "accounting_method",
    "summarize_column_by",
    "columns",
    "report_date",
    "aging_period",
    "num_periods",
)


class Books:
    """The ledger of one company, rebuilt after any change, plus its backdated journal entries."""

    def __init__(self, company: Any) -> None:
        self.company = company
        self._ledger: Ledger | None = None
        self.backdated: list[dict[str, Any]] = []
        self.window: deque[float] = deque()

    def invalidate(self) -> None:
        self._ledger = None

    def ledger(self) -> Ledger:
        if self._ledger is None:
            objects = company_objects(self.company)
            if self.backdated:
                objects.setdefault("JournalEntry", []).extend(self.backdated)
            self._ledger = build_ledger(objects)
        return self._ledger

    def backdate(
        self,
        realm: str,
        date: str,
        amount: str | float,
        debit: str = "58",
        credit: str = "35",
        memo: str = "Backdated adjustment",
    ) -> dict[str, Any]:
        """Post a journal entry dated `date` (typically in a month already closed and read)."""
        _ = realm
        known = {a.id for a in DEFAULT_ACCOUNTS} | {
            str(o["Id"]) for o in company_objects(self.company).get("Account", [])
        }
        for name, account in (("debit", debit), ("credit", credit)):
            if str(account) not in known:
                raise ValueError(f"{name}: no account {account!r}")
        when = _iso_date(date)
        value = cents(amount)
        if value <= 0:
            raise ValueError("amount must be > 0")
        jid = str(BACKDATED_FIRST_ID + len(self.backdated))
        text = f"{value // 100}.{value % 100:02d}"
        entry = {
            "Id": jid,
            "SyncToken": "0",
            "TxnDate": when,
            "DocNumber": f"ADJ-{jid}",
            "PrivateNote": memo,
            "Line": [
                {
                    "Id": "0",
                    "Amount": text,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": {
                        "PostingType": "Debit",
                        "AccountRef": {"value": str(debit)},
                    },
                },
                {
                    "Id": "1",
                    "Amount": text,
                    "DetailType": "JournalEntryLineDetail",
                    "JournalEntryLineDetail": {
                        "PostingType": "Credit",
                        "AccountRef": {"value": str(credit)},
                    },
                },
            ],
        }
        self.backdated.append(entry)
        self.invalidate()
        return {"id": jid, "TxnDate": when, "amount": text}


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(str(text)).isoformat()
    except ValueError:
        raise ValueError(f"date: {text!r} is not a date (YYYY-MM-DD)") from None


def _report_throttled(emulator: Emulator, books: Books) -> bool:
    limit = emulator.config.report_rate_limit
    if not limit:
        return False
    now = time.monotonic()
    while books.window and books.window[0] <= now - 60.0:
        books.window.popleft()
    if len(books.window) >= limit:
        return True
    books.window.append(now)
    return False


def compute(emulator: Emulator, realm: str, name: str, params: dict[str, str]) -> dict[str, Any]:
    """A report without the size cap (the admin endpoint and tests); ValueError when bad."""
    books = emulator.books.get(realm)
    if books is None:
        raise KeyError(f"unknown realm {realm}")
    now = emulator.clock.now()
    try:
        return build_report(
            books.ledger(),
            name,
            {key: params.get(key) for key in REPORT_PARAMS},
            today=pacific_date(int(now)),
            time_text=pacific_seconds(int(now)),
        )
    except ReportError as exc:
        raise ValueError(exc.detail) from None


def endpoint(emulator: Emulator, req: Request, realm: str, name: str) -> Response:
    """`GET /v3/company/<realm>/reports/<name>`."""
    from qbo_emulator.server import Response

    books = emulator.books[realm]
    if _report_throttled(emulator, books):
        emulator.throttled += 1
        emulator.realm_stats[realm].throttled += 1
        return emulator._throttle_response()
    now = emulator.clock.now()
    params = {key: req.param(key) for key in REPORT_PARAMS}
    try:
        report = build_report(
            books.ledger(),
            name,
            params,
            today=pacific_date(int(now)),
            time_text=pacific_seconds(int(now)),
        )
    except ReportError as exc:
        return Response(
            400, bodies.fault(exc.code, exc.message, exc.detail, now), bodies.JSON_FAULT
        )
    limit = emulator.config.report_max_cells
    size = cells(report)
    if limit and size > limit:
        report = truncate(report, limit)
    body = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(200, body, rows=size // max(1, len(report["Columns"]["Column"])))
