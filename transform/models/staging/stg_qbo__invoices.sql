-- Invoice objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, invoice_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as invoice_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'CustomerRef') }} as customer_id,
    {{ dt("payload", 'DueDate') }} as due_date,
    {{ num("payload", 'Balance') }} as balance,
    {{ ref_id("payload", 'ARAccountRef') }} as ar_account_id,
    {{ ref_id("payload", 'SalesTermRef') }} as sales_term_id,
    coalesce({{ num("payload -> 'TxnTaxDetail'", 'TotalTax') }}, 0) as total_tax,
    {{ ref_id("payload", 'DepositToAccountRef') }} as deposit_to_account_id,
    {{ num("payload", 'Deposit') }} as deposit_amount,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('invoices') }} as r
{{ join_home_currency() }}
