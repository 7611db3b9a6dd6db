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

    Incremental (delete+insert on record_key; DECISIONLOG.md "Incremental builds"): only the
    part of the graph a run touches is relabelled, with every person it does not take apart
    contracted to one node:
    - free records: the records whose links were rewritten since the last run, plus every
      record of a person that may have split - one of its records left the graph, lost a link
      (int_identity_links.links_lost_at) or changed its time (the anchor may move);
    - frozen people: every other person holding a link of a free record, one node each,
      labelled with its anchor. Nothing inside a frozen person lost a link, so it is still
      connected, and a link no free record holds joins no two nodes of this graph.
    The components of that graph are the components of the whole graph around the free records
    (one person's records are all in one). The free records are written with their person;
    the records of a frozen person are rewritten only when it joined an older one (its
    person_id and anchor change); records that left the graph get a null row, deleted by the
    post-hook. A new event of a known account rewrites that event alone.
-#}

{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where person_id is null",
) }}

{%- set max_passes = var('identity_max_passes') | int -%}

with

all_links {{ inlined_cte() }} (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        link_key,
        links_lost_at,
        transformed_at
    from {{ ref('int_identity_links') }}

),
{%- if is_incremental() %}

previous {{ inlined_cte() }} (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        person_id,
        anchor_record_key,
        record_at
    from {{ this }}

),

changed_records {{ materialized_cte() }} (

    select
        record_key,
        min(record_at) as record_at,
        max(links_lost_at) as links_lost_at
    from all_links
    where transformed_at > {{ previous_run_marker() }}
    group by record_key

),

-- records no longer in the graph
gone_records as (

    select previous.record_key
    from previous
    where not exists (
        select 1
        from all_links
        where all_links.record_key = previous.record_key
    )

),

-- people that may have split: relabelled from scratch
dirty_persons as (

    select previous.person_id
    from previous
    inner join gone_records on previous.record_key = gone_records.record_key
    union
    select previous.person_id
    from previous
    inner join changed_records on previous.record_key = changed_records.record_key
    where
        changed_records.links_lost_at > {{ previous_run_marker() }}
        or changed_records.record_at != previous.record_at
        or (changed_records.record_at is null) != (previous.record_at is null)

),

free_records {{ materialized_cte() }} (

    select record_key from changed_records
    union
    select previous.record_key
    from previous
    inner join dirty_persons on previous.person_id = dirty_persons.person_id

),

links {{ materialized_cte() }} (

    select all_links.*
    from all_links
    inner join free_records on all_links.record_key = free_records.record_key

),
{%- else %}

links as (

    select * from all_links

),
{%- endif %}

-- one row per record of the graph (all of it, or an incremental run's free records), with its
-- anchor label
records {{ materialized_cte() }} (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        min(record_at) as record_at,
        {{ anchor_label('min(record_at)', 'record_key') }} as anchor_label
    from links
    group by record_key, record_type, source_key, platform, store_id

),
{%- if is_incremental() %}

-- the other holders of the free records' links, as the people they belong to
frozen_links {{ materialized_cte() }} (

    select distinct
        {{ dbt.concat(["'person:'", 'previous.person_id']) }} as node_key,
        previous.person_id,
        previous.anchor_record_key,
        all_links.link_key
    from all_links
    inner join (select distinct link_key from links) as free_link_keys
        on all_links.link_key = free_link_keys.link_key
    inner join previous on all_links.record_key = previous.record_key
    left join free_records on all_links.record_key = free_records.record_key
    where free_records.record_key is null

),

frozen_persons as (

    select distinct
        frozen_links.node_key,
        frozen_links.person_id,
        frozen_links.anchor_record_key,
        {{ anchor_label('anchors.record_at', 'anchors.record_key') }} as anchor_label
    from frozen_links
    inner join previous as anchors on frozen_links.anchor_record_key = anchors.record_key

),
{%- endif %}

-- the graph's nodes: its records, and in an incremental run the frozen people
nodes {{ materialized_cte() }} (

    select
        node_key,
        anchor_label,
        anchor_record_key,
        row_number() over (order by anchor_label, node_key) as node_number
    from (
        select
            record_key as node_key,
            anchor_label,
            record_key as anchor_record_key
        from records
        {%- if is_incremental() %}
        union all
        select
            node_key,
            anchor_label,
            anchor_record_key
        from frozen_persons
        {%- endif %}
    ) as graph_nodes

),

node_links as (

    select
        record_key as node_key,
        link_key
    from links
    {%- if is_incremental() %}
    union all
    select
        node_key,
        link_key
    from frozen_links
    {%- endif %}

),

hubs {{ materialized_cte() }} (

    select
        link_key,
        row_number() over (order by link_key) as hub_number
    from (select distinct link_key from node_links) as distinct_links

),

edges {{ materialized_cte() }} (

    select distinct
        nodes.node_number,
        hubs.hub_number
    from node_links
    inner join nodes on node_links.node_key = nodes.node_key
    inner join hubs on node_links.link_key = hubs.link_key

),

labels_0 {{ materialized_cte() }} (

    select
        node_number,
        node_number as component_number
    from nodes

),

{% for pass_number in range(1, max_passes + 1) %}
hub_labels_{{ pass_number }} {{ materialized_cte() }} (

    select
        edges.hub_number,
        min(previous.component_number) as component_number
    from edges
    inner join labels_{{ pass_number - 1 }} as previous on edges.node_number = previous.node_number
    group by edges.hub_number

),

spread_{{ pass_number }} {{ materialized_cte() }} (

    select
        edges.node_number,
        min(hub_labels.component_number) as component_number
    from edges
    inner join hub_labels_{{ pass_number }} as hub_labels on edges.hub_number = hub_labels.hub_number
    group by edges.node_number

),

labels_{{ pass_number }} {{ materialized_cte() }} (

    select
        spread.node_number,
        least(spread.component_number, jumped.component_number) as component_number
    from spread_{{ pass_number }} as spread
    inner join spread_{{ pass_number }} as jumped on spread.component_number = jumped.node_number

),

{% endfor %}
-- every node with the anchor of its component (the node numbered lowest)
components as (

    select
        nodes.node_key,
        nodes.anchor_label,
        anchors.anchor_label as person_anchor_label,
        anchors.anchor_record_key as person_anchor_record_key
    from nodes
    inner join labels_{{ max_passes }} as labels on nodes.node_number = labels.node_number
    inner join nodes as anchors on labels.component_number = anchors.node_number

),

final as (

    select
        records.record_key,
        records.record_type,
        records.source_key,
        records.platform,
        records.store_id,
        {{ dbt.hash('components.person_anchor_label') }} as person_id,
        components.person_anchor_record_key as anchor_record_key,
        records.record_at,
        {{ run_marker() }} as transformed_at
    from records
    inner join components on records.record_key = components.node_key
    {%- if is_incremental() %}
    union all
    -- the records of a frozen person that joined an older person
    select
        previous.record_key,
        previous.record_type,
        previous.source_key,
        previous.platform,
        previous.store_id,
        {{ dbt.hash('components.person_anchor_label') }} as person_id,
        components.person_anchor_record_key as anchor_record_key,
        previous.record_at,
        {{ run_marker() }} as transformed_at
    from frozen_persons
    inner join components on frozen_persons.node_key = components.node_key
    inner join previous on frozen_persons.person_id = previous.person_id
    left join free_records on previous.record_key = free_records.record_key
    where
        components.person_anchor_label != components.anchor_label
        and free_records.record_key is null
    union all
    -- records no longer in the graph
    select
        free_records.record_key,
        null as record_type,
        null as source_key,
        null as platform,
        null as store_id,
        null as person_id,
        null as anchor_record_key,
        null as record_at,
        {{ run_marker() }} as transformed_at
    from free_records
    left join records on free_records.record_key = records.record_key
    where records.record_key is null
    {%- endif %}

)

select * from final
