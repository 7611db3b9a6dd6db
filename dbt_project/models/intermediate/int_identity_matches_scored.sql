{#- One row per pair of distinct name + address profiles compared by probabilistic matching,
    with each field's similarity, the score and whether the pair is merged.

    Blocking: only profiles with the same postcode and house number are compared, and a block
    with more than var('identity_match_max_block_size') profiles (a shared pickup point, a
    care-of address) is skipped, so the work grows with the records, not their square.
    Score = 0.3 first name + 0.4 last name + 0.3 address line similarity (string_similarity:
    Jaro-Winkler on DuckDB). A pair is merged when the score reaches
    var('identity_match_threshold'), both names reach var('identity_match_min_name_similarity'),
    and their birthdates do not disagree (when both have one). -#}

{%- set threshold = var('identity_match_threshold') | float -%}
{%- set min_name_similarity = var('identity_match_min_name_similarity') | float -%}

with

profiles as (

    select distinct
        profile_key,
        block_key,
        first_name,
        last_name,
        address_line,
        postcode,
        birthdate
    from {{ ref('int_identity_profiles') }}

),

comparable_blocks as (

    select block_key
    from profiles
    group by block_key
    having
        count(*) > 1
        and count(*) <= {{ var('identity_match_max_block_size') | int }}

),

pairs as (

    select
        left_profile.profile_key,
        right_profile.profile_key as matched_profile_key,
        left_profile.block_key,
        {{ string_similarity('left_profile.first_name', 'right_profile.first_name') }} as first_name_similarity,
        {{ string_similarity('left_profile.last_name', 'right_profile.last_name') }} as last_name_similarity,
        {{ string_similarity('left_profile.address_line', 'right_profile.address_line') }} as address_similarity,
        case
            when left_profile.birthdate is not null and right_profile.birthdate is not null
                then left_profile.birthdate = right_profile.birthdate
        end as is_birthdate_equal
    from profiles as left_profile
    inner join comparable_blocks on left_profile.block_key = comparable_blocks.block_key
    inner join profiles as right_profile
        on
            left_profile.block_key = right_profile.block_key
            and left_profile.profile_key < right_profile.profile_key

),

scored as (

    select
        *,
        0.3 * first_name_similarity + 0.4 * last_name_similarity + 0.3 * address_similarity as match_score
    from pairs

),

final as (

    select
        -- ids
        profile_key,
        matched_profile_key,
        block_key,

        -- numerics (decimal(28, 4) spelled out: PostgreSQL's round() drops the scale)
        cast(
            round(cast(first_name_similarity as {{ dbt.type_numeric() }}), 4) as decimal(28, 4)
        ) as first_name_similarity,
        cast(
            round(cast(last_name_similarity as {{ dbt.type_numeric() }}), 4) as decimal(28, 4)
        ) as last_name_similarity,
        cast(
            round(cast(address_similarity as {{ dbt.type_numeric() }}), 4) as decimal(28, 4)
        ) as address_similarity,
        cast(
            round(cast(match_score as {{ dbt.type_numeric() }}), 4) as decimal(28, 4)
        ) as match_score,

        -- booleans
        is_birthdate_equal,
        (
            match_score >= {{ threshold }}
            and first_name_similarity >= {{ min_name_similarity }}
            and last_name_similarity >= {{ min_name_similarity }}
            and coalesce(is_birthdate_equal, true)
        ) as is_match

    from scored

)

select * from final
