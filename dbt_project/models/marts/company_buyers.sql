{#- One row per (company, person) buying for it: people linked to the company in
    company_contacts (any role) and people who placed orders for it, with their valid orders
    and net revenue for that company. The lowest level of the B2B hierarchy. -#}

with

contacts as (

    select
        contacts.company_key,
        persons.person_id,
        contacts.contact_role
    from {{ ref('stg_store__company_contacts') }} as contacts
    inner join {{ ref('identity_map') }} as persons
        on persons.record_type = 'customer' and contacts.customer_key = persons.source_key
    inner join {{ ref('companies') }} as companies on contacts.company_key = companies.company_key

),

company_orders as (

    select
        orders.company_key,
        orders.person_id,
        sum(case when orders.is_valid then 1 else 0 end) as count_orders,
        sum(orders.net_revenue) as total_revenue,
        max(case when orders.is_valid then orders.ordered_at end) as last_order_at
    from {{ ref('orders') }} as orders
    inner join {{ ref('companies') }} as companies on orders.company_key = companies.company_key
    where orders.person_id is not null
    group by orders.company_key, orders.person_id

),

contact_roles as (

    select
        company_key,
        person_id,
        {{ dbt.listagg('distinct contact_role', "';'", 'order by contact_role') }} as contact_roles
    from contacts
    group by company_key, person_id

),

links as (

    select
        company_key,
        person_id
    from contact_roles
    union
    select
        company_key,
        person_id
    from company_orders

),

final as (

    select
        -- ids
        {{ dbt.concat(['links.company_key', "':'", 'links.person_id']) }} as company_buyer_key,
        links.company_key,
        links.person_id,

        -- text
        coalesce(contact_roles.contact_roles, '') as contact_roles,

        -- numerics
        coalesce(company_orders.count_orders, 0) as count_orders,
        coalesce(company_orders.total_revenue, 0) as total_revenue,

        -- booleans
        contact_roles.person_id is not null as is_company_contact,

        -- timestamps
        company_orders.last_order_at

    from links
    left join contact_roles
        on links.company_key = contact_roles.company_key and links.person_id = contact_roles.person_id
    left join company_orders
        on links.company_key = company_orders.company_key and links.person_id = company_orders.person_id

)

select * from final
