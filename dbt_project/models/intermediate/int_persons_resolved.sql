{#- One row per record that carries at least one identifier, with the person it belongs to.

    Records are nodes; two records are connected when they share an identifier. Each record
    starts labelled with its own anchor label (its timestamp as sortable UTC text, "|", its
    record key); every pass gives each record the smallest label among its neighbours, so after
    enough passes every connected component carries the label of its earliest record.
    person_id = md5(that label): unchanged across rebuilds, and unchanged when later records
    join the person. The pass count is var('identity_max_passes'); the singular test
    assert_identity_graph_converged fails when it is too small for the data.

    Edges are a star per identifier (every holder to the identifier's first holder), so the
    edge list grows linearly with the records, not quadratically for a busy identifier. -#}

{%- set max_passes = var('identity_max_passes') | int -%}

with

identifiers as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        identifier_key
    from {{ ref('int_identifiers_normalized') }}

),

records as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        min(record_at) as record_at,
        {{ dbt.concat([sortable_timestamp('min(record_at)'), "'|'", 'record_key']) }} as anchor_label
    from identifiers
    group by record_key, record_type, source_key, platform, store_id

),

holders as (

    select distinct
        identifiers.identifier_key,
        records.anchor_label
    from identifiers
    inner join records on identifiers.record_key = records.record_key

),

first_holders as (

    select
        identifier_key,
        min(anchor_label) as first_holder_label
    from holders
    group by identifier_key

),

edges as (

    select
        holders.anchor_label as node_label,
        first_holders.first_holder_label as neighbour_label
    from holders
    inner join first_holders on holders.identifier_key = first_holders.identifier_key
    union
    select
        first_holders.first_holder_label as node_label,
        holders.anchor_label as neighbour_label
    from holders
    inner join first_holders on holders.identifier_key = first_holders.identifier_key
    union
    select
        anchor_label as node_label,
        anchor_label as neighbour_label
    from records

),

labels_0 as (

    select
        anchor_label as node_label,
        anchor_label as component_label
    from records

),

{% for pass_number in range(1, max_passes + 1) %}
labels_{{ pass_number }} as (

    select
        edges.node_label,
        min(previous.component_label) as component_label
    from edges
    inner join labels_{{ pass_number - 1 }} as previous on edges.neighbour_label = previous.node_label
    group by edges.node_label

),

{% endfor %}
final as (

    select
        records.record_key,
        records.record_type,
        records.source_key,
        records.platform,
        records.store_id,
        {{ dbt.hash('labels.component_label') }} as person_id,
        substring(labels.component_label, 28) as anchor_record_key,
        records.record_at
    from records
    inner join labels_{{ max_passes }} as labels on records.anchor_label = labels.node_label

)

select * from final
