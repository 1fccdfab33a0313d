"""Per-execution and per-child enrichment against the NBBO, for the Rule 605 / 606 tables and outliers.

Sign conventions (docs/DESIGN.md), ``s`` = +1 BUY / -1 SELL, ``mid(t)`` = NBBO mid of the last NBBO row at or
before ``t`` (never after), receipt = the child's ``sent_ts``. Prices in $ (instrument currency) per share:

- effective spread ($/share) = ``2 * s * (px - mid(receipt))``; + = paid.
- realized spread(h) ($/share) = ``2 * s * (px - mid(fill_ts + h))``; + = paid (kept by the provider).
- price improvement ($/share) = ``s * (far_touch(receipt) - px)``, far touch = ask for a buy, bid for a
  sell; > 0 = better than the quote, 0 = at the quote, < 0 = outside the quote.
- outside the NBBO at fill time: a buy above the ask or a sell below the bid *at the fill's own time*.

Horizons of the realized spread: the amended Rule 605 set, 50 ms, 1 s, 15 s, 1 min and 5 min.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

#: (label, horizon) of the realized spreads; the 5 min one is the legacy Rule 605 realized spread.
HORIZONS: tuple[tuple[str, timedelta], ...] = (
    ("50ms", timedelta(milliseconds=50)),
    ("1s", timedelta(seconds=1)),
    ("15s", timedelta(seconds=15)),
    ("1m", timedelta(minutes=1)),
    ("5m", timedelta(minutes=5)),
)
#: Tolerance for "equal" prices ($/share): well below any tick, above float noise.
PX_EPS = 1e-6

SIGN = pl.when(pl.col("side") == "BUY").then(1.0).otherwise(-1.0)


def _quotes(nbbo: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return nbbo.select(
        pl.col("symbol"),
        pl.col("ts").alias("_qts"),
        pl.col("bid_px").alias(f"{prefix}_bid"),
        pl.col("ask_px").alias(f"{prefix}_ask"),
        pl.col("mid_px").alias(f"{prefix}_mid"),
    ).sort("_qts")


def _asof(frame: pl.DataFrame, on: str, quotes: pl.DataFrame) -> pl.DataFrame:
    """Backward as-of join of ``quotes`` (by symbol) at time column ``on`` of ``frame``; keeps row order."""
    idx = "_row"
    left = frame.with_row_index(idx).sort(on)
    joined = left.join_asof(quotes, left_on=on, right_on="_qts", by="symbol", strategy="backward",
                            check_sortedness=False)
    return joined.sort(idx).drop(idx, "_qts")


def receipt_quotes(children: pl.DataFrame, nbbo: pl.DataFrame) -> pl.DataFrame:
    """Children with ``rcpt_bid``, ``rcpt_ask``, ``rcpt_mid``: the NBBO at or before ``sent_ts``."""
    return _asof(children, "sent_ts", _quotes(nbbo, "rcpt"))


def enrich_fills(fills: pl.DataFrame, children: pl.DataFrame, nbbo: pl.DataFrame) -> pl.DataFrame:
    """One row per fill with its child's context and the quote-based measures of the module docstring.

    Columns added: ``s``; ``rcpt_bid/ask/mid`` (NBBO at receipt); ``fill_bid/ask/mid`` (NBBO at the fill
    time); ``mid_<h>`` for each horizon; ``eff_spread`` and ``realized_<h>`` ($/share); ``eff_spread_bps``
    (bps of mid(receipt)); ``price_improvement`` ($/share, + = better); ``time_to_exec_s`` (fill ts -
    sent_ts, s); ``fee_usd`` ($, + paid, - rebate); ``outside_nbbo_at_fill`` (bool) and
    ``outside_by`` ($/share beyond the far touch at fill time, > 0 when outside).
    """
    ctx = children.select("child_id", "parent_id", "symbol", "side", "venue", "order_type", "tif", "limit_px",
                          pl.col("qty").alias("child_qty"), "sent_ts", "router_policy", "route_rank", "date")
    f = fills.join(ctx, on=["date", "child_id"], how="inner")
    f = _asof(f, "sent_ts", _quotes(nbbo, "rcpt"))
    f = _asof(f, "ts", _quotes(nbbo, "fill"))
    q = _quotes(nbbo, "h").select("symbol", "_qts", "h_mid")
    for label, delta in HORIZONS:
        probe = (pl.col("ts") + pl.duration(microseconds=delta // timedelta(microseconds=1))).cast(f.schema["ts"])
        f = _asof(f.with_columns(probe.alias("_probe")), "_probe", q).rename(
            {"h_mid": f"mid_{label}"}).drop("_probe")
    s = pl.col("s")
    far = pl.when(s > 0).then(pl.col("rcpt_ask")).otherwise(pl.col("rcpt_bid"))
    far_fill = pl.when(s > 0).then(pl.col("fill_ask")).otherwise(pl.col("fill_bid"))
    f = f.with_columns(SIGN.alias("s")).with_columns(
        (2 * s * (pl.col("px") - pl.col("rcpt_mid"))).alias("eff_spread"),
        (2 * s * (pl.col("px") - pl.col("rcpt_mid")) / pl.col("rcpt_mid") * 1e4).alias("eff_spread_bps"),
        *[(2 * s * (pl.col("px") - pl.col(f"mid_{lab}"))).alias(f"realized_{lab}") for lab, _ in HORIZONS],
        (s * (far - pl.col("px"))).alias("price_improvement"),
        ((pl.col("ts") - pl.col("sent_ts")).dt.total_nanoseconds() / 1e9).alias("time_to_exec_s"),
        (pl.col("qty") * pl.col("px") * pl.col("fee_bps") / 1e4).alias("fee_usd"),
        (s * (pl.col("px") - far_fill)).alias("outside_by"),
    )
    return f.with_columns((pl.col("outside_by") > PX_EPS).fill_null(False).alias("outside_nbbo_at_fill"))
