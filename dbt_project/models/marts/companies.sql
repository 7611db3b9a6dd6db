{#- One row per B2B company, with its parent (null when the parent is not in the data or would
    be the company itself) and the valid orders and contacts booked to it. -#}

with

companies as (

    select * from {{ ref('stg_store__companies') }}

),

order_facts as (

    select * from {{ ref('orders') }}

),

company_contacts as (

    select * from {{ ref('stg_store__company_contacts') }}

),

order_totals as (

    select
        company_key,
        count(*) as count_orders,
        sum(net_revenue) as total_revenue,
        max(ordered_at) as last_order_at
    from order_facts
    where is_valid and company_key is not null
    group by company_key

),

contact_counts as (

    select
        company_key,
        count(distinct customer_key) as count_contacts
    from company_contacts
    where company_key is not null
    group by company_key

),

final as (

    select
        -- ids
        companies.company_key,
        companies.platform,
        companies.store_id,
        companies.company_id,
        parents.company_key as parent_company_key,

        -- text
        companies.company_name,
        companies.domain,
        companies.price_tier,
        companies.payment_terms,

        -- numerics
        companies.credit_limit,
        companies.credit_used,
        coalesce(order_totals.count_orders, 0) as count_orders,
        coalesce(order_totals.total_revenue, 0) as total_revenue,
        coalesce(contact_counts.count_contacts, 0) as count_contacts,

        -- timestamps
        order_totals.last_order_at,
        companies.created_at,
        companies.updated_at

    from companies
    left join companies as parents
        on
            companies.parent_company_key = parents.company_key
            and companies.company_key != parents.company_key
    left join order_totals on companies.company_key = order_totals.company_key
    left join contact_counts on companies.company_key = contact_counts.company_key

)

select * from final
