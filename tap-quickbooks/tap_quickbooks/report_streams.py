"""Report streams: one QuickBooks report per period, accounting method and realm.

Each stream reads `GET /v3/company/<realm>/reports/<Report>` for every complete month (or
quarter) from `start_date` to `end_date`, with each accounting method asked for, and emits the
whole report body as `payload`. Its bookmark (per realm) is the last day of the last period read;
every run also reads the last `report_restate_months` months again (see `reports.plan`).

The balance sheet and the cash flow statement are read a calendar year per request, with one
column per period (`summarize_column_by`), and split into one body per period shaped as
QuickBooks answers that period alone (`reports.split_columns`): a year costs one request per
method instead of twelve. Aging reports have no accounting basis: read once per period.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import typing as t
import weakref
from dataclasses import dataclass

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_quickbooks import limits, reports
from tap_quickbooks.base import RealmStream
from tap_quickbooks.connection import RealmConnection, RequestStats
from tap_quickbooks.errors import QueryFaultError
from tap_quickbooks.realm_metrics import log_requests

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from singer_sdk.helpers.types import Context

REPORT_SCHEMA = th.PropertiesList(
    th.Property("realm_id", th.StringType, required=True, description="QuickBooks company id"),
    th.Property(
        "accounting_method",
        th.StringType,
        required=True,
        description="`Accrual` or `Cash`, as QuickBooks spells them",
    ),
    th.Property("period_start", th.DateType, required=True, description="First day of the period"),
    th.Property(
        "period_end",
        th.DateType,
        required=True,
        description="Last day of the period (inclusive, the report's EndPeriod); the bookmark",
    ),
    th.Property("payload", th.ObjectType(), description="The whole report body as returned"),
    th.Property("ingested_at_utc", th.DateTimeType),
    th.Property("extract_window_start_utc", th.DateTimeType),
    th.Property("extract_window_end_utc", th.DateTimeType),
    th.Property("page_number", th.IntegerType, description="Requests the period took (splits)"),
    th.Property("page_size", th.IntegerType),
    th.Property(
        "request_payload", th.ObjectType(), description="Endpoint and parameters; no token"
    ),
    th.Property("_sdc_deleted_at", th.DateTimeType, description="Always null for reports"),
).to_dict()
#: Requests sent ahead of the period being emitted (the realm's limits still apply).
READ_AHEAD = 4
#: The `accounting_method` of reports QuickBooks computes without one (aging): open invoices
#: and bills are an accrual notion, and the report's header carries no `ReportBasis`.
NO_BASIS = reports.ACCRUAL

_limiters: weakref.WeakKeyDictionary[RealmConnection, limits.RateLimiter] = (
    weakref.WeakKeyDictionary()
)
_limiters_lock = threading.Lock()


def report_limiter(conn: RealmConnection, per_minute: int) -> limits.RateLimiter:
    """The report budget of a realm, taken on top of (not instead of) its request budget."""
    with _limiters_lock:
        limiter = _limiters.get(conn)
        if limiter is None:
            limiter = _limiters[conn] = limits.RateLimiter(per_minute)
        return limiter


class ReportTooLargeError(QueryFaultError):
    """QuickBooks cut a report short and the period cannot be split further."""


@dataclass
class Answer:
    """The report of one period, and how it was obtained."""

    first: dt.date
    last: dt.date
    body: dict[str, t.Any]
    requests: int  # requests this period's body took (a year's split periods: 1 each)
    params: dict[str, str]  # of the request that answered it


class ReportStream(RealmStream):
    """One QuickBooks report per period and accounting method.

    Not a `QuickBooksStream`: a report is no entity, so the realm plan (CDC, `/batch`,
    windows) never sees it. It shares the realm's connection, budget and RECORD writer.
    """

    kind: t.ClassVar[str] = "report"
    cdc: t.ClassVar[bool] = False
    tombstones: t.ClassVar[bool] = False
    entity: t.ClassVar[str]  # the report's name in the API, e.g. "ProfitAndLoss"
    #: Aging reports: read as of each period's last day (`report_date`).
    as_of: t.ClassVar[bool] = False
    #: False for reports QuickBooks computes without an accounting basis (aging): no
    #: `accounting_method` is sent, the report is read once per period whatever
    #: `report_accounting_method` says, and its rows are keyed `NO_BASIS`.
    basis: t.ClassVar[bool] = True
    #: Detail reports: split a period cut short by QuickBooks and merge the pieces.
    splittable: t.ClassVar[bool] = False
    #: Read a calendar year per request, one column per period (`summarize_column_by`), and
    #: split it into one body per period; per period when the year is cut short.
    by_year: t.ClassVar[bool] = False
    primary_keys: t.ClassVar[list[str]] = [
        "realm_id",
        "accounting_method",
        "period_start",
        "period_end",
    ]
    replication_key = "period_end"
    is_sorted = False
    schema = REPORT_SCHEMA
    #: Reads only when selected (catalog, or `select` in meltano.yml): reports cost requests.
    selected_by_default = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are built JSON-ready

    @property
    def report_settings(self) -> reports.ReportSettings:
        return self.settings.report

    def methods(self) -> tuple[str, ...]:
        """The accounting methods each period is read with."""
        return self.report_settings.methods if self.basis else (NO_BASIS,)

    def _period_bookmark(self, context: Context) -> dt.date | None:
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if value and state.get("replication_key") == self.replication_key:
            try:
                return dt.date.fromisoformat(str(value)[:10])
            except ValueError:
                self.logger.warning("Ignoring unreadable bookmark %r", value)
        return None

    def _commit_period(self, context: Context, period_end: dt.date) -> None:
        """Move the bookmark forward to `period_end` (never back: restated periods are older)."""
        state = self.get_context_state(context)
        current = self._period_bookmark(context)
        if current is not None and period_end <= current:
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = period_end.isoformat()
        self.emit_state()

    @classmethod
    def params(cls, first: dt.date, last: dt.date, method: str) -> dict[str, str]:
        """The query parameters of one period's report."""
        out = {}
        if cls.as_of:
            out["report_date"] = last.isoformat()
        out["start_date"] = first.isoformat()
        out["end_date"] = last.isoformat()
        if cls.basis:
            out["accounting_method"] = method
        return out

    @classmethod
    def year_params(cls, first: dt.date, last: dt.date, method: str, period: str) -> dict[str, str]:
        """The query parameters of first..last read with one column per `period`."""
        return {
            **cls.params(first, last, method),
            "summarize_column_by": reports.COLUMNS_BY[period],
        }

    def _fetch(
        self,
        conn: RealmConnection,
        first: dt.date,
        last: dt.date,
        method: str,
        stats: RequestStats,
        limiter: limits.RateLimiter,
    ) -> tuple[dict[str, t.Any], int]:
        """The report of first..last, split and merged when QuickBooks cuts it short."""
        limiter.acquire()
        body = conn.get(f"reports/{self.entity}", self.params(first, last, method), stats)
        if not reports.is_truncated(body):
            return body, 1
        pieces = reports.split(first, last) if self.splittable else None
        if pieces is None:
            what = "a single day" if self.splittable else "one request"
            msg = (
                f"QuickBooks cut the {self.entity} report of realm {conn.realm_id} for "
                f'{first}..{last} ({method}) short ("{reports.TRUNCATED}"), and {what} '
                "cannot be split further"
            )
            raise ReportTooLargeError(msg)
        self.logger.info(
            "%s %s..%s (%s) is too large for one report: reading it in %d pieces",
            self.entity,
            first,
            last,
            method,
            len(pieces),
        )
        bodies = []
        requests = 1
        for lo, hi in pieces:
            piece, used = self._fetch(conn, lo, hi, method, stats, limiter)
            bodies.append(piece)
            requests += used
        return reports.merge(bodies, first, last), requests

    def _read(
        self,
        conn: RealmConnection,
        group: list[tuple[dt.date, dt.date]],
        method: str,
        stats: RequestStats,
        limiter: limits.RateLimiter,
    ) -> list[Answer]:
        """The reports of the periods of `group`: in one request when the stream reads years."""
        if not self.by_year or len(group) == 1:
            out = []
            for first, last in group:
                body, used = self._fetch(conn, first, last, method, stats, limiter)
                out.append(Answer(first, last, body, used, self.params(first, last, method)))
            return out
        first, last = group[0][0], group[-1][1]
        params = self.year_params(first, last, method, self.report_settings.period)
        limiter.acquire()
        body = conn.get(f"reports/{self.entity}", params, stats)
        parts = None if reports.is_truncated(body) else reports.split_columns(body, group)
        if parts is not None:
            return [Answer(f, lst, parts[(f, lst)], 1, params) for f, lst in group]
        if reports.is_truncated(body):
            self.logger.info(
                "%s %s..%s (%s) is too large for one report: reading it per period",
                self.entity,
                first,
                last,
                method,
            )
        else:
            self.logger.warning(
                "%s %s..%s (%s) came back without a column per period: reading it per period",
                self.entity,
                first,
                last,
                method,
            )
        out = [a for period in group for a in self._read(conn, [period], method, stats, limiter)]
        out[0].requests += 1  # the year's request
        return out

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        assert context is not None
        realm = context["realm_id"]
        settings = self.settings
        rs = self.report_settings
        conn = self.connections.get(realm)
        limiter = report_limiter(conn, rs.requests_per_minute)
        stats = RequestStats()
        started = time.monotonic()
        end = (settings.end_date or self.connections.run_started_at).date()
        bookmark = self._period_bookmark(context)
        start = max(settings.start_date.date(), rs.start_date or settings.start_date.date())
        periods = reports.plan(start, end, rs.period, bookmark, rs.restate_months)
        methods = self.methods()
        groups = reports.by_year(periods) if self.by_year else [[p] for p in periods]
        jobs = [(group, method) for group in groups for method in methods]
        self.logger.info(
            "Extracting %s for realm %s: %d periods (bookmark %s) x %s in %d requests",
            self.name,
            realm,
            len(periods),
            bookmark,
            "/".join(methods),
            len(jobs),
        )

        def submit(job: tuple[list[tuple[dt.date, dt.date]], str]) -> Future[list[Answer]]:
            group, method = job
            return conn.executor.submit(self._read, conn, group, method, stats, limiter)

        pending: list[Future[list[Answer]]] = [submit(job) for job in jobs[:READ_AHEAD]]
        submitted = len(pending)
        rows = 0
        try:
            for group in groups:
                answers: dict[str, dict[tuple[dt.date, dt.date], Answer]] = {}
                for method in methods:
                    answers[method] = {(a.first, a.last): a for a in pending.pop(0).result()}
                    if submitted < len(jobs):
                        pending.append(submit(jobs[submitted]))
                        submitted += 1
                for first, last in group:
                    for method in methods:
                        answer = answers[method][(first, last)]
                        rows += 1
                        yield {
                            "realm_id": realm,
                            "accounting_method": method,
                            "period_start": first.isoformat(),
                            "period_end": last.isoformat(),
                            "payload": answer.body,
                            "ingested_at_utc": dt.datetime.now(dt.UTC).isoformat(),
                            "extract_window_start_utc": f"{first.isoformat()}T00:00:00+00:00",
                            "extract_window_end_utc": f"{last.isoformat()}T00:00:00+00:00",
                            "page_number": answer.requests,
                            "page_size": None,
                            "request_payload": conn.request_payload(
                                f"reports/{self.entity}", answer.params
                            ),
                            "_sdc_deleted_at": None,
                        }
                    self._commit_period(context, last)
        finally:
            for future in pending:
                future.cancel()
        log_requests(self.name, realm, f"/v3/company/{realm}/reports/{self.entity}", stats.requests)
        self.logger.info(
            "Summary %s realm=%s rows=%d periods=%d requests=%d retries=%d throttles=%d "
            "seconds=%.1f",
            self.name,
            realm,
            rows,
            len(periods),
            stats.requests,
            stats.retries,
            stats.throttles,
            time.monotonic() - started,
        )


class ProfitAndLossReport(ReportStream):
    """Profit and loss per period.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/profitandloss
    """

    name = "report_profit_and_loss"
    entity = "ProfitAndLoss"


class BalanceSheetReport(ReportStream):
    """Balance sheet as of each period's last day (StartPeriod..EndPeriod as asked).

    Read a calendar year per request, one column per period.
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/balancesheet
    """

    name = "report_balance_sheet"
    entity = "BalanceSheet"
    by_year = True


class CashFlowReport(ReportStream):
    """Statement of cash flows per period.

    Read a calendar year per request, one column per period.
    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/cashflow
    """

    name = "report_cash_flow"
    entity = "CashFlow"
    by_year = True


class TrialBalanceReport(ReportStream):
    """Trial balance as of each period's last day.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/trialbalance
    """

    name = "report_trial_balance"
    entity = "TrialBalance"


class GeneralLedgerReport(ReportStream):
    """General ledger (every posting) per period; split by week, then day, when too large.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/generalledger
    """

    name = "report_general_ledger"
    entity = "GeneralLedger"
    splittable = True


class ProfitAndLossDetailReport(ReportStream):
    """Profit and loss postings per period; split by week, then day, when too large.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/profitandlossdetail
    """

    name = "report_profit_and_loss_detail"
    entity = "ProfitAndLossDetail"
    splittable = True


class AgedReceivablesReport(ReportStream):
    """Receivables aging as of each period's last day (no accounting basis: keyed `Accrual`).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/agedreceivables
    """

    name = "report_aged_receivables"
    entity = "AgedReceivables"
    as_of = True
    basis = False


class AgedPayablesReport(ReportStream):
    """Payables aging as of each period's last day (no accounting basis: keyed `Accrual`).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/report-entities/agedpayables
    """

    name = "report_aged_payables"
    entity = "AgedPayables"
    as_of = True
    basis = False


REPORT_STREAM_TYPES: tuple[type[ReportStream], ...] = (
    ProfitAndLossReport,
    BalanceSheetReport,
    CashFlowReport,
    TrialBalanceReport,
    GeneralLedgerReport,
    ProfitAndLossDetailReport,
    AgedReceivablesReport,
    AgedPayablesReport,
)
