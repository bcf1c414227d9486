-- TaxAgency objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, tax_agency_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/taxagency
select
    r.realm_id,
    r.id as tax_agency_id,
    nullif(payload ->> 'DisplayName', '') as display_name,
    {{ bool("payload", 'TaxTrackedOnSales') }} as is_tracked_on_sales,
    {{ bool("payload", 'TaxTrackedOnPurchases') }} as is_tracked_on_purchases,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('tax_agencies') }} as r
