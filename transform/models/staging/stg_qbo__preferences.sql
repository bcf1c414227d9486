-- Preferences objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, preferences_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/preferences
select
    r.realm_id,
    r.id as preferences_id,
    nullif(payload -> 'CurrencyPrefs' -> 'HomeCurrency' ->> 'value', '') as home_currency,
    coalesce({{ bool("payload -> 'CurrencyPrefs'", 'MultiCurrencyEnabled') }}, false) as is_multicurrency,
    nullif(payload -> 'ReportPrefs' ->> 'ReportBasis', '') as report_basis,
    nullif(payload -> 'AccountingInfoPrefs' ->> 'FirstMonthOfFiscalYear', '') as first_month_of_fiscal_year,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('preferences') }} as r
