{#- One row per person with a valid order before var('as_of_date'): RFM quintile scores.
    Each score is the quintile of the person's percent rank among those customers
    (1 = lowest, 5 = highest): recency by last order date (5 = most recent), frequency by valid
    orders, monetary by net revenue. Ties share a score. spend_rank_share is the share of
    customers who spent more (0 = top spender), the basis of the VIP segment. -#}

with

features as (

    select * from {{ ref('int_customer_features_computed') }}

),

ranked as (

    select
        person_id,
        count_orders,
        total_revenue,
        last_order_at,
        days_since_last_order,
        as_of_at,
        percent_rank() over (order by last_order_at) as recency_rank,
        percent_rank() over (order by count_orders) as frequency_rank,
        percent_rank() over (order by total_revenue) as monetary_rank,
        percent_rank() over (order by total_revenue desc nulls last) as spend_rank_share
    from features

),

final as (

    select
        -- ids
        person_id,

        -- numerics
        least(5, 1 + cast(floor(5 * recency_rank) as {{ dbt.type_int() }})) as recency_score,
        least(5, 1 + cast(floor(5 * frequency_rank) as {{ dbt.type_int() }})) as frequency_score,
        least(5, 1 + cast(floor(5 * monetary_rank) as {{ dbt.type_int() }})) as monetary_score,
        spend_rank_share,
        count_orders,
        total_revenue,
        days_since_last_order,

        -- timestamps
        last_order_at,
        as_of_at

    from ranked

)

select
    *,
    {{ dbt.concat([
        'cast(recency_score as ' ~ dbt.type_string() ~ ')',
        'cast(frequency_score as ' ~ dbt.type_string() ~ ')',
        'cast(monetary_score as ' ~ dbt.type_string() ~ ')',
    ]) }} as rfm_cell
from final
