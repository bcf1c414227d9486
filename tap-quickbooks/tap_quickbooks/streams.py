"""The QuickBooks Online streams: one short class per entity."""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t

from typing_extensions import override

from tap_quickbooks.client import QuickBooksStream, RealmConnection, RequestStats, StreamTotals
from tap_quickbooks.records import strip_nul, utc_iso

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

CDC_WINDOW = dt.timedelta(days=30)
CDC_MAX_OBJECTS = 1000
CDC_MARGIN = dt.timedelta(seconds=60)
DELETES_CHECKED_AT = "deletes_checked_at"


class AccountsStream(QuickBooksStream):
    """Account: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/account
    """

    name = "accounts"
    entity = "Account"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class ClassesStream(QuickBooksStream):
    """Class: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/class
    """

    name = "classes"
    entity = "Class"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class CustomersStream(QuickBooksStream):
    """Customer: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer
    """

    name = "customers"
    entity = "Customer"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class CustomerTypesStream(QuickBooksStream):
    """CustomerType: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customertype
    """

    name = "customer_types"
    entity = "CustomerType"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class DepartmentsStream(QuickBooksStream):
    """Department: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/department
    """

    name = "departments"
    entity = "Department"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class EmployeesStream(QuickBooksStream):
    """Employee: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/employee
    """

    name = "employees"
    entity = "Employee"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class ItemsStream(QuickBooksStream):
    """Item: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/item
    """

    name = "items"
    entity = "Item"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class PaymentMethodsStream(QuickBooksStream):
    """PaymentMethod: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/paymentmethod
    """

    name = "payment_methods"
    entity = "PaymentMethod"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class TermsStream(QuickBooksStream):
    """Term: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/term
    """

    name = "terms"
    entity = "Term"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class VendorsStream(QuickBooksStream):
    """Vendor: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendor
    """

    name = "vendors"
    entity = "Vendor"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class TaxCodesStream(QuickBooksStream):
    """TaxCode: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxcode
    """

    name = "tax_codes"
    entity = "TaxCode"
    kind = "name_list"
    cdc = False
    tombstones = False
    include_inactive = True


class TaxRatesStream(QuickBooksStream):
    """TaxRate: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxrate
    """

    name = "tax_rates"
    entity = "TaxRate"
    kind = "name_list"
    cdc = False
    tombstones = False
    include_inactive = True


class TaxAgenciesStream(QuickBooksStream):
    """TaxAgency: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxagency
    """

    name = "tax_agencies"
    entity = "TaxAgency"
    kind = "name_list"
    cdc = False
    tombstones = False
    include_inactive = True


class CompanyCurrenciesStream(QuickBooksStream):
    """CompanyCurrency: name list, active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companycurrency
    """

    name = "company_currencies"
    entity = "CompanyCurrency"
    kind = "name_list"
    cdc = True
    tombstones = False
    include_inactive = True


class InvoicesStream(QuickBooksStream):
    """Invoices, plus tombstones of invoices deleted since the last run (from CDC).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    """

    name = "invoices"
    entity = "Invoice"
    kind = "transaction"
    cdc = True
    tombstones = True

    @override
    def after_windows(
        self,
        conn: RealmConnection,
        context: Context,
        bookmark_at_start: dt.datetime | None,
        stats: RequestStats,
        totals: StreamTotals,
    ) -> t.Iterable[dict[str, t.Any]]:
        """Emit CDC tombstones (`status == "Deleted"`); the bookmark does not move.

        CDC is read from the QuickBooks time of the previous run's CDC answer (kept in the
        partition state as `deletes_checked_at`; older state: the bookmark; first run: this
        run's start), and the run warns when that is longer ago than CDC's 30 days.
        """
        realm = context["realm_id"]
        if not self.settings.include_deletes:
            return
        state = self.get_context_state(context)
        since = bookmark_at_start or self.connections.run_started_at
        if isinstance(state.get(DELETES_CHECKED_AT), str):
            with contextlib.suppress(ValueError):
                since = dt.datetime.fromisoformat(state[DELETES_CHECKED_AT])
        asked = dt.datetime.now(dt.UTC)
        objects, request_payload, server_time = conn.cdc(self.entity, since, stats)
        now = server_time or asked
        if now - since > CDC_WINDOW:
            self.logger.warning(
                "Deletes of %s for realm %s were last checked at %s, more than 30 days ago: "
                "QuickBooks CDC cannot report every invoice deleted before %s. Run "
                "`qbo-warehouse reconcile --mark-deleted` (make reconcile ARGS=--mark-deleted), "
                "a full id reconciliation, to mark those rows deleted.",
                self.name,
                realm,
                since.isoformat(),
                (now - CDC_WINDOW).date(),
            )
        if len(objects) >= CDC_MAX_OBJECTS:
            self.logger.warning(
                "CDC returned %d objects for %s realm %s (its limit is %d): some deletes may be "
                "missing; run `qbo-warehouse reconcile --mark-deleted` to check",
                len(objects),
                self.name,
                realm,
                CDC_MAX_OBJECTS,
            )
        ingested = now.isoformat()
        for obj in objects:
            if obj.get("status") != "Deleted" or not obj.get("Id"):
                continue
            meta = obj.get("MetaData") or {}
            stamp = meta.get("LastUpdatedTime") if isinstance(meta, dict) else None
            deleted_at = utc_iso(stamp) if isinstance(stamp, str) and stamp else ingested
            totals.tombstones += 1
            yield {
                "realm_id": realm,
                "id": str(obj["Id"]),
                "sync_token": None,
                "last_updated_time": deleted_at,
                "payload": strip_nul(obj),
                "ingested_at_utc": ingested,
                "extract_window_start_utc": since.isoformat(),
                "extract_window_end_utc": ingested,
                "page_number": None,
                "page_size": None,
                "request_payload": request_payload,
                "_sdc_deleted_at": deleted_at,
            }
        # Deletes from here on are read next time (a margin for the time the answer took).
        checked = (now - (dt.datetime.now(dt.UTC) - asked) - CDC_MARGIN).replace(microsecond=0)
        state[DELETES_CHECKED_AT] = max(checked, since).isoformat()
        self.state_manager.is_flushed = False
        self._write_state_message()


class PaymentsStream(QuickBooksStream):
    """Payment: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment
    """

    name = "payments"
    entity = "Payment"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class SalesReceiptsStream(QuickBooksStream):
    """SalesReceipt: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/salesreceipt
    """

    name = "sales_receipts"
    entity = "SalesReceipt"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class CreditMemosStream(QuickBooksStream):
    """CreditMemo: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/creditmemo
    """

    name = "credit_memos"
    entity = "CreditMemo"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class RefundReceiptsStream(QuickBooksStream):
    """RefundReceipt: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/refundreceipt
    """

    name = "refund_receipts"
    entity = "RefundReceipt"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class EstimatesStream(QuickBooksStream):
    """Estimate: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/estimate
    """

    name = "estimates"
    entity = "Estimate"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class BillsStream(QuickBooksStream):
    """Bill: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/bill
    """

    name = "bills"
    entity = "Bill"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class BillPaymentsStream(QuickBooksStream):
    """BillPayment: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/billpayment
    """

    name = "bill_payments"
    entity = "BillPayment"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class VendorCreditsStream(QuickBooksStream):
    """VendorCredit: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendorcredit
    """

    name = "vendor_credits"
    entity = "VendorCredit"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class PurchasesStream(QuickBooksStream):
    """Purchase: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchase
    """

    name = "purchases"
    entity = "Purchase"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class PurchaseOrdersStream(QuickBooksStream):
    """PurchaseOrder: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchaseorder
    """

    name = "purchase_orders"
    entity = "PurchaseOrder"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class DepositsStream(QuickBooksStream):
    """Deposit: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/deposit
    """

    name = "deposits"
    entity = "Deposit"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class TransfersStream(QuickBooksStream):
    """Transfer: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/transfer
    """

    name = "transfers"
    entity = "Transfer"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class JournalEntriesStream(QuickBooksStream):
    """JournalEntry: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry
    """

    name = "journal_entries"
    entity = "JournalEntry"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class TimeActivitiesStream(QuickBooksStream):
    """TimeActivity: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/timeactivity
    """

    name = "time_activities"
    entity = "TimeActivity"
    kind = "transaction"
    cdc = False
    tombstones = False
    include_inactive = False


class BudgetsStream(QuickBooksStream):
    """Budget: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/budget
    """

    name = "budgets"
    entity = "Budget"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class AttachablesStream(QuickBooksStream):
    """Attachable: transactions.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/attachable
    """

    name = "attachables"
    entity = "Attachable"
    kind = "transaction"
    cdc = True
    tombstones = True
    include_inactive = False


class CompanyInfoStream(QuickBooksStream):
    """CompanyInfo: one object per company, read again every run.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companyinfo
    """

    name = "company_info"
    entity = "CompanyInfo"
    kind = "singleton"
    cdc = False
    tombstones = False
    include_inactive = False


class PreferencesStream(QuickBooksStream):
    """Preferences: one object per company, read again every run.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/preferences
    """

    name = "preferences"
    entity = "Preferences"
    kind = "singleton"
    cdc = False
    tombstones = False
    include_inactive = False


STREAM_TYPES: tuple[type[QuickBooksStream], ...] = (
    AccountsStream,
    ClassesStream,
    CustomersStream,
    CustomerTypesStream,
    DepartmentsStream,
    EmployeesStream,
    ItemsStream,
    PaymentMethodsStream,
    TermsStream,
    VendorsStream,
    TaxCodesStream,
    TaxRatesStream,
    TaxAgenciesStream,
    CompanyCurrenciesStream,
    InvoicesStream,
    PaymentsStream,
    SalesReceiptsStream,
    CreditMemosStream,
    RefundReceiptsStream,
    EstimatesStream,
    BillsStream,
    BillPaymentsStream,
    VendorCreditsStream,
    PurchasesStream,
    PurchaseOrdersStream,
    DepositsStream,
    TransfersStream,
    JournalEntriesStream,
    TimeActivitiesStream,
    BudgetsStream,
    AttachablesStream,
    CompanyInfoStream,
    PreferencesStream,
)
