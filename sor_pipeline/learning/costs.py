"""The expected-cost formula shared by the simulator's oracle, the trainer, the backtest and the router.

A venue's score for one routing request is an expected arrival cost in bps (+ = cost):

    expected_cost_bps(v) = p_fill(v) * slippage_bps(v) + (1 - p_fill(v)) * fallback_bps

where ``slippage_bps(v)`` is the expected arrival slippage (fees included) *given* a fill at ``v``,
``p_fill(v)`` the probability the child fills there, and ``fallback_bps`` the cost of the unfilled
remainder, which is swept on the lit market: the lowest expected slippage among LIT venues for the
same request (lit venues fill marketable orders with certainty, at a cost).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]


def expected_cost_bps(p_fill: FloatArray | float, slippage_bps: FloatArray | float,
                      fallback_bps: FloatArray | float) -> FloatArray:
    """Vectorised expected cost, bps; ``p_fill`` is clipped to [0, 1]."""
    p = np.clip(np.asarray(p_fill, dtype=np.float64), 0.0, 1.0)
    return p * np.asarray(slippage_bps, dtype=np.float64) + (1.0 - p) * np.asarray(fallback_bps, dtype=np.float64)


def expected_cost_expr(p_fill: str = "p_fill", slippage: str = "slippage_bps",
                       fallback: str = "fallback_bps") -> pl.Expr:
    """The same formula as a polars expression over columns."""
    p = pl.col(p_fill).clip(0.0, 1.0)
    return p * pl.col(slippage) + (1.0 - p) * pl.col(fallback)


def with_fallback(scores: pl.DataFrame, *, request: str = "request_id", venue_type: str = "venue_type",
                  slippage: str = "slippage_bps") -> pl.DataFrame:
    """Add ``fallback_bps`` = min LIT slippage per request (or min over all venues if no LIT) and
    ``expected_cost_bps``. ``scores`` has one row per (request, venue) with ``p_fill``."""
    lit_min = pl.col(slippage).filter(pl.col(venue_type) == "LIT").min().over(request)
    any_min = pl.col(slippage).min().over(request)
    return scores.with_columns(pl.coalesce(lit_min, any_min).alias("fallback_bps")).with_columns(
        expected_cost_expr(slippage=slippage).alias("expected_cost_bps")
    )


def realized_cost_expr(fallback_bps: pl.Expr, fill_ratio: str = "fill_ratio",
                       slippage: str = "arrival_slippage_bps") -> pl.Expr:
    """Realised cost of a logged child, bps (+ = cost): the filled share (clipped to [0, 1]; null or NaN =
    no fill) at its arrival slippage (null = 0) and the unfilled share at ``fallback_bps``, the cost of
    sweeping the remainder on the lit market. The one definition the backtest's off-policy estimates and
    the monitor's model checks use."""
    ratio = pl.col(fill_ratio).fill_nan(None).fill_null(0.0).clip(0.0, 1.0)
    slip = pl.col(slippage).fill_nan(None).fill_null(0.0)
    return ratio * slip + (1.0 - ratio) * fallback_bps


#: Levels of a venue's displayed book (``depth`` columns ``{bid,ask}_{px,sz}_1..5``).
BOOK_LEVELS = 5


def book_walk(orders: pl.DataFrame, depth: pl.DataFrame | pl.LazyFrame,
              taker_fee_bps: dict[str, float]) -> pl.DataFrame:
    """(child_id, venue, walk_bps, rest_qty, qty): per order and LIT venue of ``taker_fee_bps``, the cost of
    sweeping the order's whole quantity through the far side of the venue's latest ``depth`` snapshot at
    or before ``sent_ts`` (levels 1..5), priced against ``arrival_mid``, taker fee added, bps (+ = cost);
    ``rest_qty`` shares the displayed book could not hold are priced at its last level (their market
    impact is :func:`lit_fallback_bps`'s to add). No row where the venue showed no book yet.

    ``orders``: child_id, symbol, side (BUY/SELL), qty, sent_ts, arrival_mid. ``depth`` may be a lazy scan:
    one venue's book is then materialised at a time (a big day's lit books are ~2 GB)."""
    cols = [f"{s}_{w}_{k}" for s in ("bid", "ask") for w in ("px", "sz") for k in range(1, BOOK_LEVELS + 1)]
    probes = orders.select("child_id", "symbol", "side", pl.col("qty").cast(pl.Float64), "sent_ts",
                           "arrival_mid").sort("sent_ts")
    buy = pl.col("side") == "BUY"
    sign = pl.when(buy).then(1.0).otherwise(-1.0)
    out = []
    for venue, fee in sorted(taker_fee_bps.items()):
        book = (depth.lazy().filter(pl.col("venue") == venue).select("ts", "symbol", *cols)
                .with_columns(pl.col("ts").cast(probes.schema["sent_ts"])).sort("ts").collect())
        if book.is_empty():
            continue
        j = probes.join_asof(book, left_on="sent_ts", right_on="ts", by="symbol", strategy="backward",
                             check_sortedness=False)
        px = [pl.when(buy).then(pl.col(f"ask_px_{k}")).otherwise(pl.col(f"bid_px_{k}"))
              for k in range(1, BOOK_LEVELS + 1)]
        sz = [pl.when(p.is_not_null()).then(pl.when(buy).then(pl.col(f"ask_sz_{k + 1}"))
                                            .otherwise(pl.col(f"bid_sz_{k + 1}")).fill_null(0).cast(pl.Float64))
              .otherwise(0.0) for k, p in enumerate(px)]
        cum = [pl.sum_horizontal(sz[:k]) if k else pl.lit(0.0) for k in range(BOOK_LEVELS)]
        take = [(pl.col("qty") - cum[k]).clip(0.0, None).clip(None, sz[k]) for k in range(BOOK_LEVELS)]
        last = pl.coalesce([pl.when(sz[k] > 0).then(px[k]) for k in reversed(range(BOOK_LEVELS))])
        rest = (pl.col("qty") - pl.sum_horizontal(take)).clip(0.0, None)
        notional = pl.sum_horizontal([(take[k] * px[k]).fill_null(0.0) for k in range(BOOK_LEVELS)]) + rest * last
        walk = sign * (notional / pl.col("qty") - pl.col("arrival_mid")) / pl.col("arrival_mid") * 1e4 + fee
        out.append(j.filter(last.is_not_null() & (pl.col("qty") > 0))
                   .select("child_id", pl.lit(venue).alias("venue"), walk.alias("walk_bps"), rest.alias("rest_qty"),
                           "qty", "symbol"))
    schema = {"child_id": pl.String, "venue": pl.String, "walk_bps": pl.Float64, "rest_qty": pl.Float64,
              "qty": pl.Float64, "symbol": pl.String}
    return pl.concat(out) if out else pl.DataFrame(schema=schema)


def _impact_term() -> pl.Expr:
    """Square-root-law regressor of the impact beyond the book, per order: (rest / qty) * sqrt(rest)."""
    return pl.col("rest_qty") / pl.col("qty") * pl.col("rest_qty").sqrt()


def impact_coefficients(lit_walks: pl.DataFrame) -> pl.DataFrame:
    """(symbol, impact_c): per symbol, the square-root-law coefficient that the day's own lit sweeps
    show: least squares through the origin of (realised slippage - book walk) on
    ``(rest / qty) * sqrt(rest)`` (bps per sqrt-share), over the day's filled LIT children walked on
    their own venue's book (``lit_walks``: symbol, realized_bps, walk_bps, rest_qty, qty); >= 0."""
    z = _impact_term()
    return (lit_walks.filter(pl.col("rest_qty") > 0)
            .group_by("symbol").agg(((pl.col("realized_bps") - pl.col("walk_bps")) * z).sum().alias("num"),
                                    (z * z).sum().alias("den"))
            .select("symbol", pl.when(pl.col("den") > 0).then((pl.col("num") / pl.col("den")).clip(0.0, None))
                    .otherwise(0.0).alias("impact_c")))


def lit_fallback_bps(walks: pl.DataFrame, coefficients: pl.DataFrame) -> pl.DataFrame:
    """(child_id, fallback_bps): the cost of sweeping each order on the cheapest lit venue at its decision
    time: the book walk plus the symbol's square-root-law impact on what the book could not hold."""
    return (walks.join(coefficients, on="symbol", how="left")
            .with_columns((pl.col("walk_bps") + pl.col("impact_c").fill_null(0.0) * _impact_term()).alias("c"))
            .group_by("child_id").agg(pl.col("c").min().alias("fallback_bps")))
