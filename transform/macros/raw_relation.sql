{#- A table or view of the raw schema, or none when it does not exist (e.g. report line views). -#}
{% macro raw_relation(name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(database=target.database, schema=var('raw_schema', 'raw'), identifier=name)) }}
{%- endmacro %}
