-- QuickBooks' trial_balance report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('trial_balance') }}
