with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'companies') }}

),

renamed as (

    select
        -- ids
        {{ store_key('id') }} as company_key,
        platform,
        store_id,
        id as company_id,
        {{ store_key('parent_id') }} as parent_company_key,
        parent_id as parent_company_id,

        -- text
        name as company_name,
        lower(trim(domain)) as domain,
        price_tier,
        payment_terms,
        extra,

        -- numerics
        credit_limit,
        credit_used,

        -- timestamps
        created_at,
        updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1

)

select * from renamed
