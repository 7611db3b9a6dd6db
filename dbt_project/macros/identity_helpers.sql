{#- Normalised email used to match people: lower-cased and trimmed; for Gmail (and its
    googlemail.com alias) dots and a "+tag" in the local part are dropped, because Gmail
    delivers all those variants to one mailbox. Anything that is not local@domain is null. -#}
{% macro normalize_email(column) -%}
    {%- set cleaned = "lower(trim(" ~ column ~ "))" -%}
    {%- set local_part = dbt.split_part(cleaned, "'@'", 1) -%}
    {%- set domain_part = dbt.split_part(cleaned, "'@'", 2) -%}
    case
        when {{ cleaned }} not like '%_@_%._%' or {{ cleaned }} like '%@%@%' or {{ cleaned }} like '% %'
            then null
        when {{ domain_part }} in ('gmail.com', 'googlemail.com')
            then {{ dbt.concat([
                "replace(" ~ dbt.split_part(local_part, "'+'", 1) ~ ", '.', '')",
                "'@gmail.com'",
            ]) }}
        else {{ cleaned }}
    end
{%- endmacro %}

{#- Digits of a string, everything else removed. -#}
{% macro digits_only(column) -%}
    {{ return(adapter.dispatch('digits_only', 'store2crm')(column)) }}
{%- endmacro %}

{% macro default__digits_only(column) -%}
    regexp_replace({{ column }}, '[^0-9]', '', 'g')
{%- endmacro %}

{#- Phone number in E.164 ("+" and 8 to 15 digits), or null when it cannot be made one.
    An extension ("x12", "ext. 12": everything from the first "x") and a "(0)" trunk marker
    ("+44 (0)20 ...") are dropped. "+<digits>" and "00<digits>" are international;
    otherwise a single trunk "0" is dropped and a national number of
    var('phone_national_number_length') digits gets var('default_phone_country_code');
    a national number already prefixed with that country code is kept. -#}
{% macro normalize_phone(column) -%}
    {%- set country_code = var('default_phone_country_code') | string -%}
    {%- set national_length = var('phone_national_number_length') | int -%}
    {%- set without_extension = dbt.split_part("replace(lower(" ~ column ~ "), '(0)', '')", "'x'", 1) -%}
    {%- set trimmed = "trim(" ~ without_extension ~ ")" -%}
    {%- set digits = digits_only(without_extension) -%}
    {%- set candidate -%}
        case
            when {{ trimmed }} like '+%' then {{ digits }}
            when {{ digits }} like '00%' then substring({{ digits }}, 3)
            when {{ digits }} like '0%' and {{ dbt.length(digits) }} = {{ national_length + 1 }}
                then {{ dbt.concat(["'" ~ country_code ~ "'", "substring(" ~ digits ~ ", 2)"]) }}
            when {{ dbt.length(digits) }} = {{ national_length }}
                then {{ dbt.concat(["'" ~ country_code ~ "'", digits]) }}
            when {{ digits }} like '{{ country_code }}%'
                and {{ dbt.length(digits) }} = {{ national_length + country_code | length }}
                then {{ digits }}
        end
    {%- endset -%}
    case
        when {{ dbt.length(candidate) }} between 8 and 15 and {{ candidate }} not like '0%'
            then {{ dbt.concat(["'+'", candidate]) }}
    end
{%- endmacro %}

{#- A timestamp as fixed-width UTC text that sorts like the timestamp; null sorts last. -#}
{% macro sortable_timestamp(column) -%}
    {{ return(adapter.dispatch('sortable_timestamp', 'store2crm')(column)) }}
{%- endmacro %}

{% macro default__sortable_timestamp(column) -%}
    coalesce(
        to_char({{ column }} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        '9999-12-31T23:59:59.999999'
    )
{%- endmacro %}

{% macro duckdb__sortable_timestamp(column) -%}
    coalesce(
        strftime({{ column }} at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%f'),
        '9999-12-31T23:59:59.999999'
    )
{%- endmacro %}

{#- True when a normalised identifier is junk and must never link records: a value listed in
    var('identity_blocklist') (normalised emails / E.164 phones: test addresses, the store's
    own support mailbox, placeholder numbers), or a phone whose digits after "+<first digit>"
    are one repeated digit (+10000000000, +19999999999). -#}
{% macro is_junk_identifier(type_column, value_column) -%}
    {%- set blocklist = var('identity_blocklist', []) -%}
    (
        {%- if blocklist %}
        {{ value_column }} in (
            {%- for value in blocklist %}'{{ value | lower | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
        ) or
        {%- endif %}
        (
            {{ type_column }} = 'phone'
            and replace(substring({{ value_column }}, 3), substring({{ value_column }}, 3, 1), '') = ''
        )
    )
{%- endmacro %}

{#- Similarity of two strings in [0, 1] (1 = equal). DuckDB: Jaro-Winkler, which forgives
    the swapped and dropped letters of typed names. Elsewhere: 1 - Levenshtein distance /
    longer length (PostgreSQL: needs the fuzzystrmatch extension). -#}
{% macro string_similarity(left, right) -%}
    {{ return(adapter.dispatch('string_similarity', 'store2crm')(left, right)) }}
{%- endmacro %}

{% macro default__string_similarity(left, right) -%}
    (
        1.0 - cast(levenshtein({{ left }}, {{ right }}) as {{ dbt.type_float() }})
        / greatest({{ dbt.length(left) }}, {{ dbt.length(right) }}, 1)
    )
{%- endmacro %}

{% macro duckdb__string_similarity(left, right) -%}
    jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}

{#- The keyword(s) that open a CTE body the engine must compute once and keep (each
    label-propagation pass reads the previous one twice; inlining would repeat work
    exponentially). DuckDB and PostgreSQL 12+: AS MATERIALIZED. -#}
{% macro materialized_cte() -%}
    {{ return(adapter.dispatch('materialized_cte', 'store2crm')()) }}
{%- endmacro %}

{% macro default__materialized_cte() -%}
    as materialized
{%- endmacro %}

{#- A name or address line for comparison: lower-cased, trimmed, runs of spaces made one;
    empty means null. -#}
{% macro normalize_name(column) -%}
    nullif(trim(regexp_replace(lower({{ column }}), '\s+', ' ', 'g')), '')
{%- endmacro %}

{#- The keyword(s) that open a CTE body the engine must inline into each query that reads it
    rather than compute once and keep: for a CTE over a whole large table (an incremental
    model's own table) read by several parts of a query, each of which only needs a few of its
    rows or columns (the filters and joins are pushed into each scan). DuckDB and PostgreSQL
    12+: AS NOT MATERIALIZED. -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'store2crm')()) }}
{%- endmacro %}

{% macro default__inlined_cte() -%}
    as not materialized
{%- endmacro %}
