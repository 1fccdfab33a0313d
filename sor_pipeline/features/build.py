"""Nightly batch: the features dataset for one trading day (features + labels per child order).

Requests are the day's child orders (request_id = child_id, decision_ts = sent_ts, urgency from the
parent) and each is scored for its own venue through :func:`decision_features`, the same function
the live router calls, so training and serving features cannot drift apart.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import polars as pl

from schemas import columns_of
from schemas.features import FEATURE_COLUMNS, LABEL_COLUMNS, Features
from sor_pipeline.config.settings import Settings
from sor_pipeline.features.decision import decision_features
from sor_pipeline.features.history import adv_before, venue_stats_before
from sor_pipeline.features.labels import fill_labels, markout_column, with_arrival_slippage
from sor_pipeline.features.market_state import depth_state, nbbo_state, symbol_codes
from sor_pipeline.storage.lake import Lake, WriteResult

CHILD_COLUMNS = ["child_id", "parent_id", "symbol", "side", "venue", "order_type", "tif", "limit_px", "qty",
                 "sent_ts", "router_policy", "route_rank", "propensity"]
DEPTH_COLUMNS = ["ts", "symbol", "venue", *[f"{s}_sz_{k}" for s in ("bid", "ask") for k in range(1, 6)]]
NBBO_COLUMNS = ["ts", "symbol", "bid_px", "ask_px", "mid_px"]
FILL_COLUMNS = ["child_id", "ts", "qty", "px", "fee_bps"]


def child_requests(children: pl.LazyFrame, parents: pl.LazyFrame) -> pl.LazyFrame:
    """Child orders as routing requests for their own venue (urgency from the parent order)."""
    return (children.select(CHILD_COLUMNS)
            .join(parents.select("parent_id", "urgency"), on="parent_id", how="left", maintain_order="left")
            .with_columns(pl.col("child_id").alias("request_id"), pl.col("sent_ts").alias("decision_ts")))


def features_from_frames(children: pl.LazyFrame, parents: pl.LazyFrame, fills: pl.LazyFrame, nbbo: pl.LazyFrame,
                         depth: pl.LazyFrame, venues: pl.LazyFrame, venue_stats: pl.DataFrame | None,
                         adv: pl.DataFrame | None, settings: Settings) -> pl.DataFrame:
    """Features + labels for one day's frames, columns in the order of schemas.features.Features."""
    keep = ["child_id", "parent_id", "router_policy", "route_rank", "propensity", "sent_ts"]
    requests = child_requests(children, parents).collect()
    codes = symbol_codes(requests)
    horizons = [float(h) for h in settings.features.markout_horizons_s]
    # three independent pieces, overlapped on the two cores: the consolidated book, the NBBO index
    # (one per day, rows in the lake's symbol, ts order) and, once it is there, the forward fill labels
    with ThreadPoolExecutor(2) as pool:
        book_job = pool.submit(depth_state, depth, codes)
        qi = nbbo_state(nbbo, codes)
        labels_job = pool.submit(fill_labels, requests.select("child_id", "symbol", "side", "qty", "sent_ts"),
                                 fills, qi, horizons)
        feats = decision_features(requests, qi, book_job.result(), venues, venue_stats, adv,
                                  rvol_window_s=float(settings.features.realized_vol_window_s),
                                  timezone=settings.market.timezone, extra_columns=keep)
        labels = labels_job.result()
    # both keep the children's row order: the labels line up with the features row for row
    if not labels["child_id"].equals(feats["child_id"]):
        raise RuntimeError("features: labels out of line with the feature rows")
    labels = with_arrival_slippage(labels, feats["side"], feats["arrival_mid"])
    out = pl.concat([feats, labels.drop("child_id")], how="horizontal")
    want = list(columns_of(Features))
    extra = [markout_column(float(h)) for h in settings.features.markout_horizons_s]
    extra = [c for c in extra if c not in want]
    return out.select(*want, *extra)


def build_features(day: date, lake: Lake, settings: Settings) -> pl.DataFrame:
    """Features (point-in-time at each child's sent_ts) and forward labels for ``day``, reading the
    day's child_orders, parent_orders, fills, nbbo, depth, venues and earlier days' trades (ADV) and
    features (venue trailing stats) from ``lake``."""
    def day_frame(name: str, cols: list[str]) -> pl.LazyFrame:
        return lake.read(name, [day]).select(cols)

    return features_from_frames(
        children=day_frame("child_orders", CHILD_COLUMNS),
        parents=day_frame("parent_orders", ["parent_id", "urgency"]),
        fills=day_frame("fills", FILL_COLUMNS),
        nbbo=day_frame("nbbo", NBBO_COLUMNS),
        depth=day_frame("depth", DEPTH_COLUMNS),
        venues=day_frame("venues", ["venue", "venue_type"]),
        venue_stats=venue_stats_before(lake, day, settings.features.venue_stats_window_days),
        adv=adv_before(lake, day, settings.features.adv_window_days),
        settings=settings,
    )


def write_features(day: date, lake: Lake, settings: Settings) -> WriteResult:
    """Build and atomically write the ``features`` partition of ``day`` (validated on write)."""
    return lake.write("features", build_features(day, lake, settings), day)


__all__ = ["FEATURE_COLUMNS", "LABEL_COLUMNS", "build_features", "features_from_frames", "write_features"]
