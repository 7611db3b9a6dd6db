{#- One row per person with a CRM contact read back from the CRM (HubSpot or Salesforce, whichever
    read-back ran - both when a warehouse has moved from one to the other): the contact matched to
    the person and the current value of each CRM-owned field, with when that value changed in the CRM.

    Matching: the contact's external id (the person_id destination-crm wrote) when it is still a
    person, else the contact's email through the person's linking emails (normalised as identity
    resolution does) - a person_id can disappear when identity resolution merges two people, and a
    contact created in the CRM by an agent has no external id. Several contacts for one person: the
    external-id match first, then the most recently modified contact, whichever CRM holds it.

    Change time of a value: the CRM stamp of the earliest read-back version that carries the
    current value after a different one (or the first version read). Our own writes touch the
    contact too (its last-modified stamp moves) without changing a CRM-owned value, so the contact's
    last-modified stamp alone would make a stale CRM value look new. -#}

with

versions as (

    -- the contacts of every CRM (their staging models have the same columns)
    {%- for crm in ['hubspot', 'salesforce'] %}
    select
        '{{ crm }}' as crm,
        {{ crm }}_contact_id as crm_contact_id,
        external_id,
        email,
        lifecycle_stage,
        marketing_consent_value,
        has_marketing_consent,
        is_latest_version,
        crm_updated_at,
        extracted_at
    from {{ ref('stg_crm__' ~ crm ~ '_contacts') }}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

persons as (

    select distinct person_id
    from {{ ref('int_persons_resolved') }}

),

linking_emails as (

    select distinct
        identifiers.identifier_value as matched_email,
        persons.person_id
    from {{ ref('int_identifiers_normalized') }} as identifiers
    inner join {{ ref('int_persons_resolved') }} as persons
        on identifiers.record_key = persons.record_key
    where identifiers.identifier_type = 'email' and identifiers.is_link

),

-- the previous version's values, to see where a value starts
previous_values as (

    select
        crm,
        crm_contact_id,
        crm_updated_at,
        lifecycle_stage,
        has_marketing_consent,
        lag(lifecycle_stage) over (
            partition by crm, crm_contact_id order by crm_updated_at asc, extracted_at asc
        ) as previous_lifecycle_stage,
        lag(has_marketing_consent) over (
            partition by crm, crm_contact_id order by crm_updated_at asc, extracted_at asc
        ) as previous_marketing_consent
    from versions

),

-- a version starts a new value when it differs from the previous version of the contact
value_starts as (

    select
        crm,
        crm_contact_id,
        case
            when lifecycle_stage = previous_lifecycle_stage then null
            when lifecycle_stage is null and previous_lifecycle_stage is null then null
            else crm_updated_at
        end as lifecycle_stage_started_at,
        case
            when has_marketing_consent = previous_marketing_consent then null
            when has_marketing_consent is null and previous_marketing_consent is null then null
            else crm_updated_at
        end as marketing_consent_started_at
    from previous_values

),

change_times as (

    select
        crm,
        crm_contact_id,
        max(lifecycle_stage_started_at) as lifecycle_stage_changed_at,
        max(marketing_consent_started_at) as marketing_consent_changed_at
    from value_starts
    group by crm, crm_contact_id

),

contacts as (

    select
        versions.crm,
        versions.crm_contact_id,
        versions.external_id,
        versions.email,
        {{ normalize_email('versions.email') }} as matched_email,
        versions.lifecycle_stage,
        versions.has_marketing_consent,
        versions.marketing_consent_value,
        case
            when versions.lifecycle_stage is not null then change_times.lifecycle_stage_changed_at
        end as lifecycle_stage_changed_at,
        case
            when versions.has_marketing_consent is not null then change_times.marketing_consent_changed_at
        end as marketing_consent_changed_at,
        versions.crm_updated_at
    from versions
    inner join change_times
        on versions.crm = change_times.crm and versions.crm_contact_id = change_times.crm_contact_id
    where versions.is_latest_version

),

matched as (

    select
        contacts.*,
        coalesce(by_external_id.person_id, by_email.person_id) as person_id,
        case
            when by_external_id.person_id is not null then 'external_id'
            when by_email.person_id is not null then 'email'
        end as matched_on
    from contacts
    left join persons as by_external_id on contacts.external_id = by_external_id.person_id
    left join linking_emails as by_email on contacts.matched_email = by_email.matched_email

),

ranked as (

    select
        *,
        row_number() over (
            partition by person_id
            order by
                case matched_on when 'external_id' then 1 else 2 end asc,
                crm_updated_at desc nulls last,
                crm_contact_id asc
        ) as contact_rank
    from matched
    where person_id is not null

),

final as (

    select
        -- ids
        person_id,
        crm_contact_id,

        -- text
        crm,
        matched_on,
        email,
        lifecycle_stage,
        marketing_consent_value,

        -- booleans
        has_marketing_consent,

        -- timestamps
        lifecycle_stage_changed_at,
        marketing_consent_changed_at,
        crm_updated_at

    from ranked
    where contact_rank = 1

)

select * from final
