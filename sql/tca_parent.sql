-- tca_parent: one row per parent order of trading date $date (implementation shortfall, perold).
-- s = +1 buy / -1 sell; mid(t) = nbbo mid at or before t. paper notional = qty * arrival_mid.
-- end of order = the latest of the children's done_ts (sent_ts when a child has none) and fill times.
-- execution_cost_bps = s * (filled notional - filled_qty * arrival_mid) / paper * 1e4
-- opportunity_cost_bps = s * (qty - filled_qty) * (end_mid - arrival_mid) / paper * 1e4
-- fees_bps = fees paid (+) or rebated (-) / paper * 1e4
-- implementation_shortfall_bps = execution + opportunity + fees; + = cost.
with
parents as (
    select
        parent_id, symbol, side, qty, order_type, urgency, strategy, arrival_ts,
        epoch_ns(arrival_ts) as arrival_ns,
        case when side = 'BUY' then 1.0 else -1.0 end as s
    from parent_orders
    where date = $date
),
quotes as (
    select symbol, epoch_ns(ts) as ts_ns, mid_px
    from nbbo
    where date = $date
),
kids as (
    select child_id, parent_id, epoch_ns(sent_ts) as sent_ns, epoch_ns(done_ts) as done_ns
    from child_orders
    where date = $date
),
fill_rows as (
    select k.parent_id, epoch_ns(f.ts) as fill_ns, cast(f.qty as double) as q, f.px, f.fee_bps
    from fills as f
    inner join kids as k on f.child_id = k.child_id
    where f.date = $date
),
kid_agg as (
    select parent_id, count(*) as n_children, max(coalesce(done_ns, sent_ns)) as last_done_ns
    from kids
    group by parent_id
),
fill_agg as (
    select
        parent_id,
        sum(q) as filled_q,
        sum(q * px) as notional,
        sum(q * px * fee_bps / 1e4) as fees,
        max(fill_ns) as last_fill_ns
    from fill_rows
    group by parent_id
),
ends as (
    select
        p.*,
        coalesce(ka.n_children, 0) as n_children,
        coalesce(fa.filled_q, 0) as filled_q,
        coalesce(fa.notional, 0) as notional,
        coalesce(fa.fees, 0) as fees,
        greatest(coalesce(ka.last_done_ns, p.arrival_ns), coalesce(fa.last_fill_ns, p.arrival_ns), p.arrival_ns)
            as end_ns
    from parents as p
    left join kid_agg as ka on p.parent_id = ka.parent_id
    left join fill_agg as fa on p.parent_id = fa.parent_id
),
-- arrival and end-of-order mids in one asof pass over the quotes (one sort of the quotes)
mid_probes as (
    select parent_id, symbol, 0 as at_end, arrival_ns as probe_ns from ends
    union all
    select parent_id, symbol, 1 as at_end, end_ns as probe_ns from ends
),
probe_mids as (
    select p.parent_id, p.at_end, q.mid_px
    from mid_probes as p
    asof left join quotes as q on p.symbol = q.symbol and p.probe_ns >= q.ts_ns
),
mids as (
    select
        parent_id,
        max(mid_px) filter (where at_end = 0) as arrival_mid,
        max(mid_px) filter (where at_end = 1) as end_mid
    from probe_mids
    group by parent_id
),
with_end as (
    select e.*, m.arrival_mid, m.end_mid
    from ends as e
    left join mids as m on e.parent_id = m.parent_id
),
costs as (
    select
        *,
        qty * arrival_mid as paper,
        s * (notional - filled_q * arrival_mid) / (qty * arrival_mid) * 1e4 as execution_cost_bps,
        s * (qty - filled_q) * (end_mid - arrival_mid) / (qty * arrival_mid) * 1e4 as opportunity_cost_bps,
        fees / (qty * arrival_mid) * 1e4 as fees_bps
    from with_end
)
select
    parent_id,
    symbol,
    side,
    order_type,
    urgency,
    strategy,
    qty,
    arrival_ts,
    arrival_mid,
    end_mid,
    cast(filled_q as bigint) as filled_qty,
    filled_q / qty as fill_rate,
    notional,
    notional / nullif(filled_q, 0) as avg_fill_px,
    fees,
    fees_bps,
    execution_cost_bps,
    opportunity_cost_bps,
    execution_cost_bps + opportunity_cost_bps + fees_bps as implementation_shortfall_bps,
    n_children,
    (end_ns - arrival_ns) / 1e9 as duration_s
from costs
order by parent_id
