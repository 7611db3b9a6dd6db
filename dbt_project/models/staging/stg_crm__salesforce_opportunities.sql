{#- One row per version of a Salesforce Opportunity read back from the CRM (Id, SystemModstamp),
    boundary repeats removed (latest extraction kept); `is_latest_version` marks its current state.
    Its CRM-owned fields stay in `properties` (JSON) until a model needs one. -#}

with

source as (

    select
        *,
        {{ crm_version_rank() }} as version_rank,
        {{ crm_latest_rank() }} as latest_rank
    from {{ source_or_empty('crm', 'salesforce_opportunities', crm_readback_columns()) }} as raw_opportunities

),

renamed as (

    select
        -- ids
        id as salesforce_opportunity_id,
        nullif(trim(external_id), '') as external_id,

        -- text
        properties,

        -- booleans
        latest_rank = 1 as is_latest_version,

        -- timestamps
        updated_at as crm_updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1 and id is not null

)

select * from renamed
