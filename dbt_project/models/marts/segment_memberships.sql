{#- One row per (person, segment) the person is in now. Segments:
    loyal: var('loyal_min_orders') (3) or more valid (not cancelled, voided, failed or rejected) orders. -#}

with

customers as (

    select * from {{ ref('dim_customers') }}

),

loyal as (

    select
        person_id,
        'loyal' as segment_name,
        last_order_at as qualified_at
    from customers
    where count_orders >= {{ var('loyal_min_orders') | int }}

),

memberships as (

    select * from loyal

),

final as (

    select
        {{ dbt.concat(['person_id', "':'", 'segment_name']) }} as segment_membership_key,
        person_id,
        segment_name,
        qualified_at
    from memberships

)

select * from final
