{#- One row per customer account or order that carries a full name and a postal address: the
    fields probabilistic matching compares, normalised (lower-cased, trimmed, spaces collapsed;
    postcode upper-cased without spaces), the blocking key (postcode + house number) and a
    profile key (md5 of the normalised fields) shared by records that read exactly alike. -#}

with

customers as (

    select
        {{ dbt.concat(["'customer:'", 'customer_key']) }} as record_key,
        'customer' as record_type,
        customer_key as source_key,
        platform,
        store_id,
        created_at as record_at,
        coalesce(first_name, {{ json_text('default_address', 'first_name') }}) as first_name,
        coalesce(last_name, {{ json_text('default_address', 'last_name') }}) as last_name,
        {{ json_text('default_address', 'address1') }} as address_line,
        {{ json_text('default_address', 'postcode') }} as postcode,
        cast(birthdate as {{ dbt.type_string() }}) as birthdate
    from {{ ref('stg_store__customers') }}

),

orders as (

    select
        {{ dbt.concat(["'order:'", 'order_key']) }} as record_key,
        'order' as record_type,
        order_key as source_key,
        platform,
        store_id,
        created_at as record_at,
        billing_first_name as first_name,
        billing_last_name as last_name,
        {{ json_text('billing_address', 'address1') }} as address_line,
        {{ json_text('billing_address', 'postcode') }} as postcode,
        cast(null as {{ dbt.type_string() }}) as birthdate
    from {{ ref('stg_store__orders') }}

),

records as (

    select * from customers
    union all
    select * from orders

),

normalized as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        {{ normalize_name('first_name') }} as first_name,
        {{ normalize_name('last_name') }} as last_name,
        {{ normalize_name('address_line') }} as address_line,
        upper(replace(trim(postcode), ' ', '')) as postcode,
        nullif(trim(birthdate), '') as birthdate
    from records

),

usable as (

    select
        *,
        {{ digits_only('address_line') }} as house_number
    from normalized
    where
        first_name is not null and last_name is not null
        and address_line is not null and postcode is not null and postcode != ''

),

final as (

    select
        record_key,
        record_type,
        source_key,
        platform,
        store_id,
        record_at,
        {{ dbt.hash(dbt.concat([
            'first_name', "'|'", 'last_name', "'|'", 'address_line', "'|'", 'postcode', "'|'",
            "coalesce(birthdate, '')",
        ])) }} as profile_key,
        {{ dbt.concat(['postcode', "'|'", 'house_number']) }} as block_key,
        first_name,
        last_name,
        address_line,
        postcode,
        birthdate
    from usable
    -- a house number is what tells two addresses on one street apart: no number, no block
    where house_number != ''

)

select * from final
