with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'products') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as product_key,
        platform,
        store_id,
        id as product_id,

        -- text
        title,
        sku,
        category,
        status as product_status,
        extra,

        -- numerics
        price,

        -- timestamps
        created_at,
        updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
