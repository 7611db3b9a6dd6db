{#- One row per B2B company, as sent to the CRM (company object). -#}

{%- set hashed_columns = [
    'external_id', 'name', 'domain', 'parent_external_id', 'price_tier', 'credit_limit',
    'credit_used', 'payment_terms', 'count_orders', 'total_revenue',
] %}

with

companies as (

    select * from {{ ref('companies') }}

),

shaped as (

    select
        {{ crm_text('company_key') }} as external_id,
        {{ crm_text('company_name') }} as name,
        {{ crm_text('domain') }} as domain,
        {{ crm_text('parent_company_key') }} as parent_external_id,
        {{ crm_text('price_tier') }} as price_tier,
        {{ crm_money('credit_limit') }} as credit_limit,
        {{ crm_money('credit_used') }} as credit_used,
        {{ crm_text('payment_terms') }} as payment_terms,
        {{ crm_count('count_orders') }} as count_orders,
        {{ crm_money('total_revenue') }} as total_revenue,
        {{ crm_timestamp('updated_at') }} as updated_at
    from companies

),

final as (

    select
        *,
        {{ crm_text(row_hash(hashed_columns)) }} as row_hash
    from shaped

)

select * from final
