-- One row per line of every Estimate (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('estimates', 'estimate', 'Estimate') }}
