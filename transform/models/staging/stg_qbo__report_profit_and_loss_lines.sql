-- QuickBooks' profit_and_loss report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('profit_and_loss') }}
