{#- Typed reads from a QuickBooks JSON object. `obj` is a jsonb expression. -#}

{#- A reference's id ({"value": "42", "name": "..."}). -#}
{% macro ref_id(obj, key) -%}
    nullif({{ obj }} -> '{{ key }}' ->> 'value', '')
{%- endmacro %}

{#- A money or quantity field as numeric (QuickBooks writes 12.5, 12.50 or "12.50"). -#}
{% macro num(obj, key) -%}
    nullif({{ obj }} ->> '{{ key }}', '')::numeric
{%- endmacro %}

{% macro dt(obj, key) -%}
    nullif({{ obj }} ->> '{{ key }}', '')::date
{%- endmacro %}

{% macro ts(obj, key) -%}
    nullif({{ obj }} ->> '{{ key }}', '')::timestamptz
{%- endmacro %}

{% macro bool(obj, key) -%}
    nullif({{ obj }} ->> '{{ key }}', '')::boolean
{%- endmacro %}

{#- The columns every transaction header shares. -#}
{% macro txn_header_columns(p='payload') -%}
    nullif({{ p }} ->> 'DocNumber', '') as doc_number,
    {{ dt(p, 'TxnDate') }} as transaction_date,
    coalesce({{ ref_id(p, 'CurrencyRef') }}, home.home_currency) as currency,
    coalesce({{ num(p, 'ExchangeRate') }}, 1) as exchange_rate,
    {{ num(p, 'TotalAmt') }} as total_amount,
    {{ ref_id(p, 'ClassRef') }} as class_id,
    {{ ref_id(p, 'DepartmentRef') }} as department_id,
    nullif({{ p }} ->> 'PrivateNote', '') as private_note,
    {{ ts(p + " -> 'MetaData'", 'CreateTime') }} as created_at,
    {{ ts(p + " -> 'MetaData'", 'LastUpdatedTime') }} as updated_at
{%- endmacro %}

{#- Join the company's home currency (from Preferences; raw rows alias `r`). -#}
{% macro join_home_currency(alias='r') -%}
    left join {{ ref('stg_qbo__home_currency') }} as home on home.realm_id = {{ alias }}.realm_id
{%- endmacro %}
