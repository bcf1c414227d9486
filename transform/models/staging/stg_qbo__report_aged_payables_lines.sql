-- QuickBooks' aged_payables report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('aged_payables') }}
