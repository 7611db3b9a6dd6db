{#- Text value of a top-level key of a JSON object column. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'store2crm')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    {{ column }} ->> '{{ key }}'
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- A join clause that turns each element of a JSON array column into a row, exposed as
    <alias>.value (JSON). Rows whose array is null or empty produce no rows. -#}
{% macro join_json_array_elements(column, alias) -%}
    {{ return(adapter.dispatch('join_json_array_elements', 'store2crm')(column, alias)) }}
{%- endmacro %}

{% macro default__join_json_array_elements(column, alias) -%}
    cross join lateral json_array_elements({{ column }}) as {{ alias }} (value)
{%- endmacro %}

{% macro duckdb__join_json_array_elements(column, alias) -%}
    cross join unnest(cast(json_extract({{ column }}, '$[*]') as json [])) as {{ alias }} (value)
{%- endmacro %}
