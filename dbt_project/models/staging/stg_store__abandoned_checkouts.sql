{#- Incremental (DECISIONLOG.md "Incremental builds"): a run re-ranks every version of the keys
    extracted since the latest staged extraction (minus var('incremental_lookback_hours')) and
    rewrites the rows whose kept version changed. -#}

{{ config(
    materialized='incremental',
    unique_key='checkout_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

source as (

    select
        *,
        {{ latest_version_rank('updated_at') }} as version_rank
    from {{ source('store', 'abandoned_checkouts') }}
    {%- if is_incremental() %} as versions
    where {{ recent_versions_filter(source('store', 'abandoned_checkouts')) }}
    {%- endif %}

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
    left join {{ this }} as existing on renamed.checkout_key = existing.checkout_key
    where existing.raw_id is null or existing.raw_id != renamed.raw_id
    {%- endif %}

)

select * from final
