{#- One row per version of a HubSpot contact read back from the CRM (id, CRM last-modified stamp):
    the read-back query is inclusive on its cursor, so a version can land twice; the latest
    extraction is kept. `is_latest_version` marks the contact's current state. Versions (not only
    the latest) are kept so that int_crm_contacts_matched can tell when a CRM-owned value changed,
    rather than when the contact was last touched (our own writes touch it too). The CRM-owned
    properties are named in var('crm_contact_properties'); the SQL is crm_contact_versions
    (macros/crm_readback.sql), shared with stg_crm__salesforce_contacts. -#}

{%- set consent = crm_contact_property('marketing_consent') %}

{{ crm_contact_versions('hubspot_contacts', 'hubspot_contact_id', {
    'lifecycle_stage': crm_contact_property('lifecycle_stage'),
    'consent': consent['property'],
    'granted': consent['granted'],
    'withdrawn': consent['withdrawn'],
}) }}
