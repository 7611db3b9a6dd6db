{#- One row per person with a valid order before var('as_of_date'): churn probability,
    expected orders and predicted customer lifetime value (revenue) over
    var('score_horizon_days') (365), and the probability of an order within
    var('next_purchase_window_days') (30).

    Method: MBG/NBD (Batislam, Denizel and Filiztekin 2007; the BG/NBD of Fader, Hardie and Lee
    2005 that also lets a one-time buyer drop out) for the purchase process and Gamma-Gamma
    (Fader, Hardie and Lee 2005, "RFM and CLV") for order value, in closed form in SQL:
    - shapes r, a, b (MBG/NBD) and p, q (Gamma-Gamma) come from var('score_priors');
    - scales are fitted to the cohort as of the date by the first moment: alpha so the prior
      mean purchase rate r / alpha equals the pooled repeat rate (repeat orders / customer days),
      gamma so the prior mean order value p * gamma / (q - 1) equals the mean repeat order value;
    - P(alive) = 1 / (1 + a / (b + x) * ((alpha + T) / (alpha + t_x)) ^ (r + x)) (exact);
    - next purchase in W days = P(alive) * (1 - ((alpha + T) / (alpha + T + W)) ^ (r + x)) (exact:
      a customer can only drop out right after a purchase);
    - expected orders in H days = P(alive) * (1 - exp(-lambda * d * H)) / d, with the posterior
      means lambda = (r + x) / (alpha + T) and d = a / (a + b + x) plugged in (an approximation of
      the hypergeometric closed form);
    - expected order value = p * (gamma + x * m) / (p * x + q - 1) (Gamma-Gamma posterior mean).
    x = repeat orders, t_x = days from first to last order, T = days from first order to the
    as-of date, m = mean net value of the repeat orders. -#}

{%- set float = dbt.type_float() %}
{%- set r = score_prior('r') %}
{%- set a = score_prior('a') %}
{%- set b = score_prior('b') %}
{%- set p = score_prior('p') %}
{%- set q = score_prior('q') %}
{%- set horizon = var('score_horizon_days') | int %}
{%- set window = var('next_purchase_window_days') | int %}

with

features as (

    select
        person_id,
        as_of_at,
        cast(count_repeat_orders as {{ float }}) as x,
        cast(repeat_span_days as {{ float }}) as t_x,
        cast(tenure_days as {{ float }}) as tenure,
        cast(coalesce(avg_repeat_order_value, 0) as {{ float }}) as m,
        cast(avg_order_value as {{ float }}) as avg_order_value
    from {{ ref('int_customer_features_computed') }}

),

cohort as (

    select
        -- pooled repeat-purchase rate per day, smoothed so a cohort without repeats stays finite
        (sum(x) + 1) / (sum(tenure) + 1) as repeat_rate_per_day,
        coalesce(
            sum(case when x > 0 then m * x end) / nullif(sum(x), 0),
            avg(avg_order_value),
            0
        ) as mean_order_value
    from features

),

parameters as (

    select
        {{ r }} / repeat_rate_per_day as alpha,
        ({{ q }} - 1) * mean_order_value / {{ p }} as gamma
    from cohort

),

alive as (

    select
        features.*,
        parameters.alpha,
        parameters.gamma,
        1 / (
            1 + {{ a }} / ({{ b }} + features.x)
            * power(
                (parameters.alpha + features.tenure) / (parameters.alpha + features.t_x),
                {{ r }} + features.x
            )
        ) as probability_alive,
        ({{ r }} + features.x) / (parameters.alpha + features.tenure) as purchase_rate_per_day,
        {{ a }} / ({{ a }} + {{ b }} + features.x) as dropout_per_order
    from features
    cross join parameters

),

scored as (

    select
        *,
        probability_alive
        * (1 - power(
            (alpha + tenure) / (alpha + tenure + {{ window }}),
            {{ r }} + x
        )) as next_purchase_probability,
        probability_alive
        * (1 - exp(-purchase_rate_per_day * dropout_per_order * {{ horizon }}))
        / dropout_per_order as expected_orders,
        {{ p }} * (gamma + x * m) / ({{ p }} * x + {{ q }} - 1) as expected_order_value
    from alive

),

final as (

    select
        -- ids
        person_id,

        -- text
        'mbg_nbd_gamma_gamma' as score_method,

        -- numerics
        cast(x as {{ dbt.type_int() }}) as count_repeat_orders,
        t_x as repeat_span_days,
        tenure as tenure_days,
        purchase_rate_per_day,
        probability_alive,
        1 - probability_alive as churn_probability,
        next_purchase_probability,
        {{ window }} as next_purchase_window_days,
        expected_orders,
        expected_order_value,
        expected_orders * expected_order_value as predicted_clv,
        {{ horizon }} as clv_horizon_days,
        alpha as fitted_alpha_days,
        gamma as fitted_gamma,

        -- timestamps
        as_of_at

    from scored

)

select * from final
