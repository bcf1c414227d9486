-- QuickBooks' profit_and_loss_detail report, one row per cell of every line (macros/report_lines.sql).
{{ report_lines('profit_and_loss_detail') }}
