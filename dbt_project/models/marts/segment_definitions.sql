{#- One row per segment defined in var('segments') (dbt_project.yml), the one place segment
    rules are edited: name, whether it is on, what it means and its settings. -#}

{%- set segments = var('segments', {}) %}

with

definitions as (

    {%- for name, settings in segments.items() | sort %}
        {%- set parameters = {} %}
        {%- for key, value in settings.items() if key not in ('enabled', 'description') %}
            {%- do parameters.update({key: value}) %}
        {%- endfor %}
    select
        '{{ name }}' as segment_name,
        '{{ settings.get("description", "") | replace("'", "''") }}' as segment_description,
        '{{ tojson(parameters, sort_keys=true) | replace("'", "''") }}' as segment_settings,
        {{ 'true' if segment_enabled(name) else 'false' }} as is_enabled
        {%- if not loop.last %}
    union all
        {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_name,
        cast(null as {{ dbt.type_string() }}) as segment_description,
        cast(null as {{ dbt.type_string() }}) as segment_settings,
        false as is_enabled
    where false
    {%- endfor %}

),

final as (

    select
        cast(segment_name as {{ dbt.type_string() }}) as segment_name,
        cast(segment_description as {{ dbt.type_string() }}) as segment_description,
        cast(segment_settings as {{ dbt.type_string() }}) as segment_settings,
        is_enabled
    from definitions

)

select * from final
