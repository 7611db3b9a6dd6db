{#- One row per (record, identifier): every way a customer, order, abandoned checkout or event
    can be tied to a person, normalised so that variants of one identifier compare equal.

    Guards (is_link = false, with the reason in excluded_reason): junk values from
    var('identity_blocklist') or a phone made of one repeated digit ('blocklisted'); an email,
    phone or anonymous id held by more than var('identity_max_accounts_per_identifier') store
    accounts or more than var('identity_max_records_per_identifier') accounts, orders and
    checkouts ('over_cap'), so one shared value never collapses many people into one.

    Incremental (delete+insert on record_key; DECISIONLOG.md "Incremental builds"): a run
    rewrites every row of (1) the records staging rewrote since this model last ran, plus the
    events sharing a browser id with them (its shared-device status may change), and (2) every
    other record holding an identifier those records hold or held whose guard flips (it goes
    over or back under a cap): the other holders of an identifier whose status stays are
    untouched, so a new event of a busy account does not rewrite the account's other records.
    The caps are counted over the rewritten rows plus the unchanged holders already in the
    table. A record left with no identifier gets a null row that the post-hook deletes. -#}

{{ config(
    materialized='incremental',
    unique_key='record_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where identifier_key is null",
) }}

{%- set changed = "transformed_at > " ~ previous_run_marker() if is_incremental() else "1 = 1" %}

with

customers as (

    select
        customer_key as source_key,
        platform,
        store_id,
        email,
        phone,
        created_at as record_at
    from {{ ref('stg_store__customers') }}
    where {{ changed }}

),

orders as (

    select
        order_key as source_key,
        platform,
        store_id,
        customer_key,
        coalesce(email, billing_email) as email,
        coalesce(phone, billing_phone) as phone,
        created_at as record_at
    from {{ ref('stg_store__orders') }}
    where {{ changed }}

),

checkouts as (

    select
        checkout_key as source_key,
        platform,
        store_id,
        customer_key,
        email,
        phone,
        created_at as record_at
    from {{ ref('stg_store__abandoned_checkouts') }}
    where {{ changed }}

),

events as (

    select
        event_key as source_key,
        platform,
        store_id,
        customer_key,
        anonymous_key,
        email,
        occurred_at as record_at
    from {{ ref('stg_store__events') }}
    {%- if is_incremental() %}
    -- all events of a changed event's browser id: whether it is shared is decided among them
    where
        {{ changed }}
        or anonymous_key in (
            select changed_events.anonymous_key
            from {{ ref('stg_store__events') }} as changed_events
            where changed_events.{{ changed }}
        )
    {%- endif %}

),

-- A browser id seen with more than one account (a shared device) would merge different
-- people, so it is not used as a link.
ambiguous_anonymous_keys as (

    select anonymous_key
    from events
    where anonymous_key is not null and customer_key is not null
    group by anonymous_key
    having count(distinct customer_key) > 1

),

records as (

    select
        'customer' as record_type,
        source_key,
        platform,
        store_id,
        record_at,
        source_key as customer_key,
        null as anonymous_key,
        email,
        phone
    from customers
    union all
    select
        'order' as record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        null as anonymous_key,
        email,
        phone
    from orders
    union all
    select
        'abandoned_checkout' as record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        null as anonymous_key,
        email,
        phone
    from checkouts
    union all
    select
        'event' as record_type,
        events.source_key,
        events.platform,
        events.store_id,
        events.record_at,
        events.customer_key,
        -- a browser id seen with more than one account is not a link
        case
            when ambiguous_anonymous_keys.anonymous_key is null then events.anonymous_key
        end as anonymous_key,
        events.email,
        null as phone
    from events
    left join ambiguous_anonymous_keys
        on events.anonymous_key = ambiguous_anonymous_keys.anonymous_key

),

record_identifiers as (

    select
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        'account' as identifier_type,
        customer_key as raw_value,
        customer_key as identifier_value
    from records
    union all
    select
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        'email' as identifier_type,
        email as raw_value,
        {{ normalize_email('email') }} as identifier_value
    from records
    union all
    select
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        'phone' as identifier_type,
        phone as raw_value,
        {{ normalize_phone('phone') }} as identifier_value
    from records
    union all
    select
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        customer_key,
        'anonymous_id' as identifier_type,
        anonymous_key as raw_value,
        anonymous_key as identifier_value
    from records

),

scoped as (

    select distinct
        {{ dbt.concat(['record_type', "':'", 'source_key']) }} as record_key,
        record_type,
        source_key,
        platform,
        store_id,
        customer_key,
        identifier_type,
        identifier_value,
        {{ dbt.concat(['identifier_type', "':'", 'identifier_value']) }} as identifier_key,
        raw_value,
        record_at
    from record_identifiers
    where source_key is not null and identifier_value is not null

),
{%- if is_incremental() %}

previous as (

    select * from {{ this }}

),

scoped_records as (

    select distinct {{ dbt.concat(['record_type', "':'", 'source_key']) }} as record_key
    from records
    where source_key is not null

),

-- identifiers the changed records hold now or held before: their spread may have changed
touched_identifiers as (

    select identifier_key from scoped
    union
    select previous.identifier_key
    from previous
    inner join scoped_records on previous.record_key = scoped_records.record_key

),

-- the other holders of a touched identifier, as the table has them
other_holders as (

    select
        previous.record_key,
        previous.record_type,
        previous.customer_key,
        previous.identifier_type,
        previous.identifier_key,
        previous.identifier_value,
        previous.excluded_reason
    from previous
    inner join touched_identifiers on previous.identifier_key = touched_identifiers.identifier_key
    left join scoped_records on previous.record_key = scoped_records.record_key
    where scoped_records.record_key is null

),

-- a touched identifier's guard, recounted over the changed records and the other holders
touched_spread as (

    select
        identifier_key,
        count(distinct customer_key) as count_accounts,
        count(distinct case when record_type != 'event' then record_key end) as count_records
    from (
        select
            record_key,
            record_type,
            customer_key,
            identifier_key
        from scoped
        where identifier_type != 'account'
        union all
        select
            record_key,
            record_type,
            customer_key,
            identifier_key
        from other_holders
        where identifier_type != 'account'
    ) as touched_holders
    group by identifier_key

),

-- identifiers whose guard flips: only their other holders are rewritten (guards recomputed,
-- values kept); the blocklist never flips, and account keys are never capped
flipped_identifiers as (

    select distinct other_holders.identifier_key
    from other_holders
    left join touched_spread on other_holders.identifier_key = touched_spread.identifier_key
    where
        other_holders.identifier_type != 'account'
        and coalesce(other_holders.excluded_reason, '') != 'blocklisted'
        and coalesce(other_holders.excluded_reason = 'over_cap', false) != coalesce(
            touched_spread.count_accounts > {{ var('identity_max_accounts_per_identifier') | int }}
            or touched_spread.count_records > {{ var('identity_max_records_per_identifier') | int }},
            false
        )

),

holder_records as (

    select distinct other_holders.record_key
    from other_holders
    inner join flipped_identifiers on other_holders.identifier_key = flipped_identifiers.identifier_key

),

normalized as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        customer_key,
        identifier_type,
        identifier_value,
        identifier_key,
        raw_value,
        record_at
    from scoped
    union all
    select
        previous.record_key,
        previous.record_type,
        previous.source_key,
        previous.platform,
        previous.store_id,
        previous.customer_key,
        previous.identifier_type,
        previous.identifier_value,
        previous.identifier_key,
        previous.raw_value,
        previous.record_at
    from previous
    inner join holder_records on previous.record_key = holder_records.record_key

),

-- every holder of the identifiers being written: the rewritten rows and the unchanged rest
holders as (

    select
        record_key,
        record_type,
        customer_key,
        identifier_type,
        identifier_key
    from normalized
    union all
    select
        previous.record_key,
        previous.record_type,
        previous.customer_key,
        previous.identifier_type,
        previous.identifier_key
    from previous
    left join scoped_records on previous.record_key = scoped_records.record_key
    left join holder_records on previous.record_key = holder_records.record_key
    where
        scoped_records.record_key is null
        and holder_records.record_key is null
        and previous.identifier_type != 'account'
        and previous.identifier_key in (select normalized.identifier_key from normalized)

),
{%- else %}

normalized as (

    select * from scoped

),

holders as (

    select * from normalized

),
{%- endif %}

-- how widely each identifier is held (account keys are authoritative and never capped)
identifier_spread as (

    select
        identifier_key,
        count(distinct customer_key) as count_accounts,
        count(distinct case when record_type != 'event' then record_key end) as count_records
    from holders
    where identifier_type != 'account'
    group by identifier_key

),

guarded as (

    select
        normalized.record_key,
        normalized.record_type,
        normalized.source_key,
        normalized.platform,
        normalized.store_id,
        normalized.customer_key,
        normalized.identifier_type,
        normalized.identifier_value,
        normalized.identifier_key,
        normalized.raw_value,
        case
            when {{ is_junk_identifier('normalized.identifier_type', 'normalized.identifier_value') }}
                then 'blocklisted'
            when identifier_spread.count_accounts > {{ var('identity_max_accounts_per_identifier') | int }}
                or identifier_spread.count_records > {{ var('identity_max_records_per_identifier') | int }}
                then 'over_cap'
        end as excluded_reason,
        normalized.record_at
    from normalized
    left join identifier_spread on normalized.identifier_key = identifier_spread.identifier_key

),

final as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        customer_key,
        identifier_type,
        identifier_value,
        identifier_key,
        raw_value,
        excluded_reason is null as is_link,
        excluded_reason,
        record_at,
        {{ run_marker() }} as transformed_at
    from guarded
    {%- if is_incremental() %}
    union all
    -- a changed record left with no identifier: a null row deletes its old rows (post-hook)
    select
        scoped_records.record_key,
        null as record_type,
        null as source_key,
        null as platform,
        null as store_id,
        null as customer_key,
        null as identifier_type,
        null as identifier_value,
        null as identifier_key,
        null as raw_value,
        null as is_link,
        null as excluded_reason,
        null as record_at,
        {{ run_marker() }} as transformed_at
    from scoped_records
    where
        scoped_records.record_key in (select previous.record_key from previous)
        and scoped_records.record_key not in (select scoped.record_key from scoped)
    {%- endif %}

)

select * from final
