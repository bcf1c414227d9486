-- Deposit objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, deposit_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/deposit
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as deposit_id,
    {{ txn_header_columns() }},
    {{ ref_id("payload", 'DepositToAccountRef') }} as deposit_to_account_id,
    {{ ref_id("payload -> 'CashBack'", 'AccountRef') }} as cash_back_account_id,
    coalesce({{ num("payload -> 'CashBack'", 'Amount') }}, 0) as cash_back_amount,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('deposits') }} as r
{{ join_home_currency() }}
