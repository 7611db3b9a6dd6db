{#- The scoring moment of segments, RFM, scores and reorder windows: var('as_of_date') as a UTC
    timestamp (a bare date means its midnight UTC), or now when the var is unset. -#}
{% macro as_of_timestamp() -%}
    {%- set as_of = var('as_of_date', none) -%}
    {%- if as_of is none or (as_of | string | trim | lower) in ('', 'none', 'null', 'today', 'now') -%}
        cast(current_timestamp as timestamp with time zone)
    {%- else -%}
        {%- set text = as_of | string | trim -%}
        {%- if text | length == 10 -%}{%- set text = text ~ ' 00:00:00+00' -%}{%- endif -%}
        cast('{{ text }}' as timestamp with time zone)
    {%- endif -%}
{%- endmacro %}

{#- One setting of a segment rule from var('segments') (dbt_project.yml); fails at compile time
    naming the segment and key when it is missing. -#}
{% macro segment_setting(segment, key) -%}
    {%- set segments = var('segments', {}) -%}
    {%- if segment not in segments or key not in segments[segment] -%}
        {{ exceptions.raise_compiler_error(
            "var('segments') has no setting '" ~ key ~ "' for segment '" ~ segment ~ "'"
        ) }}
    {%- endif -%}
    {{- return(segments[segment][key]) -}}
{%- endmacro %}

{#- Whether a segment is switched on in var('segments') (default on when the key is absent). -#}
{% macro segment_enabled(segment) -%}
    {%- set segments = var('segments', {}) -%}
    {{- return(segment in segments and segments[segment].get('enabled', true)) -}}
{%- endmacro %}

{#- Days (fractional) from `start_at` to `end_at`, through dbt's cross-database datediff. -#}
{% macro days_between(start_at, end_at) -%}
    ({{ dbt.datediff(start_at, end_at, 'second') }} / 86400.0)
{%- endmacro %}

{#- The score priors (shapes) of var('score_priors'), as a float literal. -#}
{% macro score_prior(name) -%}
    cast({{ var('score_priors')[name] }} as {{ dbt.type_float() }})
{%- endmacro %}
