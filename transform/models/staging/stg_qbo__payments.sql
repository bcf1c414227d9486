-- Payment objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, payment_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/payment
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as payment_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'CustomerRef') }} as customer_id,
    {{ ref_id("payload", 'DepositToAccountRef') }} as deposit_to_account_id,
    {{ ref_id("payload", 'ARAccountRef') }} as ar_account_id,
    {{ ref_id("payload", 'PaymentMethodRef') }} as payment_method_id,
    {{ num("payload", 'UnappliedAmt') }} as unapplied_amount,
    nullif(payload ->> 'PaymentRefNum', '') as payment_reference,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('payments') }} as r
{{ join_home_currency() }}
