{#- One row per version of a Salesforce Contact read back from the CRM (Id, SystemModstamp): the
    read-back query is inclusive on its cursor, so a version can land twice; the latest extraction
    is kept. `is_latest_version` marks the contact's current state. Same columns as
    stg_crm__hubspot_contacts, so int_crm_contacts_matched takes contacts from either CRM; the
    fields are named in var('salesforce_contact_fields'). -#}

{%- set consent = salesforce_contact_field('marketing_consent') %}

with

source as (

    select
        *,
        {{ crm_version_rank() }} as version_rank,
        {{ crm_latest_rank() }} as latest_rank
    from {{ source_or_empty('crm', 'salesforce_contacts', crm_readback_columns()) }} as raw_contacts

),

renamed as (

    select
        -- ids
        id as salesforce_contact_id,
        nullif(trim(external_id), '') as external_id,

        -- text
        nullif(lower(trim(email)), '') as email,
        {{ crm_owned_text(salesforce_contact_field('lifecycle_stage')) }} as lifecycle_stage,
        {{ crm_owned_text(consent['field']) }} as marketing_consent_value,
        properties,

        -- booleans
        {{ crm_consent_flag(consent['field'], consent['granted'], consent['withdrawn']) }} as has_marketing_consent,
        latest_rank = 1 as is_latest_version,

        -- timestamps
        updated_at as crm_updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1 and id is not null

)

select * from renamed
