{#- One row per version of a HubSpot contact read back from the CRM (id, CRM last-modified stamp):
    the read-back query is inclusive on its cursor, so a version can land twice; the latest
    extraction is kept. `is_latest_version` marks the contact's current state. Versions (not only
    the latest) are kept so that int_crm_contacts_matched can tell when a CRM-owned value changed,
    rather than when the contact was last touched (our own writes touch it too). -#}

{%- set consent = crm_contact_property('marketing_consent') %}

with

source as (

    select
        *,
        {{ crm_version_rank() }} as version_rank,
        {{ crm_latest_rank() }} as latest_rank
    from {{ source_or_empty('crm', 'hubspot_contacts', crm_readback_columns()) }} as raw_contacts

),

renamed as (

    select
        -- ids
        id as hubspot_contact_id,
        nullif(trim(external_id), '') as external_id,

        -- text
        nullif(lower(trim(email)), '') as email,
        {{ crm_owned_text(crm_contact_property('lifecycle_stage')) }} as lifecycle_stage,
        {{ crm_owned_text(consent['property']) }} as marketing_consent_value,
        properties,

        -- booleans
        {{ crm_consent_flag(consent['property'], consent['granted'], consent['withdrawn']) }} as has_marketing_consent,
        latest_rank = 1 as is_latest_version,

        -- timestamps
        updated_at as crm_updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1 and id is not null

)

select * from renamed
