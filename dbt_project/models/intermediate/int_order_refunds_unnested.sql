{#- One row per refund of an order (the orders stream carries refunds as a JSON array). -#}

with

orders as (

    select
        order_key,
        refunds
    from {{ ref('stg_store__orders') }}
    where refunds is not null

),

unnested as (

    select
        orders.order_key,
        {{ json_text('refund.value', 'id') }} as refund_id,
        cast({{ json_text('refund.value', 'amount') }} as {{ dbt.type_numeric() }}) as refund_amount,
        {{ json_text('refund.value', 'reason') }} as refund_reason,
        cast({{ json_text('refund.value', 'created_at') }} as timestamp with time zone) as refunded_at,
        {{ dbt.hash('cast(refund.value as ' ~ dbt.type_string() ~ ')') }} as refund_hash
    from orders
    {{ join_json_array_elements('orders.refunds', 'refund') }}

),

final as (

    select
        {{ dbt.concat(['order_key', "':'", 'coalesce(refund_id, refund_hash)']) }} as refund_key,
        order_key,
        refund_id,
        refund_reason,
        refund_amount,
        refunded_at
    from unnested

)

select * from final
