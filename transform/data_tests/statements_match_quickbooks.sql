-- The statements match QuickBooks' own reports to the cent, for every loaded report month.
-- Severity: warn by default (a real company may use what the models do not cover, see
-- README.md); `--vars '{statement_match_severity: error}'` makes a difference fail the build.
{{ config(severity=var('statement_match_severity', 'warn')) }}
select * from {{ ref('statement_differences') }}
