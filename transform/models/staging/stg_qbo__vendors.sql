-- Vendor objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, vendor_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/vendor
select
    r.realm_id,
    r.id as vendor_id,
    nullif(payload ->> 'DisplayName', '') as display_name,
    nullif(payload ->> 'CompanyName', '') as company_name,
    {{ ref_id("payload", 'CurrencyRef') }} as currency,
    {{ num("payload", 'Balance') }} as balance,
    {{ ref_id("payload", 'TermRef') }} as term_id,
    nullif(payload ->> 'AcctNum', '') as account_number,
    coalesce({{ bool("payload", 'Vendor1099') }}, false) as is_1099,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('vendors') }} as r
