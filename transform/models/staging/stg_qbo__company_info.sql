-- CompanyInfo objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, company_info_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/companyinfo
select
    r.realm_id,
    r.id as company_info_id,
    nullif(payload ->> 'CompanyName', '') as company_name,
    nullif(payload ->> 'LegalName', '') as legal_name,
    nullif(payload ->> 'Country', '') as country,
    {{ dt('payload', 'CompanyStartDate') }} as company_start_date,
    -- "January" .. "December"; QuickBooks' fiscal year starts on the first day of that month.
    coalesce(nullif(payload ->> 'FiscalYearStartMonth', ''), 'January') as fiscal_year_start_month,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('company_info') }} as r
