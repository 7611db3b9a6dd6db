{#- One row per version of a Salesforce Opportunity read back from the CRM (Id, SystemModstamp),
    boundary repeats removed (latest extraction kept); `is_latest_version` marks its current state.
    Its CRM-owned fields stay in `properties` (JSON) until a model needs one. The SQL is
    crm_object_versions (macros/crm_readback.sql), shared by every read-back object. -#}

{{ crm_object_versions('salesforce_opportunities', 'salesforce_opportunity_id') }}
