-- One row per line of every JournalEntry (group lines expanded). Key: (realm_id, transaction_id, line_index).
{{ transaction_lines('journal_entries', 'journal_entry', 'JournalEntry') }}
