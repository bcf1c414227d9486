{#-
  The report line walk: `<staging>.qb_report_lines(payload jsonb)` returns one row per cell of
  every data and summary line of a QuickBooks report body (section path, account, column key,
  value as text and number). The same SQL as qbo_warehouse.reports.LINES_FUNCTION, which makes
  the raw.qb_report_<name>_lines views of `qbo-warehouse report-views`; a test keeps the two equal.
  Created by the project's on-run-start hook, in the staging schema: dbt writes nothing to raw.
-#}
{% macro create_report_lines_function() -%}
    {%- set schema = adapter.quote(generate_schema_name('staging', none)) -%}
create schema if not exists {{ schema }};
CREATE OR REPLACE FUNCTION {{ schema }}.qb_report_lines(payload jsonb)
RETURNS TABLE (
    line_position int[], line_kind text, section_path text[], section_group text, label text,
    account_id text, account_name text, col_key text, col_index int, value_text text,
    value_number numeric
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- A recursive walk is estimated so costly that JIT would compile it on every call: seconds.
SET jit = off
ROWS 500
AS $fn$
WITH RECURSIVE node AS (
    SELECT r.row, ARRAY[r.n::int] AS position, ARRAY[]::text[] AS path,
           NULL::text AS section_group, NULL::text AS section_account_id,
           NULL::text AS section_account_name
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(payload -> 'Rows' -> 'Row') = 'array'
             THEN payload -> 'Rows' -> 'Row' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS r(row, n)
    UNION ALL
    SELECT c.row, p.position || c.n::int,
           p.path || coalesce(p.row -> 'Header' -> 'ColData' -> 0 ->> 'value', ''),
           coalesce(p.row ->> 'group', p.section_group),
           coalesce(p.row -> 'Header' -> 'ColData' -> 0 ->> 'id', p.section_account_id),
           CASE WHEN p.row -> 'Header' -> 'ColData' -> 0 ? 'id'
                THEN p.row -> 'Header' -> 'ColData' -> 0 ->> 'value'
                ELSE p.section_account_name END
    FROM node AS p
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE WHEN jsonb_typeof(p.row -> 'Rows' -> 'Row') = 'array'
             THEN p.row -> 'Rows' -> 'Row' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS c(row, n)
),
keys AS (
    SELECT coalesce(array_agg(
               coalesce(
                   (SELECT m ->> 'Value'
                      FROM jsonb_array_elements(
                          CASE WHEN jsonb_typeof(k.col -> 'MetaData') = 'array'
                               THEN k.col -> 'MetaData' ELSE '[]'::jsonb END
                      ) AS m
                     WHERE m ->> 'Name' = 'ColKey' LIMIT 1),
                   'col_' || (k.i - 1)
               ) ORDER BY k.i), ARRAY[]::text[]) AS keys
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(payload -> 'Columns' -> 'Column') = 'array'
             THEN payload -> 'Columns' -> 'Column' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS k(col, i)
),
line AS (
    SELECT n.position, 'Data'::text AS line_kind, n.path,
           coalesce(n.row ->> 'group', n.section_group) AS section_group,
           n.row -> 'ColData' AS cells,
           CASE WHEN n.row -> 'ColData' -> 0 ? 'id' THEN n.row -> 'ColData' -> 0 ->> 'id'
                ELSE n.section_account_id END AS account_id,
           CASE WHEN n.row -> 'ColData' -> 0 ? 'id' THEN n.row -> 'ColData' -> 0 ->> 'value'
                ELSE n.section_account_name END AS account_name
    FROM node AS n
    WHERE jsonb_typeof(n.row -> 'ColData') = 'array'
    UNION ALL
    SELECT n.position, 'Summary',
           n.path || coalesce(n.row -> 'Header' -> 'ColData' -> 0 ->> 'value', ''),
           coalesce(n.row ->> 'group', n.section_group),
           n.row -> 'Summary' -> 'ColData',
           coalesce(n.row -> 'Header' -> 'ColData' -> 0 ->> 'id', n.section_account_id),
           CASE WHEN n.row -> 'Header' -> 'ColData' -> 0 ? 'id'
                THEN n.row -> 'Header' -> 'ColData' -> 0 ->> 'value'
                ELSE n.section_account_name END
    FROM node AS n
    WHERE jsonb_typeof(n.row -> 'Summary' -> 'ColData') = 'array'
)
SELECT l.position, l.line_kind, l.path, l.section_group, l.cells -> 0 ->> 'value',
       l.account_id, l.account_name,
       coalesce(keys.keys[c.i], 'col_' || (c.i - 1)),
       (c.i - 1)::int,
       c.cell ->> 'value',
       CASE WHEN c.cell ->> 'value' ~ '^-?[0-9]+(\.[0-9]+)?$'
            THEN (c.cell ->> 'value')::numeric END
FROM line AS l
CROSS JOIN keys
CROSS JOIN LATERAL jsonb_array_elements(l.cells) WITH ORDINALITY AS c(cell, i)
WHERE c.i > 1
$fn$
;
{%- endmacro %}

{#-
  One report's cells, one row per cell (the function above over raw.qb_report_<report>), or an
  empty relation with the same columns while that report is not loaded.
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
    null::date as period_end, null::int[] as line_position, null::text as line_kind,
    null::text[] as section_path, null::text as section_group, null::text as label,
    null::text as account_id, null::text as account_name, null::text as col_key,
    null::int as col_index, null::text as value_text, null::numeric as value_number
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
