{#- One row per record of the identity graph (int_identity_links), with the person it belongs to.

    The graph is bipartite: records on one side, links (identifiers, name + address matches) on
    the other, an edge wherever a record holds a link, so it has as many edges as
    int_identity_links has rows: it grows linearly with the records, however busy a link is.
    People are its connected components, found without a recursive CTE:

    - records are numbered in the order of their anchor label (timestamp as sortable UTC text,
      "|", record key), and each starts in the component numbered like itself;
    - each pass (1) gives every link the smallest component number among its records, (2) gives
      every record the smallest component number among its links, then (3) jumps pointers: a
      record in component N takes the number record N got in (2) when that is smaller. Step 3
      lets numbers skip along a chain, so the passes needed grow with the log of a component's
      diameter rather than the diameter itself;
    - each pass is two hash aggregates and a join over integers, computed once
      (materialized_cte), so a pass costs O(edges).

    After var('identity_max_passes') passes every component carries the number of its earliest
    record; person_id = md5(that record's anchor label): unchanged across rebuilds, and
    unchanged when later records join the person. assert_identity_graph_converged fails when the
    passes are too few for the data.

    Incremental (delete+insert on record_key; DECISIONLOG.md "Incremental builds"): the
    components are recomputed only for the records whose links were rewritten since the last
    run and every record of the people those records belonged to. That set is closed: a record
    outside it shares no link with one inside (a link whose holders changed had all its
    holders rewritten upstream), so its person and anchor are unchanged. Records no longer in
    the graph get a null row, deleted by the post-hook. -#}

{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where person_id is null",
) }}

{%- set max_passes = var('identity_max_passes') | int -%}

with

all_links as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        link_key,
        transformed_at
    from {{ ref('int_identity_links') }}

),
{%- if is_incremental() %}

previous as (

    select
        record_key,
        person_id
    from {{ this }}

),

changed_records as (

    select record_key
    from all_links
    where transformed_at > {{ previous_run_marker() }}
    union
    -- records no longer in the graph
    select previous.record_key
    from previous
    left join (select distinct record_key from all_links) as current_records
        on previous.record_key = current_records.record_key
    where current_records.record_key is null

),

-- the changed records and every record of the people they belonged to
batch_records {{ materialized_cte() }} (

    select record_key from changed_records
    union
    select previous.record_key
    from previous
    where previous.person_id in (
        select affected.person_id
        from previous as affected
        inner join changed_records on affected.record_key = changed_records.record_key
    )

),

links as (

    select all_links.*
    from all_links
    inner join batch_records on all_links.record_key = batch_records.record_key

),
{%- else %}

links as (

    select * from all_links

),
{%- endif %}

records {{ materialized_cte() }} (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        anchor_label,
        row_number() over (order by anchor_label) as record_number
    from (
        select
            record_key,
            record_type,
            source_key,
            platform,
            store_id,
            min(record_at) as record_at,
            {{ dbt.concat([sortable_timestamp('min(record_at)'), "'|'", 'record_key']) }} as anchor_label
        from links
        group by record_key, record_type, source_key, platform, store_id
    ) as anchored

),

hubs {{ materialized_cte() }} (

    select
        link_key,
        row_number() over (order by link_key) as hub_number
    from (select distinct link_key from links) as distinct_links

),

edges {{ materialized_cte() }} (

    select distinct
        records.record_number,
        hubs.hub_number
    from links
    inner join records on links.record_key = records.record_key
    inner join hubs on links.link_key = hubs.link_key

),

labels_0 {{ materialized_cte() }} (

    select
        record_number,
        record_number as component_number
    from records

),

{% for pass_number in range(1, max_passes + 1) %}
hub_labels_{{ pass_number }} {{ materialized_cte() }} (

    select
        edges.hub_number,
        min(previous.component_number) as component_number
    from edges
    inner join labels_{{ pass_number - 1 }} as previous on edges.record_number = previous.record_number
    group by edges.hub_number

),

spread_{{ pass_number }} {{ materialized_cte() }} (

    select
        edges.record_number,
        min(hub_labels.component_number) as component_number
    from edges
    inner join hub_labels_{{ pass_number }} as hub_labels on edges.hub_number = hub_labels.hub_number
    group by edges.record_number

),

labels_{{ pass_number }} {{ materialized_cte() }} (

    select
        spread.record_number,
        least(spread.component_number, jumped.component_number) as component_number
    from spread_{{ pass_number }} as spread
    inner join spread_{{ pass_number }} as jumped on spread.component_number = jumped.record_number

),

{% endfor %}
final as (

    select
        records.record_key,
        records.record_type,
        records.source_key,
        records.platform,
        records.store_id,
        {{ dbt.hash('anchors.anchor_label') }} as person_id,
        anchors.record_key as anchor_record_key,
        records.record_at,
        {{ run_marker() }} as transformed_at
    from records
    inner join labels_{{ max_passes }} as labels on records.record_number = labels.record_number
    inner join records as anchors on labels.component_number = anchors.record_number
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
        null as record_at,
        {{ run_marker() }} as transformed_at
    from batch_records
    where batch_records.record_key not in (select records.record_key from records)
    {%- endif %}

)

select * from final
