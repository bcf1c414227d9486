-- QuickBooks' cash_flow report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('cash_flow') }}
