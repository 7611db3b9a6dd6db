{#- Incremental (DECISIONLOG.md "Incremental builds"): a run re-ranks every version of the keys
    extracted since the latest staged extraction (minus var('incremental_lookback_hours')) and
    rewrites the rows whose kept version changed. -#}

{{ config(
    materialized='incremental',
    unique_key='order_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'orders') }}
    {%- if is_incremental() %} as versions
    where {{ recent_versions_filter(source('store', 'orders')) }}
    {%- endif %}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as order_key,
        platform,
        store_id,
        id as order_id,
        order_number,
        {{ store_key('customer_id') }} as customer_key,
        customer_id,
        {{ store_key('company_id') }} as company_key,
        company_id,

        -- text
        email,
        phone,
        currency,
        financial_status,
        fulfillment_status,
        approval_status,
        purchase_order_number,
        {{ json_text('billing_address', 'first_name') }} as billing_first_name,
        {{ json_text('billing_address', 'last_name') }} as billing_last_name,
        {{ json_text('billing_address', 'email') }} as billing_email,
        {{ json_text('billing_address', 'phone') }} as billing_phone,
        {{ json_text('billing_address', 'city') }} as billing_city,
        {{ json_text('billing_address', 'country') }} as billing_country,
        billing_address,
        shipping_address,
        line_items,
        refunds,
        extra,

        -- numerics
        subtotal,
        discount_total,
        shipping_total,
        tax_total,
        total,

        -- booleans
        cancelled_at is not null as is_cancelled,

        -- timestamps
        created_at,
        updated_at,
        cancelled_at,
        _airbyte_extracted_at as extracted_at,
        {{ run_marker() }} as transformed_at,

        -- the raw row kept (incremental runs rewrite a key only when it changes)
        _airbyte_raw_id as raw_id

    from source
    where version_rank = 1

),

final as (

    select renamed.*
    from renamed
    {%- if is_incremental() %}
    left join {{ this }} as existing on renamed.order_key = existing.order_key
    where existing.raw_id is null or existing.raw_id != renamed.raw_id
    {%- endif %}

)

select * from final
