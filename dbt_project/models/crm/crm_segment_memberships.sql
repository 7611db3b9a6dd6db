{#- One row per period a CRM contact spent in a segment (segment_membership_history), as sent to
    the CRM: active periods and closed ones, so the CRM can show when a contact entered and left. -#}

{%- set hashed_columns = [
    'external_id', 'contact_external_id', 'segment_name', 'entered_at', 'exited_at', 'is_active',
] %}

with

history as (

    select * from {{ ref('segment_membership_history') }}

),

crm_contacts as (

    select external_id from {{ ref('crm_contacts') }}

),

shaped as (

    select
        {{ crm_text('history.segment_period_key') }} as external_id,
        {{ crm_text('crm_contacts.external_id') }} as contact_external_id,
        {{ crm_text('history.segment_name') }} as segment_name,
        {{ crm_timestamp('history.entered_at') }} as entered_at,
        {{ crm_timestamp('history.exited_at') }} as exited_at,
        history.is_active,
        {{ crm_timestamp('history.updated_at') }} as updated_at
    from history
    inner join crm_contacts on history.person_id = crm_contacts.external_id

),

final as (

    select
        *,
        {{ crm_text(row_hash(hashed_columns, timestamp_columns=['entered_at', 'exited_at'])) }} as row_hash
    from shaped

)

select * from final
