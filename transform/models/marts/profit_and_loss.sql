-- Profit and loss by month and account, on both accounting bases ('Accrual', 'Cash'), with the
-- ProfitAndLoss report's sections. Amounts in the home currency, signed as the report shows them:
-- income and other income positive when credited, cost of goods sold, expenses and other
-- expenses positive when debited. Key: (realm_id, accounting_method, period_month, account_id).
select
    realm_id,
    accounting_method,
    period_month,
    month_end,
    account_id,
    account_name,
    account_type,
    {{ pl_section('account_type') }} as section,
    case
        when account_type in ('Income', 'Other Income') then -period_net
        else period_net
    end as amount
from {{ ref('trial_balance') }}
where {{ pl_section('account_type') }} is not null
  and (period_debit <> 0 or period_credit <> 0)
