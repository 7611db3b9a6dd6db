{#- One row per (person, product category) the person bought in: their share of spend in it
    over valid orders, and its rank among their categories (1 = the category they favour). -#}

with

valid_orders as (

    select
        order_key,
        person_id
    from {{ ref('orders') }}
    where is_valid and person_id is not null

),

lines as (

    select
        order_key,
        product_key,
        line_total
    from {{ ref('int_order_lines_unnested') }}

),

products as (

    select
        product_key,
        category
    from {{ ref('stg_store__products') }}

),

category_spend as (

    select
        valid_orders.person_id,
        coalesce(products.category, 'uncategorised') as category,
        count(distinct valid_orders.order_key) as count_orders,
        sum(coalesce(lines.line_total, 0)) as category_spend
    from lines
    inner join valid_orders on lines.order_key = valid_orders.order_key
    left join products on lines.product_key = products.product_key
    group by valid_orders.person_id, coalesce(products.category, 'uncategorised')

),

ranked as (

    select
        person_id,
        category,
        count_orders,
        category_spend,
        category_spend
        / nullif(sum(category_spend) over (partition by person_id), 0) as spend_share,
        row_number() over (
            partition by person_id order by category_spend desc nulls last, count_orders desc nulls last, category asc
        ) as affinity_rank
    from category_spend

),

final as (

    select
        -- ids
        {{ dbt.concat(['person_id', "':'", 'category']) }} as customer_category_key,
        person_id,

        -- text
        category,

        -- numerics
        cast(count_orders as {{ dbt.type_int() }}) as count_orders,
        category_spend,
        coalesce(spend_share, 0) as spend_share,
        cast(affinity_rank as {{ dbt.type_int() }}) as affinity_rank,

        -- booleans
        affinity_rank = 1 as is_top_category

    from ranked

)

select * from final
