-- CompanyCurrency objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, company_currency_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companycurrency
select
    r.realm_id,
    r.id as company_currency_id,
    nullif(payload ->> 'Code', '') as currency_code,
    nullif(payload ->> 'Name', '') as name,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('company_currencies') }} as r
