{#- Layers land in schemas named after them (staging, intermediate, marts, crm), not
    "<target schema>_<layer>", so the mart reader and Airbyte-style tooling find fixed names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
