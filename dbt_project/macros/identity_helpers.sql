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

{#- The anchor label of an identity-graph record (int_persons_resolved): its time as sortable UTC
    text, "|", its record key. Records are numbered in this order, a person is labelled by its
    lowest, and person_id = md5(label): a record's label must be spelled the same wherever it is
    computed (a fresh record, the anchor of a person kept from the previous run). -#}
{% macro anchor_label(at_column, record_key_column) -%}
    {{ dbt.concat([sortable_timestamp(at_column), "'|'", record_key_column]) }}
{%- endmacro %}

{#- A timestamp as fixed-width UTC text that sorts like the timestamp; null sorts last. -#}
{% macro sortable_timestamp(column) -%}
    {{ return(adapter.dispatch('sortable_timestamp', 'store2crm')(column)) }}
{%- endmacro %}

{% macro postgres__sortable_timestamp(column) -%}
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

{#- Similarity of two strings in [0, 1] (1 = equal; 0 when either is empty): Jaro-Winkler, which
    forgives the swapped and dropped letters of typed names. DuckDB has it built in
    (jaro_winkler_similarity); PostgreSQL has no Jaro-Winkler (fuzzystrmatch has levenshtein,
    soundex, metaphone), so `create_string_similarity_function()` (an on-run-start hook) creates
    `<target schema>.store2crm_jaro_winkler`, the same measure computed the same way, so both
    engines take the same match decisions (DECISIONLOG.md "Running on PostgreSQL"). -#}
{% macro string_similarity(left, right) -%}
    {{ return(adapter.dispatch('string_similarity', 'store2crm')(left, right)) }}
{%- endmacro %}

{% macro duckdb__string_similarity(left, right) -%}
    jaro_winkler_similarity({{ left }}, {{ right }})
{%- endmacro %}

{% macro postgres__string_similarity(left, right) -%}
    {{ target.schema }}.store2crm_jaro_winkler({{ left }}, {{ right }})
{%- endmacro %}

{#- on-run-start hook (dbt_project.yml): creates what string_similarity() calls where the engine
    lacks it. DuckDB: nothing to create (a no-op statement). -#}
{% macro create_string_similarity_function() -%}
    {{ return(adapter.dispatch('create_string_similarity_function', 'store2crm')()) }}
{%- endmacro %}

{% macro duckdb__create_string_similarity_function() -%}
    select 1 as nothing_to_create
{%- endmacro %}

{#- Jaro-Winkler as DuckDB computes it, character by character (not byte by byte): matches are
    equal characters at most max(length) / 2 - 1 positions apart, each character of the second
    string taking the first unmatched equal character of the first string in its window;
    transpositions = half the matched pairs out of order (rounded down);
    jaro = (m / |a| + m / |b| + (m - t) / m) / 3; when jaro > 0.7 it gains
    0.1 * (common prefix, at most 4) * (1 - jaro). Null when either is null, 0 when either is
    empty. Immutable and strict, so the planner may fold it and skips it on nulls. -#}
{% macro postgres__create_string_similarity_function() -%}
    create schema if not exists {{ target.schema }};
    create or replace function {{ target.schema }}.store2crm_jaro_winkler(left_text text, right_text text)
    returns double precision
    language plpgsql immutable strict parallel safe
    as $body$
    declare
        left_chars text[] := string_to_array(left_text, null);
        right_chars text[] := string_to_array(right_text, null);
        left_length integer := char_length(left_text);
        right_length integer := char_length(right_text);
        left_matched boolean[];
        right_matched boolean[];
        window_size integer;
        matches integer := 0;
        transpositions integer := 0;
        prefix integer := 0;
        left_position integer;
        right_position integer;
        jaro double precision;
    begin
        if left_length = 0 or right_length = 0 then
            return 0.0;
        end if;
        window_size := greatest(greatest(left_length, right_length) / 2 - 1, 0);
        left_matched := array_fill(false, array[left_length]);
        right_matched := array_fill(false, array[right_length]);
        for right_position in 1 .. right_length loop
            for left_position in greatest(1, right_position - window_size)
                .. least(left_length, right_position + window_size) loop
                if not left_matched[left_position]
                    and left_chars[left_position] = right_chars[right_position] then
                    left_matched[left_position] := true;
                    right_matched[right_position] := true;
                    matches := matches + 1;
                    exit;
                end if;
            end loop;
        end loop;
        if matches = 0 then
            return 0.0;
        end if;
        left_position := 1;
        for right_position in 1 .. right_length loop
            if right_matched[right_position] then
                while not left_matched[left_position] loop
                    left_position := left_position + 1;
                end loop;
                if left_chars[left_position] <> right_chars[right_position] then
                    transpositions := transpositions + 1;
                end if;
                left_position := left_position + 1;
            end if;
        end loop;
        transpositions := transpositions / 2;
        jaro := (
            cast(matches as double precision) / left_length
            + cast(matches as double precision) / right_length
            + cast(matches - transpositions as double precision) / matches
        ) / cast(3 as double precision);
        if jaro > cast(0.7 as double precision) then
            while prefix < least(left_length, right_length, 4)
                and left_chars[prefix + 1] = right_chars[prefix + 1] loop
                prefix := prefix + 1;
            end loop;
            jaro := jaro + prefix * cast(0.1 as double precision) * (1.0 - jaro);
        end if;
        return jaro;
    end;
    $body$
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
    empty means null. The whitespace class is spelled out: `\s` differs between DuckDB's RE2 and
    PostgreSQL's regex engine (vertical tab, locale-dependent spaces). -#}
{% macro normalize_name(column) -%}
    nullif(trim(regexp_replace(lower({{ column }}), '[ \t\n\r\f]+', ' ', 'g')), '')
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
