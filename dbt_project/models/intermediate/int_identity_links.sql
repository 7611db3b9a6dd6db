{#- One row per (record, link): what ties a record into the identity graph. A link is a hub
    that every record holding it joins:
    - a usable normalised identifier (account, email, phone, anonymous_id) from
      int_identifiers_normalized (blocklisted and over-cap identifiers are left out);
    - 'name_address': a profile that two or more records carry exactly, or an accepted
      probabilistic match between two profiles (int_identity_matches_scored), with its score
      and the similarity of each field compared as evidence;
    - 'none': a record with no usable link stands alone (a hub of its own), so every record of
      int_identifiers_normalized and int_identity_profiles is here.

    Incremental (delete+insert on record_key; DECISIONLOG.md "Incremental builds"): a run
    rewrites every link of the records whose identifiers were rewritten since it last ran, of
    every holder (before and after) of a name + address link that appeared, went or changed,
    of profile records new or changed, and drops records no longer in either input (a null
    row, deleted by the post-hook). Name + address links are derived in full (profiles are
    small) and compared with the table. links_lost_at (bookkeeping, like transformed_at) is the
    last run in which the record lost a link it held (its person may have split, so
    int_persons_resolved recomputes that person from scratch); it is kept across rewrites and
    null after a full build. -#}

{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where link_key is null",
) }}

with

all_identifiers {{ inlined_cte() }} (

    select * from {{ ref('int_identifiers_normalized') }}

),

profiles as (

    select * from {{ ref('int_identity_profiles') }}

),

matches as (

    select * from {{ ref('int_identity_matches_scored') }}
    where is_match

),

small_blocks as (

    select block_key
    from profiles
    group by block_key
    having count(distinct profile_key) <= {{ var('identity_match_max_block_size') | int }}

),

comparable_profiles as (

    select profiles.*
    from profiles
    inner join small_blocks on profiles.block_key = small_blocks.block_key

),

shared_profiles as (

    select profile_key
    from comparable_profiles
    group by profile_key
    having count(*) > 1

),

profile_links as (

    select
        comparable_profiles.record_key,
        comparable_profiles.record_type,
        comparable_profiles.source_key,
        comparable_profiles.platform,
        comparable_profiles.store_id,
        comparable_profiles.record_at,
        'name_address' as link_type,
        {{ dbt.concat(["'profile:'", 'comparable_profiles.profile_key']) }} as link_key,
        cast(1 as {{ dbt.type_numeric() }}) as match_score,
        'first_name, last_name, address_line, postcode identical' as match_evidence
    from comparable_profiles
    inner join shared_profiles on comparable_profiles.profile_key = shared_profiles.profile_key

),

match_sides as (

    select
        profile_key as side_profile_key,
        profile_key,
        matched_profile_key,
        match_score,
        first_name_similarity,
        last_name_similarity,
        address_similarity,
        is_birthdate_equal
    from matches
    union all
    select
        matched_profile_key as side_profile_key,
        profile_key,
        matched_profile_key,
        match_score,
        first_name_similarity,
        last_name_similarity,
        address_similarity,
        is_birthdate_equal
    from matches

),

match_links as (

    select
        profiles.record_key,
        profiles.record_type,
        profiles.source_key,
        profiles.platform,
        profiles.store_id,
        profiles.record_at,
        'name_address' as link_type,
        {{ dbt.concat(["'match:'", 'match_sides.profile_key', "':'", 'match_sides.matched_profile_key']) }}
            as link_key,
        match_sides.match_score,
        {{ dbt.concat([
            "'first_name '", dbt.cast('match_sides.first_name_similarity', dbt.type_string()),
            "', last_name '", dbt.cast('match_sides.last_name_similarity', dbt.type_string()),
            "', address_line '", dbt.cast('match_sides.address_similarity', dbt.type_string()),
            "', postcode equal, birthdate '",
            "case when match_sides.is_birthdate_equal then 'equal' else 'not on both' end",
        ]) }} as match_evidence
    from match_sides
    inner join profiles on match_sides.side_profile_key = profiles.profile_key

),

{%- if is_incremental() %}

previous {{ inlined_cte() }} (

    select * from {{ this }}

),

-- the table's rows of the records that have a profile
previous_profile_records as (

    select distinct
        previous.record_key,
        previous.record_type,
        previous.source_key,
        previous.platform,
        previous.store_id,
        previous.record_at
    from previous
    where previous.record_key in (select profiles.record_key from profiles)

),

profile_rows as (

    select
        record_key,
        link_key,
        match_score,
        match_evidence
    from profile_links
    union all
    select
        record_key,
        link_key,
        match_score,
        match_evidence
    from match_links

),

previous_profile_rows as (

    select
        record_key,
        link_key,
        match_score,
        match_evidence
    from previous
    where link_type = 'name_address'

),

changed_profile_links as (

    select link_key
    from (
        select * from profile_rows
        except
        select * from previous_profile_rows
    ) as appeared
    union
    select link_key
    from (
        select * from previous_profile_rows
        except
        select * from profile_rows
    ) as went

),

batch_records {{ materialized_cte() }} (

    -- records whose identifiers were rewritten
    select record_key
    from all_identifiers
    where transformed_at > {{ previous_run_marker() }}
    union
    -- holders, before and after, of a name + address link that changed
    select profile_rows.record_key
    from profile_rows
    inner join changed_profile_links on profile_rows.link_key = changed_profile_links.link_key
    union
    select previous_profile_rows.record_key
    from previous_profile_rows
    inner join changed_profile_links on previous_profile_rows.link_key = changed_profile_links.link_key
    union
    -- profile records that are new or read differently
    select profiles.record_key
    from profiles
    left join previous_profile_records
        on
            profiles.record_key = previous_profile_records.record_key
            and profiles.record_type = previous_profile_records.record_type
            and profiles.source_key = previous_profile_records.source_key
            and profiles.platform = previous_profile_records.platform
            and profiles.store_id = previous_profile_records.store_id
            and profiles.record_at = previous_profile_records.record_at
    where previous_profile_records.record_key is null
    union
    -- records in neither input any more
    select previous.record_key
    from previous
    where
        not exists (
            select 1
            from all_identifiers
            where all_identifiers.record_key = previous.record_key
        )
        and not exists (
            select 1
            from profiles
            where profiles.record_key = previous.record_key
        )

),

identifiers as (

    select all_identifiers.*
    from all_identifiers
    inner join batch_records on all_identifiers.record_key = batch_records.record_key

),
{%- else %}

identifiers as (

    select * from all_identifiers

),
{%- endif %}

identifier_links as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        identifier_type as link_type,
        identifier_key as link_key,
        cast(null as {{ dbt.type_numeric() }}) as match_score,
        cast(null as {{ dbt.type_string() }}) as match_evidence
    from identifiers
    where is_link

),

linked as (

    select * from identifier_links
    union all
    select * from profile_links
    union all
    select * from match_links

),

all_records as (

    select distinct
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at
    from identifiers
    union
    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at
    from profiles

),

linked_records as (

    select distinct record_key
    from linked

),

lone_links as (

    select
        all_records.record_key,
        all_records.record_type,
        all_records.source_key,
        all_records.platform,
        all_records.store_id,
        all_records.record_at,
        'none' as link_type,
        {{ dbt.concat(["'record:'", 'all_records.record_key']) }} as link_key,
        cast(null as {{ dbt.type_numeric() }}) as match_score,
        cast(null as {{ dbt.type_string() }}) as match_evidence
    from all_records
    left join linked_records on all_records.record_key = linked_records.record_key
    where linked_records.record_key is null

),

{%- if is_incremental() %}

rewritten as (

    select unioned.*
    from (
        select * from linked
        union all
        select * from lone_links
    ) as unioned
    where unioned.record_key in (select batch_records.record_key from batch_records)

),

-- the table's rows of the records being rewritten
previous_batch_rows {{ materialized_cte() }} (

    select
        previous.record_key,
        previous.link_type,
        previous.link_key,
        previous.links_lost_at
    from previous
    inner join batch_records on previous.record_key = batch_records.record_key

),

-- rewritten records that lost a link they held (a lone record's own hub aside)
lost_link_records as (

    select distinct previous_batch_rows.record_key
    from previous_batch_rows
    left join rewritten
        on
            previous_batch_rows.record_key = rewritten.record_key
            and previous_batch_rows.link_key = rewritten.link_key
    where previous_batch_rows.link_type != 'none' and rewritten.record_key is null

),

previous_losses as (

    select
        record_key,
        max(links_lost_at) as links_lost_at
    from previous_batch_rows
    where links_lost_at is not null
    group by record_key

),
{%- endif %}

final as (

    {%- if is_incremental() %}

    select
        rewritten.*,
        case
            when lost_link_records.record_key is not null then {{ run_marker() }}
            else previous_losses.links_lost_at
        end as links_lost_at,
        {{ run_marker() }} as transformed_at
    from rewritten
    left join lost_link_records on rewritten.record_key = lost_link_records.record_key
    left join previous_losses on rewritten.record_key = previous_losses.record_key
    union all
    select
        batch_records.record_key,
        null as record_type,
        null as source_key,
        null as platform,
        null as store_id,
        null as record_at,
        null as link_type,
        null as link_key,
        null as match_score,
        null as match_evidence,
        null as links_lost_at,
        {{ run_marker() }} as transformed_at
    from batch_records
    left join all_records on batch_records.record_key = all_records.record_key
    where all_records.record_key is null
    {%- else %}

    select
        unioned.*,
        cast(null as timestamp with time zone) as links_lost_at,
        {{ run_marker() }} as transformed_at
    from (
        select * from linked
        union all
        select * from lone_links
    ) as unioned
    {%- endif %}

)

select * from final
