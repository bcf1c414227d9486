-- BillPayment objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, bill_payment_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/billpayment
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as bill_payment_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'VendorRef') }} as vendor_id,
    nullif(payload ->> 'PayType', '') as pay_type,
    {{ ref_id("payload", 'APAccountRef') }} as ap_account_id,
    coalesce({{ ref_id("payload -> 'CheckPayment'", 'BankAccountRef') }}, {{ ref_id("payload -> 'CreditCardPayment'", 'CCAccountRef') }}) as payment_account_id,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('bill_payments') }} as r
{{ join_home_currency() }}
