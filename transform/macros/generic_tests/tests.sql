{#- The columns together identify one row (a composite key such as realm_id + id). -#}
{% test unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{#-
  Every non-null reference names a row of `to` in the same company. Checked for the companies
  whose `to` list is loaded (a company whose list is not loaded yet cannot be checked).
-#}
{% test references_in_realm(model, column_name, to, field) %}
select child.realm_id, child.{{ column_name }}
from {{ model }} as child
where child.{{ column_name }} is not null
  and exists (select 1 from {{ to }} as any_parent where any_parent.realm_id = child.realm_id)
  and not exists (
      select 1 from {{ to }} as parent
      where parent.realm_id = child.realm_id and parent.{{ field }} = child.{{ column_name }}
  )
{% endtest %}

{#- The amounts of every group add up to zero (to the cent). -#}
{% test nets_to_zero(model, column_name, group_by) %}
select {{ group_by | join(', ') }}, sum({{ column_name }}) as total
from {{ model }}
group by {{ group_by | join(', ') }}
having sum({{ column_name }}) <> 0
{% endtest %}
