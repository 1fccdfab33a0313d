"""Rule 605-style venue execution quality: computation, the legacy pipe-delimited export, and ONE reader.

Legacy layout (26 fields, ``|``-separated, no header; see ../shared/data/real/README.md): participant,
market center, YYYYMM, symbol, order type (11 market, 12 marketable limit, 13 inside-the-quote limit, 14
at-the-quote limit, 15 near-the-quote limit), size bucket (21 = 100–499 shares, 22 = 500–1999, 23 =
2000–4999, 24 = 5000–9999), covered orders, covered shares, cancelled shares, shares executed at the market
center, shares executed away, shares executed in 0–9 s, 10–29 s, 30–59 s, 60–299 s, 5–30 min, average
realized spread, average effective spread, price-improved shares, average price improvement per share,
its average time (s), at-the-quote shares, their average time, outside-the-quote shares, average amount
outside per share, average time. Spreads and amounts are $ per share; empty = not applicable.

Our mapping: the market center is the venue a child order was routed to, a covered order is a child
order of 100–9,999 shares, classified at receipt (= ``sent_ts``) against the NBBO: MKT -> 11; a limit
at or through the far touch -> 12; strictly inside the spread -> 13; at the near touch -> 14; up to
$0.10 away from the near touch -> 15; anything else is not covered. Venues do not re-route our child
orders, so "executed away" is 0 (the SOR re-routes a remainder as a new child order). Realized spread is
the legacy 5-minute one; the report also shows 50 ms, 1 s, 15 s and 1 min. Spreads are share-weighted
over fills, signs as in :mod:`sor_pipeline.reporting.executions` (+ = paid; price improvement > 0 = better).
As in real reports, order types 13–15 leave the effective spread and the price-improvement fields empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.executions import HORIZONS, PX_EPS
from sor_pipeline.reporting.tables import wavg

PARTICIPANT = "SOR"
NEAR_QUOTE_USD = 0.10
ORDER_TYPE_NAMES = {11: "market", 12: "marketable limit", 13: "inside-the-quote limit", 14: "at-the-quote limit",
                    15: "near-the-quote limit"}
SIZE_BUCKET_NAMES = {21: "100–499", 22: "500–1999", 23: "2000–4999", 24: "5000–9999"}
TIME_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("exec_0_9s_shares", 0.0, 10.0), ("exec_10_29s_shares", 10.0, 30.0), ("exec_30_59s_shares", 30.0, 60.0),
    ("exec_60_299s_shares", 60.0, 300.0), ("exec_5_30min_shares", 300.0, 1800.0))

#: The 26 legacy fields, in file order, with their types.
COLUMNS: dict[str, pl.DataType] = {
    "participant": pl.String(), "market_center": pl.String(), "yyyymm": pl.String(), "symbol": pl.String(),
    "order_type": pl.Int32(), "size_bucket": pl.Int32(), "covered_orders": pl.Int64(),
    "covered_shares": pl.Int64(), "cancelled_shares": pl.Int64(), "executed_at_center_shares": pl.Int64(),
    "executed_away_shares": pl.Int64(), **{name: pl.Int64() for name, _, _ in TIME_BUCKETS},
    "avg_realized_spread": pl.Float64(), "avg_effective_spread": pl.Float64(),
    "price_improved_shares": pl.Int64(), "avg_price_improvement": pl.Float64(),
    "avg_price_improvement_time_s": pl.Float64(), "at_quote_shares": pl.Int64(),
    "at_quote_avg_time_s": pl.Float64(), "outside_quote_shares": pl.Int64(),
    "outside_quote_avg_amount": pl.Float64(), "outside_quote_avg_time_s": pl.Float64(),
}
#: Fields printed empty for order types 13–15 (as in real legacy reports).
MARKETABLE_ONLY = ("avg_effective_spread", "price_improved_shares", "avg_price_improvement",
                   "avg_price_improvement_time_s", "at_quote_shares", "at_quote_avg_time_s",
                   "outside_quote_shares", "outside_quote_avg_amount", "outside_quote_avg_time_s")
_FOUR = {"avg_realized_spread", "avg_effective_spread", "avg_price_improvement", "outside_quote_avg_amount"}


def read_rule605(path: Path | str) -> pl.DataFrame:
    """A legacy Rule 605 file (ours or a market center's) as a frame with :data:`COLUMNS`; empty = null."""
    frame = pl.read_csv(path, separator="|", has_header=False, new_columns=list(COLUMNS),
                        schema=dict(COLUMNS.items()), quote_char='"', truncate_ragged_lines=False)
    return frame.filter(pl.col("participant").is_not_null())


def classify_children(children_rcpt: pl.DataFrame) -> pl.DataFrame:
    """Children with ``order_type_605`` (11–15, null = not covered) and ``size_bucket`` (21–24, null = not
    covered), from the limit price vs the NBBO at receipt (``rcpt_bid``/``rcpt_ask``)."""
    buy = pl.col("side") == "BUY"
    lim, bid, ask = pl.col("limit_px"), pl.col("rcpt_bid"), pl.col("rcpt_ask")
    near = pl.when(buy).then(bid).otherwise(ask)
    through = pl.when(buy).then(lim >= ask - PX_EPS).otherwise(lim <= bid + PX_EPS)
    inside = (lim > bid + PX_EPS) & (lim < ask - PX_EPS)
    at_near = (lim - near).abs() <= PX_EPS
    away = pl.when(buy).then(near - lim).otherwise(lim - near)
    otype = (pl.when(pl.col("order_type") == "MKT").then(11)
             .when(bid.is_null() | ask.is_null()).then(None)
             .when(through).then(12).when(inside).then(13).when(at_near).then(14)
             .when(away <= NEAR_QUOTE_USD + PX_EPS).then(15).otherwise(None))
    q = pl.col("qty")
    bucket = (pl.when((q >= 100) & (q < 500)).then(21).when((q >= 500) & (q < 2000)).then(22)
              .when((q >= 2000) & (q < 5000)).then(23).when((q >= 5000) & (q < 10000)).then(24).otherwise(None))
    return children_rcpt.with_columns(otype.cast(pl.Int32).alias("order_type_605"),
                                      bucket.cast(pl.Int32).alias("size_bucket"),
                                      pl.col("date").dt.strftime("%Y%m").alias("yyyymm"))


def aggregate(data: ReportData, keys: Sequence[str]) -> pl.DataFrame:
    """Rule 605 figures of covered child orders grouped by ``keys`` (from ``venue``, ``yyyymm``,
    ``symbol``, ``order_type_605``, ``size_bucket``); also ``realized_<h>`` ($/share) for every horizon."""
    kids = classify_children(data.children_rcpt).filter(
        pl.col("order_type_605").is_not_null() & pl.col("size_bucket").is_not_null())
    filled = data.executions.group_by("date", "child_id").agg(pl.col("qty").sum().alias("filled"))
    kids = kids.join(filled, on=["date", "child_id"], how="left").with_columns(pl.col("filled").fill_null(0))
    per_kid = kids.group_by(list(keys)).agg(
        pl.len().cast(pl.Int64).alias("covered_orders"), pl.col("qty").sum().cast(pl.Int64).alias("covered_shares"),
        pl.when(pl.col("status") == "FILLED").then(0).otherwise(pl.col("qty") - pl.col("filled")).clip(0)
        .sum().cast(pl.Int64).alias("cancelled_shares"))
    ex = data.executions.join(kids.select("date", "child_id", *[k for k in keys if k != "date"]),
                              on=["date", "child_id"], how="inner")
    pi, t, q = pl.col("price_improvement"), pl.col("time_to_exec_s"), pl.col("qty")
    better, at_q, worse = pi > PX_EPS, pi.abs() <= PX_EPS, pi < -PX_EPS
    per_fill = ex.group_by(list(keys)).agg(
        q.sum().cast(pl.Int64).alias("executed_at_center_shares"),
        *[q.filter((t >= lo) & (t < hi)).sum().cast(pl.Int64).alias(name) for name, lo, hi in TIME_BUCKETS],
        *[wavg(pl.col(f"realized_{lab}"), q).alias(f"realized_{lab}") for lab, _ in HORIZONS],
        wavg(pl.col("eff_spread"), q).alias("avg_effective_spread"),
        q.filter(better).sum().cast(pl.Int64).alias("price_improved_shares"),
        wavg(pi.filter(better), q.filter(better)).alias("avg_price_improvement"),
        wavg(t.filter(better), q.filter(better)).alias("avg_price_improvement_time_s"),
        q.filter(at_q).sum().cast(pl.Int64).alias("at_quote_shares"),
        wavg(t.filter(at_q), q.filter(at_q)).alias("at_quote_avg_time_s"),
        q.filter(worse).sum().cast(pl.Int64).alias("outside_quote_shares"),
        wavg(-pi.filter(worse), q.filter(worse)).alias("outside_quote_avg_amount"),
        wavg(t.filter(worse), q.filter(worse)).alias("outside_quote_avg_time_s"))
    out = per_kid.join(per_fill, on=list(keys), how="left", nulls_equal=True)
    counts = ["executed_at_center_shares", *[n for n, _, _ in TIME_BUCKETS], "price_improved_shares",
              "at_quote_shares", "outside_quote_shares"]
    out = out.with_columns([pl.col(c).fill_null(0) for c in counts]).with_columns(
        pl.lit(0, dtype=pl.Int64).alias("executed_away_shares"),
        pl.col("realized_5m").alias("avg_realized_spread"))
    return out.sort(list(keys))


def export_frame(data: ReportData) -> pl.DataFrame:
    """The legacy 26-field frame: one row per venue, month, symbol, order type and size bucket."""
    agg = aggregate(data, ["venue", "yyyymm", "symbol", "order_type_605", "size_bucket"])
    agg = agg.rename({"venue": "market_center", "order_type_605": "order_type"})
    agg = agg.with_columns(pl.lit(PARTICIPANT).alias("participant"))
    marketable = pl.col("order_type") <= 12
    # legacy convention: averages over no shares print as 0 for market / marketable orders, empty for 13-15
    agg = agg.with_columns(pl.col("avg_realized_spread").fill_null(0.0),
                           *[pl.col(c).fill_null(0.0) for c in MARKETABLE_ONLY if COLUMNS[c] == pl.Float64()])
    agg = agg.with_columns([pl.when(marketable).then(pl.col(c)).otherwise(None).alias(c) for c in MARKETABLE_ONLY])
    return agg.select([pl.col(c).cast(t) for c, t in COLUMNS.items()])


def _cell(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if name in _FOUR else f"{value:.1f}"
    return _quoted(str(value))


def _quoted(text: str) -> str:
    """A text cell holding the separator, a quote or a line break, quoted CSV-style (``"`` doubled), so
    the file still has 26 fields a line and :func:`read_rule605` reads the value back."""
    if not any(c in text for c in '|"\r\n'):
        return text
    return '"' + text.replace('"', '""') + '"'



def write_rule605(frame: pl.DataFrame, path: Path) -> Path:
    """Write ``frame`` (:data:`COLUMNS`) in the legacy layout: no header, ``|``, a trailing empty line."""
    lines = ["|".join(_cell(c, v) for c, v in zip(frame.columns, row, strict=True)) for row in frame.iter_rows()]
    path.write_text("\n".join(lines) + "\n\n" if lines else "\n", encoding="ascii")
    return path
