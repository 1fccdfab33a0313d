-- tca_child: one row per child order of trading date $date.
-- s = +1 buy / -1 sell; mid(t) = nbbo mid of the last row at or before t (asof, never after).
-- receipt = the child's sent_ts (our proxy for the venue's receipt time).
-- signs: arrival slippage + = cost (fees included); markout + = moved our way, - = adverse selection;
-- effective / realized spread + = paid (bps of mid(receipt)); price improvement + = better than far touch;
-- interval vwap slippage + = worse than the market vwap between sent_ts and done_ts.
-- timestamps are compared as epoch_ns integers (timestamptz_ns does not bind + interval).
with
kids as (
    select
        child_id, parent_id, symbol, side, venue, order_type, tif, qty, sent_ts, router_policy, route_rank,
        epoch_ns(sent_ts) as sent_ns,
        epoch_ns(done_ts) as done_ns,
        case when side = 'BUY' then 1.0 else -1.0 end as s
    from child_orders
    where date = $date
),
quotes as (
    select symbol, epoch_ns(ts) as ts_ns, bid_px, ask_px, mid_px
    from nbbo
    where date = $date
),
fill_rows as (
    select f.exec_id, f.child_id, epoch_ns(f.ts) as fill_ns, f.qty, f.px, f.fee_bps, f.liquidity, k.symbol, k.s
    from fills as f
    inner join kids as k on f.child_id = k.child_id
    where f.date = $date
),
horizons as (
    select * from (values (1, 1000000000), (5, 5000000000), (30, 30000000000), (60, 60000000000)) as h (h_s, h_ns)
),
-- every nbbo lookup of the statement in one asof pass over the quotes (one sort of the quotes):
-- h_s = 0: a child's arrival quote at sent_ts (id = child_id); h_s > 0: a fill's mid at fill_ts + h (id = exec_id)
probes as (
    select child_id as id, 0 as h_s, symbol, sent_ns as probe_ns
    from kids
    union all
    select fr.exec_id as id, h.h_s, fr.symbol, fr.fill_ns + h.h_ns as probe_ns
    from fill_rows as fr
    cross join horizons as h
),
probe_quotes as (
    select p.id, p.h_s, q.bid_px, q.ask_px, q.mid_px
    from probes as p
    asof left join quotes as q on p.symbol = q.symbol and p.probe_ns >= q.ts_ns
),
arrival as (
    select id as child_id, mid_px as arrival_mid, bid_px as arrival_bid, ask_px as arrival_ask
    from probe_quotes
    where h_s = 0
),
fill_mids as (
    select
        id as exec_id,
        max(mid_px) filter (where h_s = 1) as mid_1s,
        max(mid_px) filter (where h_s = 5) as mid_5s,
        max(mid_px) filter (where h_s = 30) as mid_30s,
        max(mid_px) filter (where h_s = 60) as mid_60s
    from probe_quotes
    where h_s > 0
    group by id
),
per_fill as (
    select
        fr.child_id, fr.fill_ns, fr.liquidity, fr.fee_bps,
        cast(fr.qty as double) as q,
        fr.px,
        fr.s * (m.mid_1s - fr.px) / fr.px * 1e4 as mk_1s,
        fr.s * (m.mid_5s - fr.px) / fr.px * 1e4 as mk_5s,
        fr.s * (m.mid_30s - fr.px) / fr.px * 1e4 as mk_30s,
        fr.s * (m.mid_60s - fr.px) / fr.px * 1e4 as mk_60s,
        2 * fr.s * (fr.px - a.arrival_mid) / a.arrival_mid * 1e4 as eff_bps,
        2 * fr.s * (fr.px - m.mid_1s) / a.arrival_mid * 1e4 as rs_1s,
        2 * fr.s * (fr.px - m.mid_5s) / a.arrival_mid * 1e4 as rs_5s,
        2 * fr.s * (fr.px - m.mid_60s) / a.arrival_mid * 1e4 as rs_60s,
        fr.s * ((case when fr.s > 0 then a.arrival_ask else a.arrival_bid end) - fr.px) / a.arrival_mid * 1e4
            as pi_bps
    from fill_rows as fr
    inner join arrival as a on fr.child_id = a.child_id
    left join fill_mids as m on fr.exec_id = m.exec_id
),
per_child as (
    select
        child_id,
        sum(q) as filled_q,
        sum(q * px) as notional,
        sum(q * fee_bps) / sum(q) as fee_bps,
        min(fill_ns) as first_fill_ns,
        max(fill_ns) as last_fill_ns,
        sum(q * mk_1s) / sum(case when mk_1s is not null then q end) as markout_1s_bps,
        sum(q * mk_5s) / sum(case when mk_5s is not null then q end) as markout_5s_bps,
        sum(q * mk_30s) / sum(case when mk_30s is not null then q end) as markout_30s_bps,
        sum(q * mk_60s) / sum(case when mk_60s is not null then q end) as markout_60s_bps,
        sum(q * eff_bps) / sum(case when eff_bps is not null then q end) as effective_spread_bps,
        sum(q * rs_1s) / sum(case when rs_1s is not null then q end) as realized_spread_1s_bps,
        sum(q * rs_5s) / sum(case when rs_5s is not null then q end) as realized_spread_5s_bps,
        sum(q * rs_60s) / sum(case when rs_60s is not null then q end) as realized_spread_60s_bps,
        sum(q * pi_bps) / sum(case when pi_bps is not null then q end) as price_improvement_bps,
        coalesce(sum(q) filter (where liquidity = 'ADD'), 0) / sum(q) as add_share,
        coalesce(sum(q) filter (where liquidity = 'REMOVE'), 0) / sum(q) as remove_share,
        coalesce(sum(q) filter (where liquidity = 'MID'), 0) / sum(q) as mid_share
    from per_fill
    group by child_id
),
trade_cum as (
    select
        symbol,
        epoch_ns(ts) as ts_ns,
        sum(cast(qty as double)) over w as cum_qty,
        sum(qty * px) over w as cum_notional
    from trades
    where date = $date
    window w as (partition by symbol order by epoch_ns(ts) range between unbounded preceding and current row)
),
intervals as (
    select k.child_id, k.symbol, k.sent_ns, coalesce(k.done_ns, pc.last_fill_ns, k.sent_ns) as end_ns
    from kids as k
    left join per_child as pc on k.child_id = pc.child_id
),
-- both ends of each interval in one asof pass over the trades: the start takes trades strictly
-- before sent_ts (integer ns: ts_ns <= sent_ns - 1), the end trades at or before end_ns
interval_probes as (
    select child_id, symbol, 0 as at_end, sent_ns - 1 as probe_ns from intervals
    union all
    select child_id, symbol, 1 as at_end, end_ns as probe_ns from intervals
),
interval_cum as (
    select p.child_id, p.at_end, t.cum_qty, t.cum_notional
    from interval_probes as p
    asof left join trade_cum as t on p.symbol = t.symbol and p.probe_ns >= t.ts_ns
),
interval_vwap as (
    select
        child_id,
        (coalesce(max(cum_notional) filter (where at_end = 1), 0)
            - coalesce(max(cum_notional) filter (where at_end = 0), 0))
            / nullif(coalesce(max(cum_qty) filter (where at_end = 1), 0)
                - coalesce(max(cum_qty) filter (where at_end = 0), 0), 0) as vwap
    from interval_cum
    group by child_id
)
select
    k.child_id,
    k.parent_id,
    k.symbol,
    k.side,
    k.venue,
    k.router_policy,
    k.route_rank,
    k.order_type,
    k.tif,
    k.qty,
    k.sent_ts,
    a.arrival_mid,
    pc.notional / pc.filled_q as avg_fill_px,
    cast(coalesce(pc.filled_q, 0) as bigint) as filled_qty,
    coalesce(pc.filled_q, 0) / k.qty as fill_rate,
    coalesce(pc.notional, 0.0) as notional,
    pc.fee_bps,
    k.s * (pc.notional / pc.filled_q - a.arrival_mid) / a.arrival_mid * 1e4 + pc.fee_bps as arrival_slippage_bps,
    (pc.first_fill_ns - k.sent_ns) / 1e9 as time_to_fill_s,
    pc.markout_1s_bps,
    pc.markout_5s_bps,
    pc.markout_30s_bps,
    pc.markout_60s_bps,
    pc.effective_spread_bps,
    pc.realized_spread_1s_bps,
    pc.realized_spread_5s_bps,
    pc.realized_spread_60s_bps,
    pc.price_improvement_bps,
    v.vwap as interval_vwap,
    k.s * (pc.notional / pc.filled_q - v.vwap) / v.vwap * 1e4 as interval_vwap_slippage_bps,
    pc.add_share,
    pc.remove_share,
    pc.mid_share
from kids as k
left join arrival as a on k.child_id = a.child_id
left join per_child as pc on k.child_id = pc.child_id
left join interval_vwap as v on k.child_id = v.child_id
order by k.child_id
