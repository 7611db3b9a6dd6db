{#- One row per store record tied to a person: which person it belongs to and which of its
    identifiers it shares with another record (the evidence for the match). -#}

with

persons as (

    select * from {{ ref('int_persons_resolved') }}

),

identifiers as (

    select
        record_key,
        identifier_type,
        identifier_key
    from {{ ref('int_identifiers_normalized') }}

),

shared_identifiers as (

    select identifier_key
    from identifiers
    group by identifier_key
    having count(distinct record_key) > 1

),

matched as (

    select
        identifiers.record_key,
        {{ dbt.listagg(
            'distinct identifiers.identifier_type', "';'", 'order by identifiers.identifier_type',
        ) }} as matched_on
    from identifiers
    inner join shared_identifiers on identifiers.identifier_key = shared_identifiers.identifier_key
    group by identifiers.record_key

),

final as (

    select
        -- ids
        persons.record_key,
        persons.record_type,
        persons.source_key,
        persons.platform,
        persons.store_id,
        persons.person_id,
        persons.anchor_record_key,

        -- text
        coalesce(matched.matched_on, '') as matched_on,

        -- timestamps
        persons.record_at

    from persons
    left join matched on persons.record_key = matched.record_key

)

select * from final
