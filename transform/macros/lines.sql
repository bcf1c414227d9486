{#-
  One row per line of a transaction type's Line[] (stg model `stg_qbo__<stream>`, id column
  `<single>_id`). Group lines (GroupLineDetail) are replaced by their component lines, keyed
  "<group index>.<component index>"; subtotal lines (SubTotalLineDetail) are kept, flagged, and
  never posted. `line_index` is the 1-based position in Line[]: QuickBooks omits Id on some lines
  (subtotals), so the position is the key.
-#}
{% macro transaction_lines(stream, single, transaction_type) -%}
with headers as (
    select * from {{ ref('stg_qbo__' ~ stream) }}
),

top_lines as (
    select
        h.realm_id,
        h.{{ single }}_id as transaction_id,
        l.line,
        l.idx::text as line_index,
        null::text as group_item_id
    from headers as h
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(h.payload -> 'Line') = 'array' then h.payload -> 'Line' else '[]'::jsonb end
    ) with ordinality as l (line, idx)
),

lines as (
    select realm_id, transaction_id, line, line_index, group_item_id
    from top_lines
    where line ->> 'DetailType' is distinct from 'GroupLineDetail'
    union all
    select
        t.realm_id,
        t.transaction_id,
        g.line,
        t.line_index || '.' || g.idx,
        t.line -> 'GroupLineDetail' -> 'GroupItemRef' ->> 'value'
    from top_lines as t
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(t.line -> 'GroupLineDetail' -> 'Line') = 'array'
            then t.line -> 'GroupLineDetail' -> 'Line' else '[]'::jsonb end
    ) with ordinality as g (line, idx)
    where t.line ->> 'DetailType' = 'GroupLineDetail'
),

typed as (
    select
        l.realm_id,
        '{{ transaction_type }}'::text as transaction_type,
        l.transaction_id,
        l.line_index,
        nullif(l.line ->> 'Id', '') as line_id,
        nullif(l.line ->> 'LineNum', '')::integer as line_number,
        l.line ->> 'DetailType' as detail_type,
        l.line -> (l.line ->> 'DetailType') as detail,
        nullif(l.line ->> 'Description', '') as description,
        coalesce(nullif(l.line ->> 'Amount', '')::numeric, 0) as amount,
        l.group_item_id,
        l.line -> 'LinkedTxn' -> 0 ->> 'TxnId' as linked_transaction_id,
        l.line -> 'LinkedTxn' -> 0 ->> 'TxnType' as linked_transaction_type
    from lines as l
)

select
    t.realm_id,
    t.transaction_type,
    t.transaction_id,
    t.line_index,
    t.line_id,
    t.line_number,
    t.detail_type,
    t.detail_type = 'SubTotalLineDetail' as is_subtotal,
    t.description,
    t.amount,
    h.currency,
    h.exchange_rate,
    h.transaction_date,
    {{ ref_id('t.detail', 'ItemRef') }} as item_id,
    t.group_item_id,
    {{ ref_id('t.detail', 'ItemAccountRef') }} as item_account_id,
    coalesce(
        {{ ref_id('t.detail', 'AccountRef') }},
        {{ ref_id('t.detail', 'DiscountAccountRef') }}
    ) as account_id,
    {{ num('t.detail', 'Qty') }} as quantity,
    {{ num('t.detail', 'UnitPrice') }} as unit_price,
    {{ ref_id('t.detail', 'TaxCodeRef') }} as tax_code_id,
    coalesce({{ ref_id('t.detail', 'ClassRef') }}, h.class_id) as class_id,
    coalesce({{ ref_id('t.detail', 'DepartmentRef') }}, h.department_id) as department_id,
    nullif(t.detail ->> 'PostingType', '') as posting_type,
    coalesce(t.detail -> 'Entity' -> 'EntityRef' ->> 'value', t.detail -> 'Entity' ->> 'value') as entity_id,
    coalesce(t.detail -> 'Entity' ->> 'Type', t.detail -> 'Entity' ->> 'type') as entity_type,
    {{ ref_id('t.detail', 'CustomerRef') }} as line_customer_id,
    nullif(t.detail ->> 'BillableStatus', '') as billable_status,
    {{ dt('t.detail', 'ServiceDate') }} as service_date,
    t.linked_transaction_id,
    t.linked_transaction_type
from typed as t
inner join headers as h
    on h.realm_id = t.realm_id
    and h.{{ single }}_id = t.transaction_id
{%- endmacro %}

{#-
  Payment and bill payment lines: one row per transaction a line pays (Line[].LinkedTxn[]),
  keyed "<line index>.<linked index>". The amount of a line applies to its linked transactions.
-#}
{% macro linked_lines(stream, single, transaction_type) -%}
with headers as (
    select * from {{ ref('stg_qbo__' ~ stream) }}
)

select
    h.realm_id,
    '{{ transaction_type }}'::text as transaction_type,
    h.{{ single }}_id as transaction_id,
    l.idx || '.' || k.idx as line_index,
    l.idx::integer as line_position,
    coalesce(nullif(l.line ->> 'Amount', '')::numeric, 0) as amount,
    h.currency,
    h.exchange_rate,
    h.transaction_date,
    k.linked ->> 'TxnId' as linked_transaction_id,
    k.linked ->> 'TxnType' as linked_transaction_type
from headers as h
cross join lateral jsonb_array_elements(
    case when jsonb_typeof(h.payload -> 'Line') = 'array' then h.payload -> 'Line' else '[]'::jsonb end
) with ordinality as l (line, idx)
cross join lateral jsonb_array_elements(
    case when jsonb_typeof(l.line -> 'LinkedTxn') = 'array' then l.line -> 'LinkedTxn' else '[]'::jsonb end
) with ordinality as k (linked, idx)
{%- endmacro %}
