{#- One row per period a person spent in a segment: entered_at, and exited_at once a run no
    longer finds them in it (null while active). Snapshot-like and incremental: each run compares
    segment_memberships (as of var('as_of_date')) with the open periods and
    - opens a period for each new membership: entered_at = when the rule was met (loyal: the 3rd
      order), but never before the person's previous exit from that segment;
    - closes each open period whose membership is gone: exited_at = the run's as-of moment.
    A run whose as-of moment is not after the latest change already recorded changes nothing:
    history only moves forward (backfill: --full-refresh, then run dates in order). -#}

{{ config(
    materialized='incremental',
    unique_key='segment_period_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

{%- set epoch = "cast('1970-01-01 00:00:00+00' as timestamp with time zone)" %}

with

memberships as (

    select
        person_id,
        segment_name,
        qualified_at,
        as_of_at
    from {{ ref('segment_memberships') }}

),

run as (

    select {{ as_of_timestamp() }} as as_of_at

),

{%- if is_incremental() %}

history as (

    select * from {{ this }}

),

{%- else %}

history as (

    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as timestamp with time zone) as entered_at,
        cast(null as timestamp with time zone) as exited_at,
        cast(null as timestamp with time zone) as updated_at
    where false

),

{%- endif %}

open_periods as (

    select * from history
    where exited_at is null

),

last_exits as (

    select
        person_id,
        segment_name,
        max(exited_at) as last_exited_at
    from history
    group by person_id, segment_name

),

-- the run goes ahead only when its as-of moment is after every change already recorded
run_gate as (

    select run.as_of_at
    from run
    where
        not exists (
            select history.updated_at
            from history
            where history.updated_at >= run.as_of_at
        )

),

entered as (

    select
        memberships.person_id,
        memberships.segment_name,
        case
            when last_exits.last_exited_at > coalesce(memberships.qualified_at, run_gate.as_of_at)
                then last_exits.last_exited_at
            else coalesce(memberships.qualified_at, run_gate.as_of_at)
        end as entered_at,
        cast(null as timestamp with time zone) as exited_at,
        run_gate.as_of_at as updated_at
    from memberships
    cross join run_gate
    left join open_periods
        on
            memberships.person_id = open_periods.person_id
            and memberships.segment_name = open_periods.segment_name
    left join last_exits
        on
            memberships.person_id = last_exits.person_id
            and memberships.segment_name = last_exits.segment_name
    where open_periods.person_id is null

),

exited as (

    select
        open_periods.person_id,
        open_periods.segment_name,
        open_periods.entered_at,
        run_gate.as_of_at as exited_at,
        run_gate.as_of_at as updated_at
    from open_periods
    cross join run_gate
    left join memberships
        on
            open_periods.person_id = memberships.person_id
            and open_periods.segment_name = memberships.segment_name
    where memberships.person_id is null

),

changes as (

    select * from entered
    union all
    select * from exited

),

final as (

    select
        {{ dbt.hash(dbt.concat([
            'person_id', "':'", 'segment_name', "':'",
            'cast(' ~ dbt.datediff(epoch, 'entered_at', 'second') ~ ' as ' ~ dbt.type_string() ~ ')',
        ])) }} as segment_period_key,
        person_id,
        segment_name,
        entered_at,
        exited_at,
        exited_at is null as is_active,
        updated_at
    from changes

)

select * from final
