-- Customer objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, customer_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/customer
select
    r.realm_id,
    r.id as customer_id,
    nullif(payload ->> 'DisplayName', '') as display_name,
    nullif(payload ->> 'FullyQualifiedName', '') as fully_qualified_name,
    nullif(payload ->> 'CompanyName', '') as company_name,
    {{ ref_id("payload", 'ParentRef') }} as parent_customer_id,
    coalesce({{ bool("payload", 'Job') }}, false) as is_job,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    {{ ref_id("payload", 'CurrencyRef') }} as currency,
    {{ num("payload", 'Balance') }} as balance,
    {{ num("payload", 'BalanceWithJobs') }} as balance_with_jobs,
    {{ ref_id("payload", 'SalesTermRef') }} as sales_term_id,
    {{ ref_id("payload", 'CustomerTypeRef') }} as customer_type_id,
    {{ ref_id("payload", 'DefaultTaxCodeRef') }} as default_tax_code_id,
    {{ bool("payload", 'Taxable') }} as is_taxable,
    payload -> 'PrimaryEmailAddr' ->> 'Address' as email,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('customers') }} as r
