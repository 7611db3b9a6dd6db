{#- Text value of a top-level key of a JSON object column. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'store2crm')(column, key)) }}
{%- endmacro %}

{% macro postgres__json_text(column, key) -%}
    {{ column }} ->> '{{ key }}'
{%- endmacro %}

{% macro duckdb__json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}

{#- A join clause that turns each element of a JSON array column into a row, exposed as
    <alias>.value (JSON). Rows whose array is null or empty produce no rows. PostgreSQL: the
    column may be json or jsonb (Airbyte's Postgres destination writes jsonb); anything that is
    not an array (a JSON null, an object) produces no rows, as on DuckDB. -#}
{% macro join_json_array_elements(column, alias) -%}
    {{ return(adapter.dispatch('join_json_array_elements', 'store2crm')(column, alias)) }}
{%- endmacro %}

{% macro postgres__join_json_array_elements(column, alias) -%}
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(cast({{ column }} as jsonb)) = 'array' then cast({{ column }} as jsonb) end
    ) as {{ alias }} (value)
{%- endmacro %}

{% macro duckdb__join_json_array_elements(column, alias) -%}
    cross join unnest(cast(json_extract({{ column }}, '$[*]') as json [])) as {{ alias }} (value)
{%- endmacro %}
