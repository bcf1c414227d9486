-- One row per line of every Deposit (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('deposits', 'deposit', 'Deposit') }}
