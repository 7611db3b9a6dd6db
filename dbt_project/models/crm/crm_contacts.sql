{#- One row per person with an email, as sent to the CRM (contact object). -#}

{%- set hashed_columns = [
    'external_id', 'email', 'first_name', 'last_name', 'phone', 'city', 'country',
    'accepts_marketing', 'is_registered', 'count_orders', 'total_revenue', 'first_order_at',
    'last_order_at', 'segments', 'company_external_id',
] %}

with

customers as (

    select * from {{ ref('dim_customers') }}
    where email is not null

),

segment_memberships as (

    select * from {{ ref('segment_memberships') }}

),

crm_companies as (

    select external_id from {{ ref('crm_companies') }}

),

segments as (

    select
        person_id,
        {{ dbt.listagg('segment_name', "';'", 'order by segment_name') }} as segments
    from segment_memberships
    group by person_id

),

shaped as (

    select
        {{ crm_text('customers.person_id') }} as external_id,
        {{ crm_text('customers.email') }} as email,
        {{ crm_text('customers.first_name') }} as first_name,
        {{ crm_text('customers.last_name') }} as last_name,
        {{ crm_text('customers.phone') }} as phone,
        {{ crm_text('customers.city') }} as city,
        {{ crm_text('customers.country') }} as country,
        -- no recorded consent means no marketing
        coalesce(customers.has_marketing_consent, false) as accepts_marketing,
        customers.is_registered,
        {{ crm_count('customers.count_orders') }} as count_orders,
        {{ crm_money('customers.total_revenue') }} as total_revenue,
        {{ crm_timestamp('customers.first_order_at') }} as first_order_at,
        {{ crm_timestamp('customers.last_order_at') }} as last_order_at,
        {{ crm_text("coalesce(segments.segments, '')") }} as segments,
        {{ crm_text('crm_companies.external_id') }} as company_external_id,
        {{ crm_timestamp('customers.updated_at') }} as updated_at
    from customers
    left join segments on customers.person_id = segments.person_id
    left join crm_companies on customers.company_key = crm_companies.external_id

),

final as (

    select
        *,
        {{ crm_text(row_hash(hashed_columns, timestamp_columns=['first_order_at', 'last_order_at'])) }} as row_hash
    from shaped

)

select * from final
