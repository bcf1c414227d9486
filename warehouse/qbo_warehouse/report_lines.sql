-- The report line walk: qb_report_lines(payload jsonb) returns one row per cell of every data and
-- summary line of a QuickBooks report body (section path, account, column key, value as text and
-- number); the columns are described in warehouse/README.md ("Report lines").
--
-- The one copy of this SQL, read by both its users:
-- * qbo-warehouse (`report-views`, `reconcile --reports`) creates it as raw.qb_report_lines, under
--   the raw.qb_report_<name>_lines views, putting the qualified name where the body names it;
-- * dbt reads this same file as a macro (transform/macros/report_lines_function.sql is a link to
--   it) and creates the function in its staging schema before every run.
-- The two lines that open and close the macro are SQL comments, so Postgres never sees them; the
-- body must hold no other Jinja markers (double braces, brace-percent, brace-hash).
-- {% macro qb_report_lines_sql(function) -%}
CREATE OR REPLACE FUNCTION {{ function }}(payload jsonb)
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
-- {%- endmacro %}
