{#- One row per version of a Salesforce Contact read back from the CRM (Id, SystemModstamp): the
    read-back query is inclusive on its cursor, so a version can land twice; the latest extraction
    is kept. `is_latest_version` marks the contact's current state. Same columns as
    stg_crm__hubspot_contacts, so int_crm_contacts_matched takes contacts from either CRM; the
    fields are named in var('salesforce_contact_fields'). The SQL is crm_contact_versions
    (macros/crm_readback.sql), shared with stg_crm__hubspot_contacts. -#}

{%- set consent = salesforce_contact_field('marketing_consent') %}

{{ crm_contact_versions('salesforce_contacts', 'salesforce_contact_id', {
    'lifecycle_stage': salesforce_contact_field('lifecycle_stage'),
    'consent': consent['field'],
    'granted': consent['granted'],
    'withdrawn': consent['withdrawn'],
}) }}
