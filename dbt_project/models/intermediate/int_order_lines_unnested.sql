{#- One row per line item of an order (the orders stream carries them as a JSON array).

    Incremental (delete+insert on order_key; DECISIONLOG.md "Incremental builds"): a run
    rewrites every line of the orders staging rewrote since it last ran. An order rewritten
    without lines (none left, or no array) is written as a null row, deleted by the post-hook,
    so its old lines go. -#}

{{ config(
    materialized='incremental',
    unique_key='order_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where order_line_key is null",
) }}

with

orders as (

    select
        order_key,
        platform,
        store_id,
        line_items
    from {{ ref('stg_store__orders') }}
    {%- if is_incremental() %}
    where transformed_at > {{ previous_run_marker() }}
    {%- else %}
    where line_items is not null
    {%- endif %}

),

unnested as (

    select
        orders.order_key,
        orders.platform,
        orders.store_id,
        {{ json_text('line.value', 'id') }} as line_id,
        {{ json_text('line.value', 'product_id') }} as product_id,
        {{ json_text('line.value', 'sku') }} as sku,
        cast({{ json_text('line.value', 'quantity') }} as {{ dbt.type_numeric() }}) as quantity,
        cast({{ json_text('line.value', 'price') }} as {{ dbt.type_numeric() }}) as unit_price,
        cast({{ json_text('line.value', 'total') }} as {{ dbt.type_numeric() }}) as line_total,
        {{ dbt.hash('cast(line.value as ' ~ dbt.type_string() ~ ')') }} as line_hash
    from orders
    {{ join_json_array_elements('orders.line_items', 'line') }}
    where orders.line_items is not null

),

final as (

    select
        -- ids
        {{ dbt.concat(['order_key', "':'", 'coalesce(line_id, line_hash)']) }} as order_line_key,
        order_key,
        line_id,
        {{ store_key('product_id') }} as product_key,

        -- text
        sku,

        -- numerics
        quantity,
        unit_price,
        line_total,

        -- timestamps
        {{ run_marker() }} as transformed_at

    from unnested
    {%- if is_incremental() %}

    -- a rewritten order left without lines: a null row that deletes its old lines
    union all

    select
        cast(null as {{ dbt.type_string() }}) as order_line_key,
        orders.order_key,
        cast(null as {{ dbt.type_string() }}) as line_id,
        cast(null as {{ dbt.type_string() }}) as product_key,
        cast(null as {{ dbt.type_string() }}) as sku,
        cast(null as {{ dbt.type_numeric() }}) as quantity,
        cast(null as {{ dbt.type_numeric() }}) as unit_price,
        cast(null as {{ dbt.type_numeric() }}) as line_total,
        {{ run_marker() }} as transformed_at
    from orders
    where not exists (select 1 from unnested where unnested.order_key = orders.order_key)
    {%- endif %}

)

select * from final
