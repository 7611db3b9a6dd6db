with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'abandoned_checkouts') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as checkout_key,
        platform,
        store_id,
        id as checkout_id,
        {{ store_key('customer_id') }} as customer_key,
        customer_id,

        -- text
        email,
        phone,
        currency,
        line_items,
        extra,

        -- numerics
        total,

        -- booleans
        completed_at is not null as is_completed,

        -- timestamps
        created_at,
        updated_at,
        completed_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
