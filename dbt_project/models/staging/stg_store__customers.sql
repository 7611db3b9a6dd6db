with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'customers') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as customer_key,
        platform,
        store_id,
        id as customer_id,
        {{ store_key('company_id') }} as company_key,
        company_id,

        -- text
        email,
        phone,
        first_name,
        last_name,
        account_state,
        {{ json_text('default_address', 'city') }} as city,
        {{ json_text('default_address', 'country') }} as country,
        {{ json_text('default_address', 'phone') }} as address_phone,
        tags,
        default_address,
        addresses,
        extra,

        -- booleans
        accepts_marketing as has_marketing_consent,
        coalesce(account_state = 'registered', false) as is_registered,

        -- dates
        birthdate,

        -- timestamps
        created_at,
        updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
