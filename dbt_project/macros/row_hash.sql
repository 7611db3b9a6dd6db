{#- md5 of the given columns, "|"-separated, nulls spelled "\N" so null and '' differ.
    Timestamps are hashed as UTC text so the hash does not depend on the session time zone. -#}
{% macro row_hash(columns, timestamp_columns=[]) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- if column in timestamp_columns -%}
            {%- set text = "case when " ~ column ~ " is not null then " ~ sortable_timestamp(column) ~ " end" -%}
        {%- else -%}
            {%- set text = "cast(" ~ column ~ " as " ~ dbt.type_string() ~ ")" -%}
        {%- endif -%}
        {%- do parts.append("coalesce(" ~ text ~ ", '\\N')") -%}
        {%- if not loop.last -%}{%- do parts.append("'|'") -%}{%- endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
