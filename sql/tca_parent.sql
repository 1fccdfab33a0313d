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
with_arrival as (
    select e.*, q.mid_px as arrival_mid
    from ends as e
    asof left join quotes as q on e.symbol = q.symbol and e.arrival_ns >= q.ts_ns
),
with_end as (
    select w.*, q.mid_px as end_mid
    from with_arrival as w
    asof left join quotes as q on w.symbol = q.symbol and w.end_ns >= q.ts_ns
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
