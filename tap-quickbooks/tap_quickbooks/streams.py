"""The QuickBooks Online streams: one short declaration per entity.

A stream states what it is (`entity`, its kind through its base, and any class keyword
where the entity differs); `client.QuickBooksStream` knows what that means. The table of
stream `x` is `raw.qb_x`. Intuit's reference for each entity is linked.
"""

from __future__ import annotations

from tap_quickbooks.client import QuickBooksStream
from tap_quickbooks.realm_plan import (  # re-exported: CDC's limits, by the streams they shape
    CDC_SKEW_MARGIN,
    CDC_WINDOW,
    DELETES_CHECKED_AT,
    cdc_since,
)

__all__ = ["CDC_SKEW_MARGIN", "CDC_WINDOW", "DELETES_CHECKED_AT", "STREAM_TYPES", "cdc_since"]


class NameListStream(QuickBooksStream, kind="name_list"):
    """A name list: inactive rows included (QuickBooks returns only active ones unless asked)."""


class TransactionStream(QuickBooksStream, kind="transaction"):
    """A transaction: hard-deleted in QuickBooks, so a delete arrives as a CDC tombstone."""


class SingletonStream(QuickBooksStream, kind="singleton"):
    """One object per company (`SELECT *`), read again on every run."""


class AccountsStream(NameListStream):
    """Account: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/account
    """

    name = "accounts"
    entity = "Account"


class ClassesStream(NameListStream):
    """Class: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/class
    """

    name = "classes"
    entity = "Class"


class CustomersStream(NameListStream):
    """Customer: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer
    """

    name = "customers"
    entity = "Customer"


class CustomerTypesStream(NameListStream):
    """CustomerType: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customertype
    """

    name = "customer_types"
    entity = "CustomerType"


class DepartmentsStream(NameListStream):
    """Department: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/department
    """

    name = "departments"
    entity = "Department"


class EmployeesStream(NameListStream):
    """Employee: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/employee
    """

    name = "employees"
    entity = "Employee"


class ItemsStream(NameListStream):
    """Item: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/item
    """

    name = "items"
    entity = "Item"


class PaymentMethodsStream(NameListStream):
    """PaymentMethod: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/paymentmethod
    """

    name = "payment_methods"
    entity = "PaymentMethod"


class TermsStream(NameListStream):
    """Term: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/term
    """

    name = "terms"
    entity = "Term"


class VendorsStream(NameListStream):
    """Vendor: active and inactive.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendor
    """

    name = "vendors"
    entity = "Vendor"


class TaxCodesStream(NameListStream, cdc=False):
    """TaxCode: active and inactive. CDC does not serve it.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxcode
    """

    name = "tax_codes"
    entity = "TaxCode"


class TaxRatesStream(NameListStream, cdc=False):
    """TaxRate: active and inactive. CDC does not serve it.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxrate
    """

    name = "tax_rates"
    entity = "TaxRate"


class TaxAgenciesStream(NameListStream, cdc=False, include_inactive=False):
    """TaxAgency: active and inactive. CDC does not serve it; it has no Active field.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxagency
    """

    name = "tax_agencies"
    entity = "TaxAgency"


class CompanyCurrenciesStream(NameListStream):
    """CompanyCurrency: active and inactive. Multicurrency companies only (empty otherwise).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companycurrency
    """

    name = "company_currencies"
    entity = "CompanyCurrency"


class InvoicesStream(TransactionStream):
    """Invoice: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
    """

    name = "invoices"
    entity = "Invoice"


class PaymentsStream(TransactionStream):
    """Payment: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment
    """

    name = "payments"
    entity = "Payment"


class SalesReceiptsStream(TransactionStream):
    """SalesReceipt: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/salesreceipt
    """

    name = "sales_receipts"
    entity = "SalesReceipt"


class CreditMemosStream(TransactionStream):
    """CreditMemo: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/creditmemo
    """

    name = "credit_memos"
    entity = "CreditMemo"


class RefundReceiptsStream(TransactionStream):
    """RefundReceipt: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/refundreceipt
    """

    name = "refund_receipts"
    entity = "RefundReceipt"


class EstimatesStream(TransactionStream):
    """Estimate: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/estimate
    """

    name = "estimates"
    entity = "Estimate"


class BillsStream(TransactionStream):
    """Bill: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/bill
    """

    name = "bills"
    entity = "Bill"


class BillPaymentsStream(TransactionStream):
    """BillPayment: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/billpayment
    """

    name = "bill_payments"
    entity = "BillPayment"


class VendorCreditsStream(TransactionStream):
    """VendorCredit: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendorcredit
    """

    name = "vendor_credits"
    entity = "VendorCredit"


class PurchasesStream(TransactionStream):
    """Purchase: deletes become tombstones. Expenses, checks and credit card charges.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchase
    """

    name = "purchases"
    entity = "Purchase"


class PurchaseOrdersStream(TransactionStream):
    """PurchaseOrder: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/purchaseorder
    """

    name = "purchase_orders"
    entity = "PurchaseOrder"


class DepositsStream(TransactionStream):
    """Deposit: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/deposit
    """

    name = "deposits"
    entity = "Deposit"


class TransfersStream(TransactionStream):
    """Transfer: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/transfer
    """

    name = "transfers"
    entity = "Transfer"


class JournalEntriesStream(TransactionStream):
    """JournalEntry: deletes become tombstones.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry
    """

    name = "journal_entries"
    entity = "JournalEntry"


class TimeActivitiesStream(TransactionStream, cdc=False):
    """TimeActivity: deletes become tombstones.

    CDC does not serve it, so its deletes cannot be seen (reconcile --mark-deleted).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/timeactivity
    """

    name = "time_activities"
    entity = "TimeActivity"


class BudgetsStream(TransactionStream, include_inactive=True):
    """Budget: deletes become tombstones. Budgets can be made inactive: all are read.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/budget
    """

    name = "budgets"
    entity = "Budget"


class AttachablesStream(TransactionStream):
    """Attachable: deletes become tombstones. Attachment metadata (notes and file references).

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/attachable
    """

    name = "attachables"
    entity = "Attachable"


class CompanyInfoStream(SingletonStream):
    """CompanyInfo: one per company, read again every run.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companyinfo
    """

    name = "company_info"
    entity = "CompanyInfo"


class PreferencesStream(SingletonStream):
    """Preferences: one per company, read again every run.

    https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/preferences
    """

    name = "preferences"
    entity = "Preferences"


STREAM_TYPES: tuple[type[QuickBooksStream], ...] = (
    InvoicesStream,
    CustomersStream,
    ItemsStream,
    AccountsStream,
    ClassesStream,
    CustomerTypesStream,
    DepartmentsStream,
    EmployeesStream,
    PaymentMethodsStream,
    TermsStream,
    VendorsStream,
    TaxCodesStream,
    TaxRatesStream,
    TaxAgenciesStream,
    CompanyCurrenciesStream,
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
"""Every stream, in the order they are synced (the one list everything else derives from)."""
