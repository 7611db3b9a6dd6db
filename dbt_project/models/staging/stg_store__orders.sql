with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'orders') }}

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
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
