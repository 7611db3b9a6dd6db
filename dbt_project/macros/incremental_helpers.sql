{#- Incremental bookkeeping (DECISIONLOG.md "Incremental builds").

    Every incremental model of the identity chain stamps the rows it (re)writes with
    transformed_at = the start of the dbt run, so the models after it know which of its rows
    changed since they last ran: rows with transformed_at after their own latest one. -#}

{#- The start of this dbt run, the transformed_at of every row a model writes in it. -#}
{% macro run_marker() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamp with time zone)
{%- endmacro %}

{#- The latest transformed_at of this model's rows (the run that last wrote it), as a scalar
    subquery; a very old moment when the table is empty. -#}
{% macro previous_run_marker() -%}
    (
        select coalesce(max(transformed_at), cast('1900-01-01 00:00:00+00' as timestamp with time zone))
        from {{ this }}
    )
{%- endmacro %}

{#- The extraction moment from which raw rows are re-read: the latest extraction already staged
    minus var('incremental_lookback_hours') (rows of a sync that committed after a later one
    started), as a scalar subquery; a very old moment when the table is empty. -#}
{% macro staging_cutoff() -%}
    (
        select
            coalesce(
                {{ dbt.dateadd('hour', -1 * (var('incremental_lookback_hours') | int), 'max(extracted_at)') }},
                cast('1900-01-01 00:00:00+00' as timestamp with time zone)
            )
        from {{ this }}
    )
{%- endmacro %}

{#- Raw rows to (re)consider in an incremental staging run: every version of each primary key
    (platform, store_id, id) that has a version extracted after staging_cutoff() and not already
    the kept one, so the dedupe sees all versions of a key it touches and the lookback window
    costs a scan, not a rewrite. -#}
{% macro recent_versions_filter(source_relation) -%}
    exists (
        select 1
        from {{ source_relation }} as recent
        left join {{ this }} as kept on recent._airbyte_raw_id = kept.raw_id
        where
            recent._airbyte_extracted_at > {{ staging_cutoff() }}
            and kept.raw_id is null
            and recent.platform = versions.platform
            and recent.store_id = versions.store_id
            and recent.id = versions.id
    )
{%- endmacro %}

{#- Pre-hook of every model (dbt_project.yml), a no-op except on an incremental run: the
    existing table must have exactly the columns the model's YAML documents. A table built by an
    older version of the project would otherwise fail deep inside the model's SQL with an
    engine error (a column "not found", "WHERE clause cannot contain aggregates"), or have a new
    column silently left null. Fails with the columns that differ and the command that rebuilds
    it. An undocumented model (no YAML columns) is not checked. -#}
{% macro incremental_schema_guard() -%}
    {%- if execute and model.resource_type == 'model' and is_incremental() -%}
        {%- set documented = model.columns.keys() | map('lower') | list -%}
        {%- if documented | length > 0 -%}
            {%- set existing = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
            {%- set missing = documented | reject('in', existing) | list -%}
            {%- set unexpected = existing | reject('in', documented) | list -%}
            {%- if missing or unexpected -%}
                {{ exceptions.raise_compiler_error(
                    "Incremental model " ~ model.name ~ ": the existing table " ~ this
                    ~ " was built by another version of the project (columns missing from it: "
                    ~ (missing | join(', ') or 'none') ~ "; columns the model no longer has: "
                    ~ (unexpected | join(', ') or 'none') ~ "). Rebuild the incremental models once: "
                    ~ "`store2crm transform --full-refresh` or `dbt build --full-refresh` "
                    ~ "(or only this model and what depends on it: "
                    ~ "`dbt build --full-refresh --select " ~ model.name ~ "+`)."
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
