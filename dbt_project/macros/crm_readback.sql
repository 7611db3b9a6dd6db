{#- The CRM read-back tables (`raw_crm`, written by `store2crm readback` or an Airbyte sync of
    destination_crm.readback) exist only once read-back has run. A warehouse where it never ran
    (fresh, a Salesforce destination, a store with no CRM yet) must still build, so staging reads
    `source_or_empty(...)`: the source table when the warehouse has it, otherwise an empty
    relation with the same typed columns. The `source()` call is always made, so lineage,
    freshness and docs are the same either way; in dbt unit tests the source is the test's fixture. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if not execute or relation.is_cte -%}
        {{ relation }}
    {%- else -%}
        {%- set existing = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) -%}
        {%- if existing is not none -%}
            {{ relation }}
        {%- else -%}
            (
                select
                {%- for name, column_type in columns.items() %}
                    cast(null as {{ column_type }}) as {{ name }}{{ ',' if not loop.last }}
                {%- endfor %}
                where 1 = 0
            )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Columns of a read-back table (destination_crm/readback's JSON schema as the raw layer types
    it: Destinations V2 layout, `properties` an object). -#}
{% macro crm_readback_columns() -%}
    {{- return({
        'id': dbt.type_string(),
        'object': dbt.type_string(),
        'external_id': dbt.type_string(),
        'email': dbt.type_string(),
        'updated_at': 'timestamp with time zone',
        'properties': type_json(),
        '_airbyte_raw_id': dbt.type_string(),
        '_airbyte_extracted_at': 'timestamp with time zone',
        '_airbyte_meta': type_json(),
        '_airbyte_generation_id': dbt.type_bigint(),
    }) -}}
{%- endmacro %}

{#- The warehouse's JSON type. -#}
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'store2crm')()) }}
{%- endmacro %}

{% macro postgres__type_json() -%}
    jsonb
{%- endmacro %}

{% macro duckdb__type_json() -%}
    json
{%- endmacro %}

{#- Rank of a read-back row within one CRM object version (id, CRM last-modified stamp): the
    read-back query is inclusive (GTE) on its cursor, so boundary records come again; 1 = keep
    (latest extraction, then raw id as a deterministic tie-break). -#}
{% macro crm_version_rank() -%}
    row_number() over (
        partition by id, updated_at
        order by _airbyte_extracted_at desc nulls last, _airbyte_raw_id desc nulls last
    )
{%- endmacro %}

{#- Rank of a version among all versions of its CRM object: 1 = the latest (CRM last-modified
    stamp, then extraction). -#}
{% macro crm_latest_rank() -%}
    row_number() over (
        partition by id
        order by updated_at desc nulls last, _airbyte_extracted_at desc, _airbyte_raw_id desc
    )
{%- endmacro %}

{#- A CRM-owned contact property from var('crm_contact_properties') (dbt_project.yml): its
    HubSpot name, or the setting itself for a dict-valued entry. -#}
{% macro crm_contact_property(name) -%}
    {%- set settings = var('crm_contact_properties', {}) -%}
    {%- if name not in settings -%}
        {{ exceptions.raise_compiler_error("var('crm_contact_properties') has no entry '" ~ name ~ "'") }}
    {%- endif -%}
    {{- return(settings[name]) -}}
{%- endmacro %}

{#- A CRM-owned Salesforce Contact field from var('salesforce_contact_fields') (dbt_project.yml):
    its API name (null when none is configured), or the setting itself for a dict-valued entry. -#}
{% macro salesforce_contact_field(name) -%}
    {%- set settings = var('salesforce_contact_fields', {}) -%}
    {%- if name not in settings -%}
        {{ exceptions.raise_compiler_error("var('salesforce_contact_fields') has no entry '" ~ name ~ "'") }}
    {%- endif -%}
    {{- return(settings[name]) -}}
{%- endmacro %}

{#- A CRM-owned text property of the read-back `properties` JSON, trimmed, '' as null; a null
    property name (nothing configured) is a typed null. -#}
{% macro crm_owned_text(property) -%}
    {%- if property is none -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        nullif(trim({{ json_text('properties', property) }}), '')
    {%- endif -%}
{%- endmacro %}

{#- A consent property read as a flag: true for its `granted` value, false for its `withdrawn`
    value (case-insensitive), null for anything else; a null `granted` / `withdrawn` value means the
    CRM cannot say that answer (Salesforce's Email Opt Out cannot grant). -#}
{% macro crm_consent_flag(property, granted, withdrawn) -%}
    {%- set answers = [] -%}
    {%- if granted is not none %}{% do answers.append((granted, 'true')) %}{% endif -%}
    {%- if withdrawn is not none %}{% do answers.append((withdrawn, 'false')) %}{% endif -%}
    {%- if property is none or not answers -%}
        cast(null as boolean)
    {%- else -%}
        case lower(trim({{ json_text('properties', property) }}))
            {%- for value, flag in answers %}
            when lower('{{ value }}') then {{ flag }}
            {%- endfor %}
        end
    {%- endif -%}
{%- endmacro %}

{#- The SQL of a read-back staging model (stg_crm__*): one row per version of a CRM object
    (object id, CRM last-modified stamp) from raw_crm.`table` (`source_or_empty`: empty when that
    read-back never ran), boundary repeats of the inclusive read-back removed (crm_version_rank),
    with `is_latest_version` (crm_latest_rank). Columns: the object id as `id_column`,
    `external_id`, `properties` (the CRM-owned fields, JSON, until a model needs one),
    `is_latest_version`, `crm_updated_at`, `extracted_at`. A contact (`contact`: the settings of
    crm_contact_versions) also has `email`, `lifecycle_stage`, `marketing_consent_value` and
    `has_marketing_consent`. -#}
{% macro crm_object_versions(table, id_column, contact=none) -%}
with

source as (

    select
        *,
        {{ crm_version_rank() }} as version_rank,
        {{ crm_latest_rank() }} as latest_rank
    from {{ source_or_empty('crm', table, crm_readback_columns()) }} as raw_objects

),

renamed as (

    select
        -- ids
        id as {{ id_column }},
        nullif(trim(external_id), '') as external_id,

        -- text
        {%- if contact is not none %}
        nullif(lower(trim(email)), '') as email,
        {{ crm_owned_text(contact['lifecycle_stage']) }} as lifecycle_stage,
        {{ crm_owned_text(contact['consent']) }} as marketing_consent_value,
        {%- endif %}
        properties,

        -- booleans
        {%- if contact is not none %}
        {{ crm_consent_flag(contact['consent'], contact['granted'], contact['withdrawn']) }} as has_marketing_consent,
        {%- endif %}
        latest_rank = 1 as is_latest_version,

        -- timestamps
        updated_at as crm_updated_at,
        _airbyte_extracted_at as extracted_at

    from source
    where version_rank = 1 and id is not null

)

select * from renamed
{%- endmacro %}

{#- crm_object_versions for a contact: `settings` names the CRM-owned fields read from
    `properties` - `lifecycle_stage` (a property name, or null when the CRM has none), `consent`
    (the consent property, or null) and its `granted` / `withdrawn` values (null: the CRM cannot
    give that answer). The contacts of every CRM get the same columns, so int_crm_contacts_matched
    takes them from either. -#}
{% macro crm_contact_versions(table, id_column, settings) -%}
    {%- for key in ['lifecycle_stage', 'consent', 'granted', 'withdrawn'] -%}
        {%- if key not in settings -%}
            {{ exceptions.raise_compiler_error("crm_contact_versions(" ~ table ~ "): settings have no '" ~ key ~ "'") }}
        {%- endif -%}
    {%- endfor -%}
    {{ crm_object_versions(table, id_column, contact=settings) }}
{%- endmacro %}
