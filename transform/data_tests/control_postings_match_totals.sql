-- The posting rules account for every line: the balancing (control) posting of each transaction
-- equals its TotalAmt in the transaction's currency. A transaction listed here has a line the
-- rules do not post (or a total that does not add up), so its statement lines would be wrong.
with postings as (
    select realm_id, transaction_type, transaction_id,
        sum(amount_txn) filter (where not is_control) as detail,
        sum(amount_txn) filter (where is_control) as control
    from {{ ref('int_qbo__postings') }}
    group by 1, 2, 3
)

select *
from postings
where control is not null and coalesce(detail, 0) + control <> 0
