-- Item objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, item_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/item
select
    r.realm_id,
    r.id as item_id,
    nullif(payload ->> 'Name', '') as name,
    nullif(payload ->> 'FullyQualifiedName', '') as fully_qualified_name,
    nullif(payload ->> 'Type', '') as item_type,
    nullif(payload ->> 'Sku', '') as sku,
    {{ ref_id("payload", 'ParentRef') }} as parent_item_id,
    {{ ref_id("payload", 'IncomeAccountRef') }} as income_account_id,
    {{ ref_id("payload", 'ExpenseAccountRef') }} as expense_account_id,
    {{ ref_id("payload", 'AssetAccountRef') }} as asset_account_id,
    {{ num("payload", 'UnitPrice') }} as unit_price,
    {{ num("payload", 'PurchaseCost') }} as purchase_cost,
    coalesce({{ bool("payload", 'TrackQtyOnHand') }}, false) as tracks_quantity_on_hand,
    {{ num("payload", 'QtyOnHand') }} as quantity_on_hand,
    {{ bool("payload", 'Taxable') }} as is_taxable,
    coalesce({{ bool("payload", 'Active') }}, true) as is_active,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('items') }} as r
