-- TaxRate objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, tax_rate_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxrate
select
    r.realm_id,
    r.id as tax_rate_id,
    nullif(payload ->> 'Name', '') as name,
    {{ num("payload", 'RateValue') }} as rate_value,
    {{ ref_id("payload", 'AgencyRef') }} as tax_agency_id,
    nullif(payload ->> 'SpecialTaxType', '') as special_tax_type,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('tax_rates') }} as r
