-- Convergence of identity resolution: records that share an identifier must end up as one
-- person. Any row here means var('identity_max_passes') was too small for the data.
with

identifiers as (

    select
        record_key,
        identifier_key
    from {{ ref('int_identifiers_normalized') }}

),

persons as (

    select
        record_key,
        person_id
    from {{ ref('int_persons_resolved') }}

)

select
    identifiers.identifier_key,
    count(distinct persons.person_id) as count_persons
from identifiers
inner join persons on identifiers.record_key = persons.record_key
group by identifiers.identifier_key
having count(distinct persons.person_id) > 1
