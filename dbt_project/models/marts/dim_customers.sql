{#- One row per person (see int_persons_resolved) who is a customer or prospect: anyone with an
    account, an order, an abandoned checkout, or an email seen on an event. Pure anonymous
    browsers stay in identity_map only.

    Survivorship, per field: the value from a registered account first, then from any other
    account record, then orders, then abandoned checkouts, then events; within each, the most
    recently updated record; null values never win, nor do emails and phones that identity
    resolution refused as links (blocklisted or over the cap: they belong to nobody).
    The rule of each column is in dim_customers.yml and DECISIONLOG.md.

    Category affinity: the person's top category in customer_category_affinity (rank 1) and its
    share of their spend. Consent carries its time and the account it came from (the store's
    answer; customer_crm_fields weighs it against the CRM's): the account's
    marketing_consent_updated_at where the platform records one (Shopify), else its updated_at.

    Incremental (delete+insert on person_id; DECISIONLOG.md "Incremental builds"): a run
    recomputes the people with a record identity resolution rewrote since it last ran (every
    changed record is one), with an order rewritten in orders, with a company_contacts link
    (few), or whose top category differs from the table's (a product moved category), and
    drops people who no longer exist (a null row, deleted by the post-hook). -#}

{{ config(
    materialized='incremental',
    unique_key='person_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    post_hook="delete from {{ this }} where count_orders is null",
) }}

with

all_persons as (

    select
        record_key,
        source_key,
        record_type,
        person_id,
        transformed_at
    from {{ ref('int_persons_resolved') }}

),

-- the category each person spends most in (customer_category_affinity rank 1)
top_categories as (

    select
        person_id,
        category as top_category,
        spend_share as top_category_spend_share
    from {{ ref('customer_category_affinity') }}
    where affinity_rank = 1

),
{%- if is_incremental() %}

batch_persons {{ materialized_cte() }} (

    select person_id
    from all_persons
    where transformed_at > {{ previous_run_marker() }}
    union
    select person_id
    from {{ ref('orders') }}
    where transformed_at > {{ previous_run_marker() }} and person_id is not null
    union
    select all_persons.person_id
    from {{ ref('stg_store__company_contacts') }} as company_contacts
    inner join all_persons
        on all_persons.record_type = 'customer' and company_contacts.customer_key = all_persons.source_key
    union
    -- people whose top category moved without an order of theirs changing (a product's category)
    select top_categories.person_id
    from top_categories
    left join {{ this }} as previous on top_categories.person_id = previous.person_id
    where
        previous.person_id is null
        or previous.top_category is null
        or top_categories.top_category != previous.top_category
        or top_categories.top_category_spend_share != previous.top_category_spend_share
    union
    select previous.person_id
    from {{ this }} as previous
    left join top_categories on previous.person_id = top_categories.person_id
    where previous.top_category is not null and top_categories.person_id is null
    union
    -- people who no longer exist
    select previous.person_id
    from {{ this }} as previous
    left join (select distinct person_id from all_persons) as current_persons
        on previous.person_id = current_persons.person_id
    where current_persons.person_id is null

),

persons as (

    select all_persons.*
    from all_persons
    inner join batch_persons on all_persons.person_id = batch_persons.person_id

),
{%- else %}

persons as (

    select * from all_persons

),
{%- endif %}

customers as (

    select * from {{ ref('stg_store__customers') }}

),

orders as (

    select * from {{ ref('stg_store__orders') }}

),

checkouts as (

    select * from {{ ref('stg_store__abandoned_checkouts') }}

),

events as (

    select * from {{ ref('stg_store__events') }}

),

-- identifiers that are not links (junk, or shared by too many) never become contact details
refused_identifiers as (

    select distinct identifier_key
    from {{ ref('int_identifiers_normalized') }}
    where not is_link and identifier_type in ('email', 'phone')

),

company_contacts as (

    select * from {{ ref('stg_store__company_contacts') }}

),

order_facts as (

    select * from {{ ref('orders') }}
    {%- if is_incremental() %}
    where person_id in (select batch_persons.person_id from batch_persons)
    {%- endif %}

),

-- every record's contribution to the person's attributes, with its survivorship rank
candidates as (

    select
        persons.person_id,
        case when customers.is_registered then 1 else 2 end as source_priority,
        customers.updated_at as recency_at,
        persons.record_key,
        customers.email,
        customers.first_name,
        customers.last_name,
        customers.phone,
        customers.city,
        customers.country,
        customers.has_marketing_consent,
        customers.is_registered,
        customers.company_key,
        cast(customers.birthdate as {{ dbt.type_string() }}) as birthdate,
        coalesce(customers.marketing_consent_updated_at, customers.updated_at) as consent_updated_at,
        customers.updated_at
    from customers
    inner join persons
        on persons.record_type = 'customer' and customers.customer_key = persons.source_key

    union all

    select
        persons.person_id,
        3 as source_priority,
        coalesce(orders.updated_at, orders.created_at) as recency_at,
        persons.record_key,
        coalesce(orders.email, orders.billing_email) as email,
        orders.billing_first_name as first_name,
        orders.billing_last_name as last_name,
        coalesce(orders.phone, orders.billing_phone) as phone,
        orders.billing_city as city,
        orders.billing_country as country,
        null as has_marketing_consent,
        false as is_registered,
        orders.company_key,
        null as birthdate,
        null as consent_updated_at,
        orders.updated_at
    from orders
    inner join persons
        on persons.record_type = 'order' and orders.order_key = persons.source_key

    union all

    select
        persons.person_id,
        4 as source_priority,
        coalesce(checkouts.updated_at, checkouts.created_at) as recency_at,
        persons.record_key,
        checkouts.email,
        null as first_name,
        null as last_name,
        checkouts.phone,
        null as city,
        null as country,
        null as has_marketing_consent,
        false as is_registered,
        null as company_key,
        null as birthdate,
        null as consent_updated_at,
        checkouts.updated_at
    from checkouts
    inner join persons
        on persons.record_type = 'abandoned_checkout' and checkouts.checkout_key = persons.source_key

    union all

    select
        persons.person_id,
        5 as source_priority,
        events.occurred_at as recency_at,
        persons.record_key,
        events.email,
        null as first_name,
        null as last_name,
        null as phone,
        null as city,
        null as country,
        null as has_marketing_consent,
        false as is_registered,
        null as company_key,
        null as birthdate,
        null as consent_updated_at,
        events.occurred_at as updated_at
    from events
    inner join persons
        on persons.record_type = 'event' and events.event_key = persons.source_key
    where {{ normalize_email('events.email') }} is not null

),

normalized as (

    select
        *,
        {{ normalize_email('email') }} as matched_email,
        {{ normalize_phone('phone') }} as e164_phone
    from candidates

),

cleaned as (

    select
        normalized.person_id,
        normalized.source_priority,
        normalized.recency_at,
        normalized.record_key,
        case
            when
                normalized.matched_email is not null
                and not {{ is_junk_identifier("'email'", 'normalized.matched_email') }}
                and refused_emails.identifier_key is null
                then lower(trim(normalized.email))
        end as email,
        nullif(trim(normalized.first_name), '') as first_name,
        nullif(trim(normalized.last_name), '') as last_name,
        case
            when
                not {{ is_junk_identifier("'phone'", 'normalized.e164_phone') }}
                and refused_phones.identifier_key is null
                then normalized.e164_phone
        end as phone,
        nullif(trim(normalized.city), '') as city,
        nullif(upper(trim(normalized.country)), '') as country,
        normalized.has_marketing_consent,
        -- the record that answered the consent question, to date the answer
        case
            when normalized.has_marketing_consent is not null then normalized.record_key
        end as consent_record_key,
        normalized.is_registered,
        normalized.company_key,
        nullif(trim(normalized.birthdate), '') as birthdate,
        normalized.consent_updated_at,
        normalized.updated_at
    from normalized
    left join refused_identifiers as refused_emails
        on {{ dbt.concat(["'email:'", 'normalized.matched_email']) }} = refused_emails.identifier_key
    left join refused_identifiers as refused_phones
        on {{ dbt.concat(["'phone:'", 'normalized.e164_phone']) }} = refused_phones.identifier_key

),

{%- set survivor_order = 'source_priority, recency_at desc nulls last, record_key' %}

survivors as (

    select
        person_id,
        {{ first_non_null('email', survivor_order) }} as email,
        {{ first_non_null('first_name', survivor_order) }} as first_name,
        {{ first_non_null('last_name', survivor_order) }} as last_name,
        {{ first_non_null('phone', survivor_order) }} as phone,
        {{ first_non_null('city', survivor_order) }} as city,
        {{ first_non_null('country', survivor_order) }} as country,
        {{ first_non_null('has_marketing_consent', survivor_order) }} as has_marketing_consent,
        {{ first_non_null('consent_record_key', survivor_order) }} as marketing_consent_record_key,
        {{ first_non_null('company_key', survivor_order) }} as account_company_key,
        {{ first_non_null('birthdate', survivor_order) }} as birthdate,
        max(case when is_registered then 1 else 0 end) = 1 as is_registered,
        max(updated_at) as updated_at
    from cleaned
    group by person_id

),

-- B2B link through the company_contacts stream, for people whose account has no company_id
contact_companies as (

    select
        persons.person_id,
        {{ first_non_null(
            'company_contacts.company_key',
            'company_contacts.updated_at desc nulls last, company_contacts.company_key',
        ) }} as company_key
    from company_contacts
    inner join persons
        on persons.record_type = 'customer' and company_contacts.customer_key = persons.source_key
    group by persons.person_id

),

order_companies as (

    select
        person_id,
        {{ first_non_null('company_key', 'ordered_at desc nulls last, order_key') }} as company_key
    from order_facts
    where person_id is not null
    group by person_id

),

order_totals as (

    select
        person_id,
        count(*) as count_orders,
        sum(net_revenue) as total_revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from order_facts
    where is_valid and person_id is not null
    group by person_id

),

final as (

    select
        -- ids
        survivors.person_id,
        coalesce(
            survivors.account_company_key, contact_companies.company_key, order_companies.company_key
        ) as company_key,
        survivors.marketing_consent_record_key,

        -- text
        survivors.email,
        survivors.first_name,
        survivors.last_name,
        survivors.phone,
        survivors.city,
        survivors.country,
        survivors.birthdate,
        top_categories.top_category,

        -- numerics
        coalesce(order_totals.count_orders, 0) as count_orders,
        coalesce(order_totals.total_revenue, 0) as total_revenue,
        case
            when order_totals.count_orders > 0
                then round(order_totals.total_revenue / order_totals.count_orders, 2)
        end as average_order_value,
        top_categories.top_category_spend_share,

        -- booleans
        survivors.has_marketing_consent,
        survivors.is_registered,

        -- timestamps
        consent_records.consent_updated_at as marketing_consent_at,
        order_totals.first_order_at,
        order_totals.last_order_at,
        survivors.updated_at,
        {{ run_marker() }} as transformed_at

    from survivors
    left join cleaned as consent_records
        on survivors.marketing_consent_record_key = consent_records.record_key
    left join top_categories on survivors.person_id = top_categories.person_id
    left join contact_companies on survivors.person_id = contact_companies.person_id
    left join order_companies on survivors.person_id = order_companies.person_id
    left join order_totals on survivors.person_id = order_totals.person_id
    {%- if is_incremental() %}
    union all
    -- a person no longer a customer: a row with null count_orders deletes it (post-hook)
    select
        batch_persons.person_id,
        null as company_key,
        null as marketing_consent_record_key,
        null as email,
        null as first_name,
        null as last_name,
        null as phone,
        null as city,
        null as country,
        null as birthdate,
        null as top_category,
        null as count_orders,
        null as total_revenue,
        null as average_order_value,
        null as top_category_spend_share,
        null as has_marketing_consent,
        null as is_registered,
        null as marketing_consent_at,
        null as first_order_at,
        null as last_order_at,
        null as updated_at,
        {{ run_marker() }} as transformed_at
    from batch_persons
    where batch_persons.person_id not in (select survivors.person_id from survivors)
    {%- endif %}

)

select * from final
