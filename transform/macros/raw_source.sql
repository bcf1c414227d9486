{#-
  The raw table of one stream, or an empty relation with the same columns when the table does not
  exist yet (a stream that has not been selected or has not loaded a row). Models of streams that
  are not loaded then build empty instead of failing, and the raw schema is never written to.
  The choice is made when the model is built, so the next `dbt build` after the first load of a
  stream picks its rows up.
-#}
{% macro raw_source(stream) -%}
    {%- set relation = source('qbo', 'qb_' ~ stream) -%}
    {%- set found = adapter.get_relation(relation.database, relation.schema, relation.identifier) if execute else none -%}
    {%- if found is not none -%}
        {{ relation }}
    {%- else -%}
        (select
            null::text as realm_id,
            null::text as id,
            null::text as sync_token,
            null::timestamp as last_updated_time,
            null::jsonb as payload,
            null::timestamp as _sdc_deleted_at
         where false)
    {%- endif -%}
{%- endmacro %}

{#- The live rows of one stream: tombstones (deleted in QuickBooks) left out. -#}
{% macro live_rows(stream) -%}
    (select realm_id, id, sync_token, last_updated_time, payload
     from {{ raw_source(stream) }} as raw_rows
     where _sdc_deleted_at is null)
{%- endmacro %}
