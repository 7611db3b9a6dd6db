{#- One row per (company, ancestor), the company itself included at levels_up = 0: the closure of
    the parent links in `companies`, unrolled to var('company_hierarchy_max_depth') levels (no
    recursive CTE, so any engine runs it). A chain stops where it would come back to the company
    (a cycle in the store's data). -#}

{%- set max_depth = var('company_hierarchy_max_depth', 8) | int %}

with

companies as (

    select
        company_key,
        parent_company_key
    from {{ ref('companies') }}

),

level_0 as (

    select
        company_key,
        company_key as ancestor_company_key,
        0 as levels_up,
        parent_company_key as next_company_key
    from companies

),
{%- for level in range(1, max_depth + 1) %}

level_{{ level }} as (

    select
        previous.company_key,
        parents.company_key as ancestor_company_key,
        {{ level }} as levels_up,
        parents.parent_company_key as next_company_key
    from level_{{ level - 1 }} as previous
    inner join companies as parents on previous.next_company_key = parents.company_key
    where parents.company_key != previous.company_key

),
{%- endfor %}

unioned as (

    {%- for level in range(0, max_depth + 1) %}
    select
        company_key,
        ancestor_company_key,
        levels_up,
        next_company_key
    from level_{{ level }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        company_key,
        ancestor_company_key,
        min(levels_up) as levels_up,
        -- the ancestor has no parent: it is the top of the company's tree
        max(case when next_company_key is null then 1 else 0 end) = 1 as is_root_ancestor
    from unioned
    group by company_key, ancestor_company_key

)

select * from final
