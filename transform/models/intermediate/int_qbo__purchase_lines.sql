-- One row per line of every Purchase (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('purchases', 'purchase', 'Purchase') }}
