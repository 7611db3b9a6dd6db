-- Convergence of identity resolution: records that share a link (a usable identifier or an
-- accepted name + address match) must end up as one person. Any row here means
-- var('identity_max_passes') was too small for the data.
with

links as (

    select
        record_key,
        link_key
    from {{ ref('int_identity_links') }}

),

persons as (

    select
        record_key,
        person_id
    from {{ ref('int_persons_resolved') }}

)

select
    links.link_key,
    count(distinct persons.person_id) as count_persons
from links
inner join persons on links.record_key = persons.record_key
group by links.link_key
having count(distinct persons.person_id) > 1
