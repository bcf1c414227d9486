-- Attachable objects of every company, one row per live object (tombstones left out).
-- Key: (realm_id, attachable_id). Intuit: https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/attachable
select
    r.realm_id,
    r.id as attachable_id,
    nullif(payload ->> 'FileName', '') as file_name,
    nullif(payload ->> 'ContentType', '') as content_type,
    nullif(payload ->> 'Size', '')::numeric as size_bytes,
    nullif(payload ->> 'Note', '') as note,
    payload -> 'AttachableRef' -> 0 -> 'EntityRef' ->> 'type' as entity_type,
    payload -> 'AttachableRef' -> 0 -> 'EntityRef' ->> 'value' as entity_id,
    r.sync_token,
    r.last_updated_time,
    r.payload
from {{ live_rows('attachables') }} as r
