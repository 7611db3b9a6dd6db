{#- One row per store record in the identity graph: the person it belongs to and the evidence
    that joined it to that person's other records - the links it shares with another record
    (identifier types and values, or the name + address match with its score and the fields
    compared). "Why are these two people one?": follow shared_link_keys. -#}

with

persons as (

    select * from {{ ref('int_persons_resolved') }}

),

links as (

    select * from {{ ref('int_identity_links') }}
    where link_type != 'none'

),

shared_links as (

    select link_key
    from links
    group by link_key
    having count(distinct record_key) > 1

),

record_shared_links as (

    select links.*
    from links
    inner join shared_links on links.link_key = shared_links.link_key

),

evidence as (

    select
        record_key,
        {{ dbt.listagg('distinct link_type', "';'", 'order by link_type') }} as matched_on,
        {{ dbt.listagg('distinct link_key', "';'", 'order by link_key') }} as shared_link_keys,
        max(match_score) as match_score
    from record_shared_links
    group by record_key

),

best_match as (

    select
        record_key,
        {{ first_non_null('match_evidence', 'match_score desc, link_key') }} as match_evidence
    from record_shared_links
    where link_type = 'name_address'
    group by record_key

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
        coalesce(evidence.matched_on, '') as matched_on,
        coalesce(evidence.shared_link_keys, '') as shared_link_keys,
        best_match.match_evidence,

        -- numerics
        evidence.match_score,

        -- booleans
        coalesce(evidence.matched_on like '%name_address%', false) as is_probabilistic_match,

        -- timestamps
        persons.record_at

    from persons
    left join evidence on persons.record_key = evidence.record_key
    left join best_match on persons.record_key = best_match.record_key

)

select * from final
