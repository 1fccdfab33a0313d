-- tca_agg: tca_child metrics of trading date $date aggregated by venue, day, symbol, order type,
-- size bucket (child qty, shares) and router policy, in long format (dimension, key, metric).
-- null metric values are left out (n counts the values used). ci: normal 95% interval of the mean,
-- mean +- 1.96 * sd / sqrt(n), null below n = 2. signs as in tca_child.
with
base as (
    select
        venue,
        strftime(date, '%Y-%m-%d') as day,
        symbol,
        order_type,
        case
            when qty < 500 then '0000-0499'
            when qty < 2000 then '0500-1999'
            when qty < 10000 then '2000-9999'
            else '10000+'
        end as size_bucket,
        router_policy,
        arrival_slippage_bps,
        markout_1s_bps,
        markout_5s_bps,
        markout_30s_bps,
        markout_60s_bps,
        fill_rate,
        price_improvement_bps,
        effective_spread_bps
    from tca_child
    where date = $date
),
by_dimension as (
    unpivot base
    on venue, day, symbol, order_type, size_bucket, router_policy
    into name dimension value key
),
long as (
    unpivot by_dimension
    on arrival_slippage_bps, markout_1s_bps, markout_5s_bps, markout_30s_bps, markout_60s_bps,
        fill_rate, price_improvement_bps, effective_spread_bps
    into name metric value value
),
stats as (
    select
        dimension,
        key,
        metric,
        count(value) as n,
        avg(value) as mean,
        median(value) as median,
        quantile_cont(value, 0.95) as p95,
        stddev_samp(value) as sd
    from long
    group by dimension, key, metric
)
select
    dimension,
    key,
    metric,
    n,
    mean,
    median,
    p95,
    sd,
    case when n >= 2 then mean - 1.96 * sd / sqrt(n) end as ci_low,
    case when n >= 2 then mean + 1.96 * sd / sqrt(n) end as ci_high
from stats
order by dimension, key, metric
