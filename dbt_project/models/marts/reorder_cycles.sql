{#- One row per (company, product) the company has ordered in a valid order before
    var('as_of_date'): how often it reorders the product (the median of the days between
    consecutive orders of it), when the next order is expected (last order + that interval),
    and whether the reorder window is open for outreach: from var('reorder_window_lead_days')
    (7) before the expected date until one more interval after it (later, the cycle has
    lapsed). A cycle needs var('reorder_min_orders') (3) orders of the product. -#}

{%- set as_of = as_of_timestamp() %}

with

company_orders as (

    select
        order_key,
        company_key,
        ordered_at
    from {{ ref('orders') }}
    where is_valid and company_key is not null and ordered_at < {{ as_of }}

),

lines as (

    select * from {{ ref('int_order_lines_unnested') }}
    where product_key is not null

),

product_orders as (

    select
        company_orders.company_key,
        lines.product_key,
        company_orders.order_key,
        company_orders.ordered_at,
        sum(lines.quantity) as quantity
    from company_orders
    inner join lines on company_orders.order_key = lines.order_key
    group by company_orders.company_key, lines.product_key, company_orders.order_key, company_orders.ordered_at

),

intervals as (

    select
        *,
        {{ days_between(
            'lag(ordered_at) over (partition by company_key, product_key order by ordered_at, order_key)',
            'ordered_at',
        ) }} as days_since_previous_order
    from product_orders

),

cycles as (

    select
        company_key,
        product_key,
        count(*) as count_orders,
        sum(quantity) as total_quantity,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        percentile_cont(0.5) within group (order by days_since_previous_order) as median_interval_days
    from intervals
    group by company_key, product_key

),

scheduled as (

    select
        *,
        case
            when count_orders >= {{ var('reorder_min_orders') | int }} and median_interval_days > 0
                then cast(round(median_interval_days) as {{ dbt.type_int() }})
        end as typical_interval_days
    from cycles

),

final as (

    select
        -- ids
        {{ dbt.concat(['company_key', "':'", 'product_key']) }} as reorder_cycle_key,
        company_key,
        product_key,

        -- numerics
        count_orders,
        total_quantity,
        typical_interval_days,

        -- booleans
        coalesce(
            {{ as_of }} >= {{ dbt.dateadd(
                'day', 'typical_interval_days - ' ~ (var('reorder_window_lead_days') | int), 'last_ordered_at'
            ) }}
            and {{ as_of }} < {{ dbt.dateadd('day', '2 * typical_interval_days', 'last_ordered_at') }},
            false
        ) as is_reorder_window_open,

        -- timestamps
        first_ordered_at,
        last_ordered_at,
        {{ dbt.dateadd('day', 'typical_interval_days', 'last_ordered_at') }} as next_expected_order_at,
        {{ as_of }} as as_of_at

    from scheduled

)

select * from final
