-- QuickBooks' balance_sheet report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('balance_sheet') }}
