-- One row per line of every Bill (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('bills', 'bill', 'Bill') }}
