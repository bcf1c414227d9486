-- Term objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, term_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/term
select
    r.realm_id,
    r.id as term_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'Type', '') as term_type,
    nullif(payload ->> 'DueDays', '')::integer as due_days,
    nullif(payload ->> 'DiscountDays', '')::integer as discount_days,
    {{ num("payload", 'DiscountPercent') }} as discount_percent,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('terms') }} as r
