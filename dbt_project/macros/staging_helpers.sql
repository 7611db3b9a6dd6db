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
