{#- Incremental (DECISIONLOG.md "Incremental builds"): a run re-ranks every version of the keys
    extracted since the latest staged extraction (minus var('incremental_lookback_hours')) and
    rewrites the rows whose kept version changed. -#}

{{ config(
    materialized='incremental',
    unique_key='event_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

source as (

    select
        *,
        {{ latest_version_rank('occurred_at') }} as version_rank
    from {{ source('store', 'events') }}
    {%- if is_incremental() %} as versions
    where {{ recent_versions_filter(source('store', 'events')) }}
    {%- endif %}

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
    left join {{ this }} as existing on renamed.event_key = existing.event_key
    where existing.raw_id is null or existing.raw_id != renamed.raw_id
    {%- endif %}

)

select * from final
