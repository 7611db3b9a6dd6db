{#- Column types of the CRM export contract (docs/contracts.md): money DECIMAL(18,2),
    counts INTEGER, times TIMESTAMPTZ. -#}
{% macro crm_money(column) -%}
    cast(round({{ column }}, 2) as decimal(18, 2))
{%- endmacro %}

{% macro crm_count(column) -%}
    cast({{ column }} as {{ dbt.type_int() }})
{%- endmacro %}

{% macro crm_text(column) -%}
    cast({{ column }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro crm_timestamp(column) -%}
    cast({{ column }} as timestamp with time zone)
{%- endmacro %}
