{#- The default account of a role for a transaction, or null. realm_col and currency_col must be
    qualified with their table's alias (an unqualified name would resolve inside the subquery). -#}
{% macro default_account(role, realm_col, currency_col) -%}
    (select d.account_id
     from {{ ref('int_qbo__default_accounts') }} as d
     where d.realm_id = {{ realm_col }}
       and d.role = '{{ role }}'
       and (d.currency is null or d.currency = {{ currency_col }})
     order by (d.currency = {{ currency_col }}) desc nulls last
     limit 1)
{%- endmacro %}
