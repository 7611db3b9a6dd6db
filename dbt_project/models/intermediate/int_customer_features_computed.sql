{#- One row per person with at least one valid order before var('as_of_date'): the
    recency / frequency / monetary summary that RFM, segments and the scores are built on.
    Order status and refunds are taken as they are now (the store sends no status history). -#}

{%- set as_of = as_of_timestamp() %}

with

valid_orders as (

    select
        person_id,
        order_key,
        ordered_at,
        net_revenue,
        row_number() over (partition by person_id order by ordered_at, order_key) as order_sequence
    from {{ ref('orders') }}
    where
        is_valid
        and person_id is not null
        and ordered_at < {{ as_of }}

),

summarized as (

    select
        person_id,
        count(*) as count_orders,
        sum(net_revenue) as total_revenue,
        avg(net_revenue) as avg_order_value,
        avg(case when order_sequence > 1 then net_revenue end) as avg_repeat_order_value,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        max(
            case when order_sequence = {{ segment_setting('loyal', 'min_orders') | int }} then ordered_at end
        ) as loyal_qualified_at
    from valid_orders
    group by person_id

),

final as (

    select
        -- ids
        person_id,

        -- numerics
        count_orders,
        count_orders - 1 as count_repeat_orders,
        total_revenue,
        avg_order_value,
        avg_repeat_order_value,
        {{ days_between('last_order_at', as_of) }} as days_since_last_order,
        {{ days_between('first_order_at', 'last_order_at') }} as repeat_span_days,
        {{ days_between('first_order_at', as_of) }} as tenure_days,

        -- timestamps
        first_order_at,
        last_order_at,
        loyal_qualified_at,
        {{ as_of }} as as_of_at

    from summarized

)

select * from final
