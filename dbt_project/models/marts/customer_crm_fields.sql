{#- One row per person in dim_customers: the CRM-owned fields read back from the CRM (the HubSpot
    or Salesforce contact, lifecycle stage) and the marketing consent after survivorship between the
    store and the CRM.

    Consent survivorship (DECISIONLOG.md): each side's answer carries a time - the store's is
    dim_customers.marketing_consent_at (the account whose consent dim_customers keeps: its
    marketing_consent_updated_at where the platform records one, else its updated_at), the CRM's
    is when the configured consent property took its current value (int_crm_contacts_matched). The newer answer wins; on a tie the withdrawal wins; an answer
    without a time loses to one with a time; no answer on either side is no consent. -#}

with

customers as (

    select
        person_id,
        has_marketing_consent,
        marketing_consent_at
    from {{ ref('dim_customers') }}

),

crm_contacts as (

    select * from {{ ref('int_crm_contacts_matched') }}

),

joined as (

    select
        customers.person_id,
        crm_contacts.crm_contact_id,
        crm_contacts.crm,
        crm_contacts.matched_on as crm_matched_on,
        crm_contacts.lifecycle_stage as crm_lifecycle_stage,
        crm_contacts.lifecycle_stage_changed_at as crm_lifecycle_stage_changed_at,
        customers.has_marketing_consent as store_marketing_consent,
        customers.marketing_consent_at as store_consent_at,
        crm_contacts.has_marketing_consent as crm_marketing_consent,
        crm_contacts.marketing_consent_changed_at as crm_consent_at
    from customers
    left join crm_contacts on customers.person_id = crm_contacts.person_id

),

survived as (

    select
        *,
        case
            when crm_marketing_consent is null and store_marketing_consent is null then 'none'
            when crm_marketing_consent is null then 'store'
            when store_marketing_consent is null then 'crm'
            when crm_consent_at is null then 'store'
            when store_consent_at is null or crm_consent_at > store_consent_at then 'crm'
            when crm_consent_at = store_consent_at and not crm_marketing_consent then 'crm'
            else 'store'
        end as marketing_consent_source
    from joined

),

final as (

    select
        -- ids
        person_id,
        crm_contact_id,

        -- text
        crm,
        crm_matched_on,
        crm_lifecycle_stage,
        marketing_consent_source,

        -- booleans
        store_marketing_consent,
        crm_marketing_consent,
        coalesce(
            case marketing_consent_source
                when 'crm' then crm_marketing_consent
                when 'store' then store_marketing_consent
            end,
            false
        ) as has_marketing_consent,

        -- timestamps
        crm_lifecycle_stage_changed_at,
        store_consent_at,
        crm_consent_at,
        case marketing_consent_source
            when 'crm' then crm_consent_at
            when 'store' then store_consent_at
        end as marketing_consent_at

    from survived

)

select * from final
