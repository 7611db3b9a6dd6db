-- Orders and revenue agree from staging to marts to CRM exports: every order is one deal,
-- and the valid orders and net revenue of people sum to what dim_customers and crm_contacts hold.
with

staged_orders as (

    select count(*) as count_orders
    from {{ ref('stg_store__orders') }}

),

deals as (

    select count(*) as count_orders
    from {{ ref('crm_deals') }}

),

order_facts as (

    select
        count(*) as count_orders,
        coalesce(sum(net_revenue), 0) as total_revenue
    from {{ ref('orders') }}
    where is_valid and person_id is not null

),

customers as (

    select
        coalesce(sum(count_orders), 0) as count_orders,
        coalesce(sum(total_revenue), 0) as total_revenue
    from {{ ref('dim_customers') }}

),

contacts as (

    select
        coalesce(sum(count_orders), 0) as count_orders,
        coalesce(sum(total_revenue), 0) as total_revenue
    from {{ ref('crm_contacts') }}

)

select
    'deals' as layer,
    staged_orders.count_orders as expected_orders,
    deals.count_orders as actual_orders
from staged_orders
cross join deals
where staged_orders.count_orders != deals.count_orders

union all

select
    'dim_customers' as layer,
    order_facts.count_orders as expected_orders,
    customers.count_orders as actual_orders
from order_facts
cross join customers
where
    order_facts.count_orders != customers.count_orders
    or abs(order_facts.total_revenue - customers.total_revenue) > 0.005

union all

select
    'crm_contacts' as layer,
    customers.count_orders as expected_orders,
    contacts.count_orders as actual_orders
from customers
cross join contacts
-- contacts are the customers with an email: they can hold less, never more
where
    contacts.count_orders > customers.count_orders
    or contacts.total_revenue > customers.total_revenue + 0.005
