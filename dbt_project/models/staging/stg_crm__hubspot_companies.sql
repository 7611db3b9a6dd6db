{#- One row per version of a HubSpot company read back from the CRM (id, CRM last-modified stamp),
    boundary repeats removed (latest extraction kept); `is_latest_version` marks its current state.
    Its CRM-owned properties stay in `properties` (JSON) until a model needs one. The SQL is
    crm_object_versions (macros/crm_readback.sql), shared by every read-back object. -#}

{{ crm_object_versions('hubspot_companies', 'hubspot_company_id') }}
