-- JournalEntry objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, journal_entry_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/journalentry
-- Amounts in the transaction's currency; exchange_rate converts to the home currency (1 when absent).
select
    r.realm_id,
    r.id as journal_entry_id,
    {{ txn_header_columns() }},
    coalesce({{ bool("payload", 'Adjustment') }}, false) as is_adjustment,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('journal_entries') }} as r
{{ join_home_currency() }}
