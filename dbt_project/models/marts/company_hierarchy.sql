{#- One row per B2B company with its place in the hierarchy (parent company -> subsidiaries ->
    buyers) and its figures twice: its own, and rolled up over itself and every company below
    it (rollup_*). Credit utilisation = credit_used / credit_limit. Pending approvals are orders
    awaiting B2B approval (not cancelled) - open deals in crm_deals. -#}

with

companies as (

    select * from {{ ref('companies') }}

),

ancestors as (

    select * from {{ ref('int_company_ancestors_listed') }}

),

buyers as (

    select * from {{ ref('company_buyers') }}

),

pending as (

    select
        company_key,
        count(*) as count_pending_approvals,
        sum(coalesce(total, 0)) as pending_approval_amount
    from {{ ref('orders') }}
    where approval_status = 'pending' and not is_cancelled and company_key is not null
    group by company_key

),

own as (

    select
        companies.company_key,
        companies.count_orders,
        companies.total_revenue,
        coalesce(companies.credit_limit, 0) as credit_limit,
        coalesce(companies.credit_used, 0) as credit_used,
        coalesce(pending.count_pending_approvals, 0) as count_pending_approvals,
        coalesce(pending.pending_approval_amount, 0) as pending_approval_amount
    from companies
    left join pending on companies.company_key = pending.company_key

),

positions as (

    select
        ancestors.company_key,
        max(case when ancestors.is_root_ancestor then ancestors.ancestor_company_key end) as root_company_key,
        max(case when ancestors.is_root_ancestor then ancestors.levels_up end) as hierarchy_depth,
        {{ dbt.listagg(
            'parents.company_name', "' > '", 'order by ancestors.levels_up desc nulls last'
        ) }} as hierarchy_path
    from ancestors
    inner join companies as parents on ancestors.ancestor_company_key = parents.company_key
    group by ancestors.company_key

),

-- every company's own figures, counted once for itself and once for each company above it
rollups as (

    select
        ancestors.ancestor_company_key as company_key,
        count(*) - 1 as count_descendants,
        sum(case when ancestors.levels_up = 1 then 1 else 0 end) as count_direct_subsidiaries,
        sum(own.count_orders) as rollup_count_orders,
        sum(own.total_revenue) as rollup_total_revenue,
        sum(own.credit_limit) as rollup_credit_limit,
        sum(own.credit_used) as rollup_credit_used,
        sum(own.count_pending_approvals) as rollup_count_pending_approvals,
        sum(own.pending_approval_amount) as rollup_pending_approval_amount
    from ancestors
    inner join own on ancestors.company_key = own.company_key
    group by ancestors.ancestor_company_key

),

buyer_rollups as (

    select
        ancestors.ancestor_company_key as company_key,
        count(distinct case when ancestors.levels_up = 0 then buyers.person_id end) as count_buyers,
        count(distinct buyers.person_id) as rollup_count_buyers
    from ancestors
    inner join buyers on ancestors.company_key = buyers.company_key
    group by ancestors.ancestor_company_key

),

final as (

    select
        -- ids
        companies.company_key,
        companies.parent_company_key,
        positions.root_company_key,

        -- text
        companies.company_name,
        positions.hierarchy_path,
        companies.price_tier,
        companies.payment_terms,

        -- numerics
        positions.hierarchy_depth,
        rollups.count_direct_subsidiaries,
        rollups.count_descendants,
        own.count_orders,
        own.total_revenue,
        coalesce(buyer_rollups.count_buyers, 0) as count_buyers,
        own.count_pending_approvals,
        own.pending_approval_amount,
        companies.credit_limit,
        companies.credit_used,
        companies.credit_limit - companies.credit_used as credit_available,
        companies.credit_used / nullif(companies.credit_limit, 0) as credit_utilisation,
        rollups.rollup_count_orders,
        rollups.rollup_total_revenue,
        coalesce(buyer_rollups.rollup_count_buyers, 0) as rollup_count_buyers,
        rollups.rollup_count_pending_approvals,
        rollups.rollup_pending_approval_amount,
        rollups.rollup_credit_limit,
        rollups.rollup_credit_used,
        rollups.rollup_credit_used / nullif(rollups.rollup_credit_limit, 0) as rollup_credit_utilisation,

        -- booleans
        companies.parent_company_key is null as is_root,

        -- timestamps
        companies.last_order_at,
        companies.updated_at

    from companies
    inner join own on companies.company_key = own.company_key
    left join positions on companies.company_key = positions.company_key
    left join rollups on companies.company_key = rollups.company_key
    left join buyer_rollups on companies.company_key = buyer_rollups.company_key

)

select * from final
