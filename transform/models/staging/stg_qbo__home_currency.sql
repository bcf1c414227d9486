-- Each company's home currency, from Preferences.CurrencyPrefs.HomeCurrency (one row per realm).
-- Companies whose Preferences are not loaded have no row: their transactions keep the currency
-- they name (CurrencyRef), which QuickBooks sends on every transaction.
select distinct on (realm_id)
    realm_id,
    nullif(payload -> 'CurrencyPrefs' -> 'HomeCurrency' ->> 'value', '') as home_currency
from {{ live_rows('preferences') }} as r
order by realm_id, id
