-- CreditMemo objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, credit_memo_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/creditmemo
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as credit_memo_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'CustomerRef') }} as customer_id,
    {{ num("payload", 'Balance') }} as balance,
    {{ num("payload", 'RemainingCredit') }} as remaining_credit,
    {{ ref_id("payload", 'ARAccountRef') }} as ar_account_id,
    coalesce({{ num("payload -> 'TxnTaxDetail'", 'TotalTax') }}, 0) as total_tax,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('credit_memos') }} as r
{{ join_home_currency() }}
