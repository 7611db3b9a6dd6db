{#- One row per thing that happened to a person: every order, refund, abandoned checkout and
    behavioural or communication event, in one table ordered by (person_id, occurred_at).

    Incremental (delete+insert on timeline_event_key; DECISIONLOG.md "Incremental builds"): a
    run rewrites the rows of the orders (with their refunds) that orders rewrote, and of the
    checkouts and events that staging or identity resolution rewrote, since it last ran. Rows of
    those records that no longer come out (a refund gone, a record no longer resolved to a
    person) get a null row, deleted by the post-hook. -#}

{{ config(
    materialized='incremental',
    unique_key='timeline_event_key',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where person_id is null",
) }}

{%- set changed = "transformed_at > " ~ previous_run_marker() if is_incremental() else "1 = 1" %}

with

orders as (

    select * from {{ ref('orders') }}
    where {{ changed }}

),

refunds as (

    select * from {{ ref('int_order_refunds_unnested') }}

),

checkouts as (

    select * from {{ ref('stg_store__abandoned_checkouts') }}
    {%- if is_incremental() %}
    where
        {{ changed }}
        or checkout_key in (
            select resolved.source_key
            from {{ ref('identity_map') }} as resolved
            where resolved.record_type = 'abandoned_checkout' and resolved.{{ changed }}
        )
    {%- endif %}

),

events as (

    select * from {{ ref('stg_store__events') }}
    {%- if is_incremental() %}
    where
        {{ changed }}
        or event_key in (
            select resolved.source_key
            from {{ ref('identity_map') }} as resolved
            where resolved.record_type = 'event' and resolved.{{ changed }}
        )
    {%- endif %}

),

persons as (

    select
        record_type,
        source_key,
        person_id
    from {{ ref('identity_map') }}
    where record_type in ('abandoned_checkout', 'event')

),

order_rows as (

    select
        {{ dbt.concat(["'order:'", 'order_key']) }} as timeline_event_key,
        person_id,
        'orders' as source_stream,
        order_key as source_key,
        platform,
        store_id,
        'order_placed' as event_type,
        'transaction' as event_category,
        order_key,
        cast(null as {{ dbt.type_string() }}) as product_key,
        coalesce(financial_status, 'unknown') as event_status,
        currency,
        total as amount,
        ordered_at as occurred_at,
        coalesce(updated_at, ordered_at) as source_updated_at
    from orders

),

refund_rows as (

    select
        {{ dbt.concat(["'refund:'", 'refunds.refund_key']) }} as timeline_event_key,
        orders.person_id,
        'refunds' as source_stream,
        refunds.refund_key as source_key,
        orders.platform,
        orders.store_id,
        'order_refunded' as event_type,
        'transaction' as event_category,
        refunds.order_key,
        cast(null as {{ dbt.type_string() }}) as product_key,
        coalesce(refunds.refund_reason, 'unknown') as event_status,
        orders.currency,
        refunds.refund_amount as amount,
        coalesce(refunds.refunded_at, orders.updated_at) as occurred_at,
        coalesce(orders.updated_at, refunds.refunded_at) as source_updated_at
    from refunds
    inner join orders on refunds.order_key = orders.order_key

),

checkout_rows as (

    select
        {{ dbt.concat(["'abandoned_checkout:'", 'checkouts.checkout_key']) }} as timeline_event_key,
        persons.person_id,
        'abandoned_checkouts' as source_stream,
        checkouts.checkout_key as source_key,
        checkouts.platform,
        checkouts.store_id,
        'checkout_abandoned' as event_type,
        'cart' as event_category,
        cast(null as {{ dbt.type_string() }}) as order_key,
        cast(null as {{ dbt.type_string() }}) as product_key,
        case when checkouts.is_completed then 'recovered' else 'abandoned' end as event_status,
        checkouts.currency,
        checkouts.total as amount,
        checkouts.created_at as occurred_at,
        coalesce(checkouts.updated_at, checkouts.created_at) as source_updated_at
    from checkouts
    inner join persons
        on persons.record_type = 'abandoned_checkout' and checkouts.checkout_key = persons.source_key

),

event_rows as (

    select
        {{ dbt.concat(["'event:'", 'events.event_key']) }} as timeline_event_key,
        persons.person_id,
        'events' as source_stream,
        events.event_key as source_key,
        events.platform,
        events.store_id,
        coalesce(events.event_type, 'unknown') as event_type,
        case
            when events.event_type in ('email_open', 'email_click', 'sms_reply', 'ticket_opened')
                then 'communication'
            when events.event_type in ('add_to_cart', 'checkout_started') then 'cart'
            else 'behaviour'
        end as event_category,
        cast(null as {{ dbt.type_string() }}) as order_key,
        events.product_key,
        events.url as event_status,
        cast(null as {{ dbt.type_string() }}) as currency,
        events.event_value as amount,
        events.occurred_at,
        events.occurred_at as source_updated_at
    from events
    inner join persons
        on persons.record_type = 'event' and events.event_key = persons.source_key

),

unioned as (

    select * from order_rows
    union all
    select * from refund_rows
    union all
    select * from checkout_rows
    union all
    select * from event_rows

),

final as (

    select
        -- ids
        unioned.timeline_event_key,
        unioned.person_id,
        unioned.source_stream,
        unioned.source_key,
        unioned.platform,
        unioned.store_id,
        unioned.order_key,
        unioned.product_key,

        -- text
        unioned.event_type,
        unioned.event_category,
        unioned.event_status,
        unioned.currency,

        -- numerics
        cast(unioned.amount as {{ dbt.type_numeric() }}) as amount,

        -- timestamps
        unioned.occurred_at,
        unioned.source_updated_at

    from unioned
    where
        unioned.person_id is not null
        and unioned.occurred_at is not null

)

select
    *,
    {{ run_marker() }} as transformed_at
from final
{%- if is_incremental() %}
union all
-- rows of rewritten records that no longer come out: a null row deletes them (post-hook)
select
    previous.timeline_event_key,
    null as person_id,
    null as source_stream,
    null as source_key,
    null as platform,
    null as store_id,
    null as order_key,
    null as product_key,
    null as event_type,
    null as event_category,
    null as event_status,
    null as currency,
    cast(null as {{ dbt.type_numeric() }}) as amount,
    null as occurred_at,
    null as source_updated_at,
    {{ run_marker() }} as transformed_at
from {{ this }} as previous
where
    (
        previous.order_key in (select orders.order_key from orders)
        or (
            previous.source_stream = 'abandoned_checkouts'
            and previous.source_key in (select checkouts.checkout_key from checkouts)
        )
        or (previous.source_stream = 'events' and previous.source_key in (select events.event_key from events))
    )
    and previous.timeline_event_key not in (select final.timeline_event_key from final)
{%- endif %}
order by person_id, occurred_at, timeline_event_key
