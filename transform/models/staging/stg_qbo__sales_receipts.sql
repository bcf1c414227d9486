-- SalesReceipt objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, sales_receipt_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/salesreceipt
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as sales_receipt_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'CustomerRef') }} as customer_id,
    {{ ref_id("payload", 'DepositToAccountRef') }} as deposit_to_account_id,
    {{ ref_id("payload", 'PaymentMethodRef') }} as payment_method_id,
    coalesce({{ num("payload -> 'TxnTaxDetail'", 'TotalTax') }}, 0) as total_tax,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('sales_receipts') }} as r
{{ join_home_currency() }}
