{#- One row per store record in the identity graph: the person it belongs to and the evidence
    that joined it to that person's other records - the links it shares with another record
    (identifier types and values, or the name + address match with its score and the fields
    compared). "Why are these two people one?": follow shared_link_keys.

    Incremental (delete+insert on record_key; DECISIONLOG.md "Incremental builds"): a run
    rewrites the records int_persons_resolved or int_identity_links rewrote since it last ran
    (their person or their links changed), and the one other holder of a link such a record
    holds when no one else holds it (whether that link is shared may have changed; a link with
    two other holders was shared before and still is; a link a record lost took its person
    apart, so its other holders were rewritten upstream). Records no longer resolved get a null
    row, deleted by the post-hook. -#}

{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where person_id is null",
) }}

with

all_persons {{ inlined_cte() }} (

    select * from {{ ref('int_persons_resolved') }}

),

all_links {{ inlined_cte() }} (

    select * from {{ ref('int_identity_links') }}
    where link_type != 'none'

),
{%- if is_incremental() %}

changed_link_records {{ materialized_cte() }} (

    select distinct record_key
    from {{ ref('int_identity_links') }}
    where transformed_at > {{ previous_run_marker() }}

),

-- holders of the changed records' links, apart from the changed records
unchanged_holders as (

    select
        all_links.link_key,
        all_links.record_key
    from all_links
    left join changed_link_records on all_links.record_key = changed_link_records.record_key
    where
        changed_link_records.record_key is null
        and all_links.link_key in (
            select changed_links.link_key
            from all_links as changed_links
            inner join changed_link_records on changed_links.record_key = changed_link_records.record_key
        )

),

batch_records {{ materialized_cte() }} (

    select record_key
    from all_persons
    where transformed_at > {{ previous_run_marker() }}
    union
    select record_key from changed_link_records
    union
    select min(record_key) as record_key
    from unchanged_holders
    group by link_key
    having count(distinct record_key) = 1
    union
    select previous.record_key
    from {{ this }} as previous
    left join all_persons on previous.record_key = all_persons.record_key
    where all_persons.record_key is null

),

persons as (

    select all_persons.*
    from all_persons
    inner join batch_records on all_persons.record_key = batch_records.record_key

),

-- every holder of a link that a rewritten record holds (to tell shared links)
links as (

    select all_links.*
    from all_links
    where all_links.link_key in (
        select batch_links.link_key
        from all_links as batch_links
        inner join batch_records on batch_links.record_key = batch_records.record_key
    )

),
{%- else %}

persons as (

    select * from all_persons

),

links as (

    select * from all_links

),
{%- endif %}

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
        {{ first_non_null('match_evidence', 'match_score desc nulls last, link_key') }} as match_evidence
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
        persons.record_at,
        {{ run_marker() }} as transformed_at

    from persons
    left join evidence on persons.record_key = evidence.record_key
    left join best_match on persons.record_key = best_match.record_key
    {%- if is_incremental() %}
    union all
    select
        batch_records.record_key,
        null as record_type,
        null as source_key,
        null as platform,
        null as store_id,
        null as person_id,
        null as anchor_record_key,
        null as matched_on,
        null as shared_link_keys,
        null as match_evidence,
        null as match_score,
        null as is_probabilistic_match,
        null as record_at,
        {{ run_marker() }} as transformed_at
    from batch_records
    where batch_records.record_key not in (select persons.record_key from persons)
    {%- endif %}

)

select * from final
