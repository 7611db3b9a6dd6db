{#- Rank of a raw row within its primary key (platform, store_id, id): 1 = the version to keep.
    Latest cursor first, then latest extraction, then the raw id as a deterministic tie-break. -#}
{% macro latest_version_rank(cursor_field) -%}
    row_number() over (
        partition by platform, store_id, id
        order by
            {{ cursor_field }} desc nulls last,
            _airbyte_extracted_at desc nulls last,
            _airbyte_raw_id desc nulls last
    )
{%- endmacro %}

{#- Canonical key of a record: "<platform>:<store_id>:<native id>" (null when the native id is null). -#}
{% macro store_key(id_column, platform_column='platform', store_column='store_id') -%}
    case
        when {{ id_column }} is not null
            then {{ dbt.concat([platform_column, "':'", store_column, "':'", id_column]) }}
    end
{%- endmacro %}

{#- A column of a raw table that not every warehouse has: the raw layer adds a column to an
    existing table when the canonical schema gains a property, so a warehouse extracted before
    (or an Airbyte destination that has not synced since) lacks it. The column when the raw table
    has it, otherwise a null of `column_type`: staging builds either way, and the column fills in
    from the next extraction on. -#}
{% macro source_column_or_null(source_name, table_name, column_name, column_type) -%}
    {%- if source_has_column(source_name, table_name, column_name) -%}
        {{ column_name }}
    {%- else -%}
        cast(null as {{ column_type }})
    {%- endif -%}
{%- endmacro %}

{#- Whether the warehouse's source table has a column (case-insensitive). True while parsing and
    in a dbt unit test, where the source is the test's fixture: a unit test of a model that reads
    such a column gives the fixture as `format: sql` with the column (a dict fixture takes the
    warehouse table's columns, which an older raw layer lacks). -#}
{% macro source_has_column(source_name, table_name, column_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or relation.is_cte -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {{- return(column_name | lower in names) -}}
{%- endmacro %}
