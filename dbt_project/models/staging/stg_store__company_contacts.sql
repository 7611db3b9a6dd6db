with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'company_contacts') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as company_contact_key,
        platform,
        store_id,
        id as company_contact_id,
        {{ store_key('company_id') }} as company_key,
        company_id,
        {{ store_key('customer_id') }} as customer_key,
        customer_id,

        -- text
        role as contact_role,
        extra,

        -- timestamps
        created_at,
        updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
