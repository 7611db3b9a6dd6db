{#- dbt unit tests compare the actual and expected rows as text. A PostgreSQL numeric without a
    declared scale keeps the scale of its computation (30 - 0 is 30.000000000 when the input was
    numeric(38,9)), while the expected value cast to that type keeps the scale it was written
    with (30), so equal numbers would differ. On PostgreSQL every numeric column of a unit test
    is compared scale-trimmed (trim_scale: 30.000000000 -> 30, 0.9820 -> 0.982) on both sides;
    DuckDB casts both sides to one declared decimal type and keeps dbt's comparison.
    Overrides dbt's dispatched get_unit_test_sql for the postgres adapter only. -#}
{% macro postgres__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
    {%- set numeric_columns = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_column_schema_from_query(get_empty_subquery_sql(main_sql)) -%}
            {%- if column.is_numeric() -%}
                {%- do numeric_columns.append(column.quoted | lower) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set compared = [] -%}
    {%- for name in expected_column_names -%}
        {%- if name | lower in numeric_columns -%}
            {%- do compared.append('trim_scale(' ~ name ~ ') as ' ~ name) -%}
        {%- else -%}
            {%- do compared.append(name) -%}
        {%- endif -%}
    {%- endfor %}
with dbt_internal_unit_test_actual as (
    select
        {{ compared | join(', ') }},
        {{ dbt.string_literal('actual') }} as {{ adapter.quote('actual_or_expected') }}
    from (
        {{ main_sql }}
    ) as _dbt_internal_unit_test_actual
),

dbt_internal_unit_test_expected as (
    select
        {{ compared | join(', ') }},
        {{ dbt.string_literal('expected') }} as {{ adapter.quote('actual_or_expected') }}
    from (
        {{ expected_fixture_sql }}
    ) as _dbt_internal_unit_test_expected
)

select * from dbt_internal_unit_test_actual
union all
select * from dbt_internal_unit_test_expected
{%- endmacro %}
