{#- One row per order, as sent to the CRM (deal object). Stage: lost when the order is
    cancelled, voided, failed, fully refunded or its B2B approval was rejected; won when paid
    (partially refunded still counts as won); open otherwise (pending, authorized, unknown). -#}

{%- set hashed_columns = [
    'external_id', 'deal_name', 'amount', 'currency', 'stage', 'order_status', 'created_at',
    'closed_at', 'contact_external_id', 'company_external_id',
] %}

with

orders as (

    select * from {{ ref('orders') }}

),

crm_contacts as (

    select external_id from {{ ref('crm_contacts') }}

),

crm_companies as (

    select external_id from {{ ref('crm_companies') }}

),

staged as (

    select
        orders.*,
        crm_contacts.external_id as contact_external_id,
        crm_companies.external_id as company_external_id,
        case
            when not orders.is_valid then 'lost'
            when orders.financial_status in ('paid', 'partially_refunded') then 'won'
            else 'open'
        end as stage
    from orders
    left join crm_contacts on orders.person_id = crm_contacts.external_id
    left join crm_companies on orders.company_key = crm_companies.external_id

),

shaped as (

    select
        {{ crm_text('order_key') }} as external_id,
        {{ crm_text(dbt.concat(["'Order #'", 'coalesce(order_number, order_id)'])) }} as deal_name,
        {{ crm_money('coalesce(total, 0) - refunded_amount') }} as amount,
        {{ crm_text('currency') }} as currency,
        {{ crm_text('stage') }} as stage,
        {{ crm_text("case when is_cancelled then 'cancelled' else coalesce(financial_status, 'unknown') end") }}
            as order_status,
        {{ crm_timestamp('ordered_at') }} as created_at,
        {{ crm_timestamp(
            "case
                when stage = 'won' then ordered_at
                when stage = 'lost' then coalesce(cancelled_at, last_refunded_at, updated_at)
            end"
        ) }} as closed_at,
        {{ crm_text('contact_external_id') }} as contact_external_id,
        {{ crm_text('company_external_id') }} as company_external_id,
        {{ crm_timestamp('updated_at') }} as updated_at
    from staged

),

final as (

    select
        *,
        {{ crm_text(row_hash(hashed_columns, timestamp_columns=['created_at', 'closed_at'])) }} as row_hash
    from shaped

)

select * from final
