-- QuickBooks' general_ledger report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('general_ledger') }}
