{#- One row per line item of an order (the orders stream carries them as a JSON array). -#}

with

orders as (

    select
        order_key,
        platform,
        store_id,
        line_items
    from {{ ref('stg_store__orders') }}
    where line_items is not null

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
        line_total

    from unnested

)

select * from final
