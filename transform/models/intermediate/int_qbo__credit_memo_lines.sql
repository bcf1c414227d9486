-- One row per line of every CreditMemo (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('credit_memos', 'credit_memo', 'CreditMemo') }}
