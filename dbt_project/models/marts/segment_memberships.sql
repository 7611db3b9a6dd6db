{#- One row per (person, segment) the person is in as of var('as_of_date'). Rules and their
    settings live in var('segments') (dbt_project.yml); qualified_at is when the person met the
    rule (RFM- and rank-based segments: the as-of moment, as they are relative to everyone):
    - loyal: min_orders (3) or more valid orders; qualified at the 3rd one.
    - cart_abandoner: a checkout over min_checkout_total, not completed, created in the last
      max_age_days, with no valid order since; qualified at the latest such checkout.
    - vip: in the top top_share (10%) of customers by net revenue.
    - new: first valid order in the last max_days_since_first_order days.
    - at_risk: RFM recency score <= max_recency_score and frequency score >= min_frequency_score.
    - win_back: RFM recency score <= max_recency_score and frequency score <= max_frequency_score.
    - b2b_buyer: a valid order placed for a company, or a `buyer` role in company_contacts.
    - crm_opted_out: the surviving marketing consent (customer_crm_fields) is the CRM's "no",
      newer than the store's answer; qualified when the CRM value changed. -#}

{%- set as_of = as_of_timestamp() %}
{#- Every segment with a rule below; a segment added to var('segments') needs a rule_<name> CTE. #}
{%- set segment_rules = ['loyal', 'cart_abandoner', 'vip', 'new', 'at_risk', 'win_back', 'b2b_buyer', 'crm_opted_out'] %}
{%- set abandoner_days = segment_setting('cart_abandoner', 'max_age_days') | int %}
{%- set new_days = segment_setting('new', 'max_days_since_first_order') | int %}

with

features as (

    select * from {{ ref('int_customer_features_computed') }}

),

rfm as (

    select * from {{ ref('rfm_scores') }}

),

orders as (

    select * from {{ ref('orders') }}
    where is_valid and person_id is not null and ordered_at < {{ as_of }}

),

checkouts as (

    select
        checkouts.checkout_key,
        checkouts.total,
        checkouts.created_at,
        checkouts.completed_at,
        persons.person_id
    from {{ ref('stg_store__abandoned_checkouts') }} as checkouts
    inner join {{ ref('identity_map') }} as persons
        on persons.record_type = 'abandoned_checkout' and checkouts.checkout_key = persons.source_key

),

company_buyer_links as (

    select
        persons.person_id,
        coalesce(contacts.created_at, contacts.updated_at) as linked_at
    from {{ ref('stg_store__company_contacts') }} as contacts
    inner join {{ ref('identity_map') }} as persons
        on persons.record_type = 'customer' and contacts.customer_key = persons.source_key
    where
        contacts.contact_role = 'buyer'
        and contacts.company_key is not null
        and coalesce(contacts.created_at, contacts.updated_at) < {{ as_of }}

),

rule_loyal as (

    select
        person_id,
        'loyal' as segment_name,
        loyal_qualified_at as qualified_at
    from features
    where count_orders >= {{ segment_setting('loyal', 'min_orders') | int }}

),

rule_cart_abandoner as (

    select
        checkouts.person_id,
        'cart_abandoner' as segment_name,
        max(checkouts.created_at) as qualified_at
    from checkouts
    where
        checkouts.total > {{ segment_setting('cart_abandoner', 'min_checkout_total') }}
        and checkouts.created_at < {{ as_of }}
        and checkouts.created_at >= {{ dbt.dateadd('day', -1 * abandoner_days, as_of) }}
        and (checkouts.completed_at is null or checkouts.completed_at >= {{ as_of }})
        and not exists (
            select orders.order_key
            from orders
            where
                orders.person_id = checkouts.person_id
                and orders.ordered_at >= checkouts.created_at
        )
    group by checkouts.person_id

),

rule_vip as (

    select
        person_id,
        'vip' as segment_name,
        as_of_at as qualified_at
    from rfm
    where
        spend_rank_share < {{ segment_setting('vip', 'top_share') }}
        and total_revenue > 0

),

rule_new as (

    select
        person_id,
        'new' as segment_name,
        first_order_at as qualified_at
    from features
    where first_order_at >= {{ dbt.dateadd('day', -1 * new_days, as_of) }}

),

rule_at_risk as (

    select
        person_id,
        'at_risk' as segment_name,
        as_of_at as qualified_at
    from rfm
    where
        recency_score <= {{ segment_setting('at_risk', 'max_recency_score') | int }}
        and frequency_score >= {{ segment_setting('at_risk', 'min_frequency_score') | int }}

),

rule_win_back as (

    select
        person_id,
        'win_back' as segment_name,
        as_of_at as qualified_at
    from rfm
    where
        recency_score <= {{ segment_setting('win_back', 'max_recency_score') | int }}
        and frequency_score <= {{ segment_setting('win_back', 'max_frequency_score') | int }}

),

b2b_links as (

    select
        person_id,
        ordered_at as qualified_at
    from orders
    where company_key is not null

    union all

    select
        person_id,
        linked_at as qualified_at
    from company_buyer_links

),

rule_b2b_buyer as (

    select
        person_id,
        'b2b_buyer' as segment_name,
        min(qualified_at) as qualified_at
    from b2b_links
    group by person_id

),

rule_crm_opted_out as (

    select
        person_id,
        'crm_opted_out' as segment_name,
        crm_consent_at as qualified_at
    from {{ ref('customer_crm_fields') }}
    where
        marketing_consent_source = 'crm'
        and not has_marketing_consent
        and crm_consent_at < {{ as_of }}

),

memberships as (

    {%- for segment in segment_rules if segment_enabled(segment) %}
    select
        person_id,
        segment_name,
        qualified_at
    from rule_{{ segment }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as timestamp with time zone) as qualified_at
    where false
    {%- endfor %}

),

final as (

    select
        {{ dbt.concat(['person_id', "':'", 'segment_name']) }} as segment_membership_key,
        person_id,
        segment_name,
        cast(qualified_at as timestamp with time zone) as qualified_at,
        {{ as_of }} as as_of_at
    from memberships

)

select * from final
