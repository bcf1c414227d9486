-- One row per line of every Invoice (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('invoices', 'invoice', 'Invoice') }}
