{#- One row per order (latest version), tied to its person, with refunds netted out.
    is_valid: not cancelled, voided, failed, fully refunded or rejected (B2B approval).

    Incremental (delete+insert on order_key; DECISIONLOG.md "Incremental builds"): a run
    rewrites the orders staging or identity resolution rewrote since it last ran. -#}

{{ config(
    materialized='incremental',
    unique_key='order_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

orders as (

    select * from {{ ref('stg_store__orders') }}
    {%- if is_incremental() %}
    where
        transformed_at > {{ previous_run_marker() }}
        or order_key in (
            select resolved.source_key
            from {{ ref('int_persons_resolved') }} as resolved
            where resolved.record_type = 'order' and resolved.transformed_at > {{ previous_run_marker() }}
        )
    {%- endif %}

),

refunds as (

    select
        order_key,
        sum(refund_amount) as refunded_amount,
        max(refunded_at) as last_refunded_at
    from {{ ref('int_order_refunds_unnested') }}
    group by order_key

),

persons as (

    select
        source_key as order_key,
        person_id
    from {{ ref('int_persons_resolved') }}
    where record_type = 'order'

),

joined as (

    select
        orders.*,
        persons.person_id,
        refunds.last_refunded_at,
        -- a refund can never take more than the order total
        least(coalesce(refunds.refunded_amount, 0), coalesce(orders.total, 0)) as refunded_amount,
        -- the one definition of an order that counts (for revenue, order counts and won/open deals)
        (
            not orders.is_cancelled
            and coalesce(orders.financial_status, '') not in ('voided', 'failed', 'refunded')
            and coalesce(orders.approval_status, '') != 'rejected'
        ) as is_valid
    from orders
    left join refunds on orders.order_key = refunds.order_key
    left join persons on orders.order_key = persons.order_key

),

final as (

    select
        -- ids
        order_key,
        platform,
        store_id,
        order_id,
        order_number,
        person_id,
        customer_key,
        company_key,

        -- text
        email,
        currency,
        financial_status,
        fulfillment_status,
        approval_status,
        purchase_order_number,

        -- numerics
        subtotal,
        discount_total,
        shipping_total,
        tax_total,
        total,
        refunded_amount,
        case when is_valid then coalesce(total, 0) - refunded_amount else 0 end as net_revenue,

        -- booleans
        is_cancelled,
        is_valid,

        -- timestamps
        created_at as ordered_at,
        cancelled_at,
        last_refunded_at,
        updated_at,
        {{ run_marker() }} as transformed_at

    from joined

)

select * from final
