{#- One row per (record, link): what ties a record into the identity graph. A link is a hub
    that every record holding it joins:
    - a usable normalised identifier (account, email, phone, anonymous_id) from
      int_identifiers_normalized (blocklisted and over-cap identifiers are left out);
    - 'name_address': a profile that two or more records carry exactly, or an accepted
      probabilistic match between two profiles (int_identity_matches_scored), with its score
      and the similarity of each field compared as evidence;
    - 'none': a record with no usable link stands alone (a hub of its own), so every record of
      int_identifiers_normalized and int_identity_profiles is here. -#}

with

identifiers as (

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

final as (

    select * from linked
    union all
    select * from lone_links

)

select * from final
