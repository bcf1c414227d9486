{#-
  The report line walk `<staging>.qb_report_lines(payload jsonb)`: one row per cell of every data
  and summary line of a QuickBooks report body. Its SQL is the warehouse's own file
  (warehouse/qbo_warehouse/report_lines.sql, linked here as report_lines_function.sql: the macro
  `qb_report_lines_sql`), the one copy that `qbo-warehouse report-views` creates in raw too.
  Created by the project's on-run-start hook, in the staging schema: dbt writes nothing to raw.
-#}
{% macro create_report_lines_function() -%}
    {%- set schema = adapter.quote(generate_schema_name('staging', none)) -%}
create schema if not exists {{ schema }};
{{ qb_report_lines_sql(schema ~ '.qb_report_lines') }}
;
{%- endmacro %}

{#-
  One report's cells, one row per cell (the walk over raw.qb_report_<report>); while that report
  is not loaded, the walk of an empty body: no rows, the same columns.
-#}
{% macro report_lines(report) -%}
    {%- set found = raw_relation('qb_report_' ~ report) -%}
    {%- set schema = adapter.quote(generate_schema_name('staging', none)) -%}
    {%- if found is not none -%}
select t.realm_id, t.accounting_method, t.period_start, t.period_end, l.*
from {{ found }} as t
cross join lateral {{ schema }}.qb_report_lines(t.payload) as l
    {%- else -%}
select
    null::text as realm_id, null::text as accounting_method, null::date as period_start,
    null::date as period_end, l.*
from {{ schema }}.qb_report_lines('{}'::jsonb) as l
where false
    {%- endif -%}
{%- endmacro %}

{#-
  The report bodies of one report table: one row per loaded (realm, basis, period), with the md5
  of the body as text (`payload::text`: jsonb prints canonically, so equal bodies give equal
  hashes; null with `hashed=false`). Empty while the report is not loaded.
  `qbo-warehouse reconcile` hashes the raw table the same way to tell whether the models were
  built from what is loaded now.
-#}
{% macro report_bodies(report, hashed=true) -%}
    {%- set found = raw_relation('qb_report_' ~ report) -%}
    {%- if found is not none -%}
select t.realm_id, t.accounting_method, t.period_start, t.period_end,
    {{ 'md5(t.payload::text)' if hashed else 'null::text' }} as payload_md5
from {{ found }} as t
    {%- else -%}
select null::text as realm_id, null::text as accounting_method, null::date as period_start,
    null::date as period_end, null::text as payload_md5
where false
    {%- endif -%}
{%- endmacro %}
