-- TaxCode objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, tax_code_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxcode
select
    r.realm_id,
    r.id as tax_code_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'Description', '') as description,
    {{ bool("payload", 'Taxable') }} as is_taxable,
    {{ bool("payload", 'TaxGroup') }} as is_tax_group,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('tax_codes') }} as r
