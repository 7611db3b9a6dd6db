with

source as (

    select
        *,
        {{ latest_version_rank('occurred_at') }} as version_rank
    from {{ source('store', 'events') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as event_key,
        platform,
        store_id,
        id as event_id,
        {{ store_key('customer_id') }} as customer_key,
        customer_id,
        {{ store_key('anonymous_id') }} as anonymous_key,
        anonymous_id,
        session_id,
        {{ store_key('product_id') }} as product_key,
        product_id,

        -- text
        type as event_type,
        email,
        url,
        category,
        extra,

        -- numerics
        value as event_value,

        -- timestamps
        occurred_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
