{#- Incremental (DECISIONLOG.md "Incremental builds"): a run re-ranks every version of the keys
    extracted since the latest staged extraction (minus var('incremental_lookback_hours')) and
    rewrites the rows whose kept version changed. `marketing_consent_updated_at` is read when the
    raw table has it (source_column_or_null): a raw layer extracted before it existed builds too. -#}

{{ config(
    materialized='incremental',
    unique_key='customer_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'customers') }}
    {%- if is_incremental() %} as versions
    where {{ recent_versions_filter(source('store', 'customers')) }}
    {%- endif %}

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
        -- when the consent last changed, where the platform says (Shopify); absent from a raw
        -- layer extracted before the canonical schema had it
        {{ source_column_or_null(
            'store', 'customers', 'marketing_consent_updated_at', 'timestamp with time zone'
        ) }} as marketing_consent_updated_at,
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
    left join {{ this }} as existing on renamed.customer_key = existing.customer_key
    where existing.raw_id is null or existing.raw_id != renamed.raw_id
    {%- endif %}

)

select * from final
