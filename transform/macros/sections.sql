{#- QuickBooks' AccountType -> Classification (Intuit Account entity reference). -#}
{% macro classification_of(account_type) -%}
    case
        when {{ account_type }} in ('Bank', 'Accounts Receivable', 'Other Current Asset', 'Fixed Asset', 'Other Asset') then 'Asset'
        when {{ account_type }} in ('Accounts Payable', 'Credit Card', 'Other Current Liability', 'Long Term Liability') then 'Liability'
        when {{ account_type }} = 'Equity' then 'Equity'
        when {{ account_type }} in ('Income', 'Other Income') then 'Revenue'
        when {{ account_type }} in ('Expense', 'Other Expense', 'Cost of Goods Sold') then 'Expense'
    end
{%- endmacro %}

{#- The ProfitAndLoss report's section of an account type. -#}
{% macro pl_section(account_type) -%}
    case {{ account_type }}
        when 'Income' then 'Income'
        when 'Cost of Goods Sold' then 'Cost of Goods Sold'
        when 'Expense' then 'Expenses'
        when 'Other Income' then 'Other Income'
        when 'Other Expense' then 'Other Expenses'
    end
{%- endmacro %}

{#- The BalanceSheet report's section path (top > group > subsection) of an account type. -#}
{% macro bs_section(account_type) -%}
    case {{ account_type }}
        when 'Bank' then 'Assets > Current Assets > Bank Accounts'
        when 'Accounts Receivable' then 'Assets > Current Assets > Accounts Receivable'
        when 'Other Current Asset' then 'Assets > Current Assets > Other Current Assets'
        when 'Fixed Asset' then 'Assets > Fixed Assets'
        when 'Other Asset' then 'Assets > Other Assets'
        when 'Accounts Payable' then 'Liabilities and Equity > Liabilities > Current Liabilities > Accounts Payable'
        when 'Credit Card' then 'Liabilities and Equity > Liabilities > Current Liabilities > Credit Cards'
        when 'Other Current Liability' then 'Liabilities and Equity > Liabilities > Current Liabilities > Other Current Liabilities'
        when 'Long Term Liability' then 'Liabilities and Equity > Liabilities > Long-Term Liabilities'
        when 'Equity' then 'Liabilities and Equity > Equity'
    end
{%- endmacro %}

{#- The account type a posting's role implies, for postings whose account is not in the loaded chart. -#}
{% macro account_type_of_role(role) -%}
    case {{ role }}
        when 'accounts_receivable' then 'Accounts Receivable'
        when 'accounts_payable' then 'Accounts Payable'
        when 'income' then 'Income'
        when 'sales_tax' then 'Other Current Liability'
        when 'deposit_to' then 'Other Current Asset'
        when 'refund_from' then 'Other Current Asset'
    end
{%- endmacro %}
