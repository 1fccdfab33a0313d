"""Data-feed health checks for one trading date: plain functions from lake tables to result rows.

Checks (``category`` = ``feed``), one or more rows each, see :func:`sor_pipeline.monitoring.schema.result`:

- ``missing_table``: a table with no partition for the date (required tables: error; optional: warn).
- ``row_count``: a table's rows vs the median of its last ``trailing_days`` partitions; value = ratio
  (today / median), thresholds ``row_count_{warn,error}_{low,high}``.
- ``missing_venue``: a venue of the venues reference (the date's, else the latest earlier one) or of
  the trailing partitions that is absent today: quoting venues (LIT/ECN, or seen in trailing quotes)
  must quote (error); dark venues that got orders on trailing days should get orders (warn: it may be the
  router avoiding a toxic pool; a quoting venue the router sent nothing is no breach). value = 1 per
  missing venue.
- ``quote_gap``: longest gap between consecutive quotes of a (symbol, venue) within the session
  (09:30-16:00 market time, edges included), seconds, against a per-venue threshold calibrated on the
  venue's own trailing days (``quote_gap_margin`` x the median longest daily gap; a feed that quotes a
  symbol ~500 times a day has ~6-10 minute gaps on a quiet day by chance alone); one row per breaching
  pair and one summary row per venue (its longest gap, the next days' reference).
- ``bad_quotes``: share of a venue's quotes that are flagged (ZERO, STALE, CROSSED, ...) or crossed.
- ``nbbo_crossed``: share of NBBO updates that are crossed (bid > ask) or flagged CROSSED.
- ``fills_without_quotes``: share of a venue's fills whose symbol has no NBBO at or before the fill.
"""

from __future__ import annotations

from datetime import date, datetime
from statistics import median
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from sor_pipeline.config.calendar import session_bounds
from sor_pipeline.config.monitor import MonitorSettings
from sor_pipeline.monitoring.schema import grade, result
from sor_pipeline.storage.lake import Lake

FEED = "feed"
TS_NS = pl.Datetime("ns", "UTC")
ROW_COUNT_TABLES = ("parent_orders", "child_orders", "fills", "quotes", "nbbo", "depth", "trades")


def trailing_dates(lake: Lake, name: str, day: date, n: int) -> list[date]:
    """The last ``n`` partition dates of ``name`` strictly before ``day``."""
    return [d for d in lake.dates(name) if d < day][-n:]


# --------------------------------------------------------------------------------------------------
# table presence and volume
def check_missing_tables(day: date, lake: Lake, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``missing_table``: required tables without a partition for ``day`` are errors, optional ones warn."""
    rows = []
    for table in [*cfg.required_tables, *cfg.optional_tables]:
        required = table in cfg.required_tables
        if lake.exists(table, day):
            rows.append(result("missing_table", FEED, value=0.0, threshold=0.0, subject=table,
                               message=f"{table}: partition present"))
            continue
        sev = "error" if required else "warn"
        rows.append(result("missing_table", FEED, severity=sev, passed=False, value=1.0, threshold=0.0, subject=table,
                           message=f"{table}: no partition for {day.isoformat()} (late or missing drop)"))
    return rows


def row_count(lake: Lake, name: str, day: date) -> int:
    """Rows of one partition (Parquet metadata; no data read)."""
    return int(lake.read(name, [day]).select(pl.len()).collect().item())


def check_row_counts(day: date, lake: Lake, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``row_count``: value = today's rows / median rows of the trailing partitions (a ratio)."""
    rows = []
    for table in ROW_COUNT_TABLES:
        if not lake.exists(table, day):
            continue  # missing_table reports it
        today = row_count(lake, table, day)
        history = [row_count(lake, table, d) for d in trailing_dates(lake, table, day, cfg.trailing_days)]
        if len(history) < cfg.row_count_min_history:
            rows.append(result("row_count", FEED, value=None, subject=table, message=(
                f"{table}: {today} rows; only {len(history)} trailing partitions, no verdict")))
            continue
        med = float(median(history))
        ratio = today / med if med > 0 else (1.0 if today == 0 else float("inf"))
        sev, passed, thr = "info", True, None
        if ratio < cfg.row_count_error_low or ratio > cfg.row_count_error_high:
            sev, passed = "error", False
            thr = cfg.row_count_error_low if ratio < 1 else cfg.row_count_error_high
        elif ratio < cfg.row_count_warn_low or ratio > cfg.row_count_warn_high:
            sev, passed = "warn", False
            thr = cfg.row_count_warn_low if ratio < 1 else cfg.row_count_warn_high
        rows.append(result("row_count", FEED, severity=sev, passed=passed, value=ratio, threshold=thr, subject=table,
                           message=(
            f"{table}: {today} rows = {ratio:.2f}x the trailing median {med:.0f} ({len(history)} days)")))
    return rows


# --------------------------------------------------------------------------------------------------
# venues
def _venues_of(lake: Lake, name: str, days: list[date]) -> set[str]:
    if not days:
        return set()
    frame = lake.read(name, days).select("venue").unique().collect()
    return set(frame.get_column("venue").to_list()) if frame.height else set()


def reference_venues(lake: Lake, day: date) -> dict[str, str]:
    """venue -> venue_type from the ``venues`` reference of ``day``, else the latest earlier partition."""
    days = [d for d in lake.dates("venues") if d <= day]
    if not days:
        return {}
    ref = lake.read("venues", [days[-1]]).select("venue", "venue_type").collect()
    return dict(zip(ref.get_column("venue").to_list(), ref.get_column("venue_type").to_list(), strict=True))


def check_missing_venues(day: date, lake: Lake, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``missing_venue``: one row per expected venue; breach when absent where it is expected today."""
    ref = reference_venues(lake, day)
    trail_quotes = _venues_of(lake, "quotes", trailing_dates(lake, "quotes", day, cfg.trailing_days))
    trail_orders = _venues_of(lake, "child_orders", trailing_dates(lake, "child_orders", day, cfg.trailing_days))
    today_quotes = _venues_of(lake, "quotes", [day]) if lake.exists("quotes", day) else set()
    today_orders = _venues_of(lake, "child_orders", [day]) if lake.exists("child_orders", day) else set()
    rows = []
    for venue in sorted(set(ref) | trail_quotes | trail_orders):
        missing: list[str] = []
        quoting = (ref.get(venue) not in (None, "DARK")) or venue in trail_quotes
        if quoting and lake.exists("quotes", day) and venue not in today_quotes:
            missing.append("quotes")
        # a quoting venue without orders today is the router's choice (it learned to avoid it), not a feed
        # gap; a dark venue shows only through its orders
        if (venue in trail_orders and lake.exists("child_orders", day) and venue not in today_orders
                and not (quoting and venue in today_quotes)):
            missing.append("child_orders")
        if venue in ref and not quoting and venue not in trail_orders and venue not in today_orders | today_quotes:
            missing.append("child_orders")
        if missing:
            # a venue missing only from the orders (a dark pool) may be the router's choice — it learned to
            # avoid a toxic pool — so it warns; a venue that stopped quoting is a feed gap and stops the night
            orders_only = missing == ["child_orders"]
            rows.append(result("missing_venue", FEED, severity="warn" if orders_only else cfg.missing_venue_severity,
                               passed=False, value=1.0, threshold=0.0, venue=venue,
                               message=f"{venue}: absent from {', '.join(missing)} on {day.isoformat()}"
                                       + (" (no orders: an outage, or the router avoiding it)" if orders_only else "")))
        else:
            rows.append(result("missing_venue", FEED, value=0.0, threshold=0.0, venue=venue,
                               message=f"{venue}: present"))
    return rows


# --------------------------------------------------------------------------------------------------
# quotes
def _sorted_gaps(q: pl.LazyFrame, s: pl.Expr, e: pl.Expr, include_edges: bool) -> pl.DataFrame:
    """Reference form of :func:`quote_gaps` (a sort by symbol, venue, time): for pairs whose quotes are
    not in time order as stored."""
    if include_edges:
        pairs = q.select("symbol", "venue").unique()
        q = pl.concat([q, pairs.with_columns(s.alias("ts")), pairs.with_columns(e.alias("ts"))])
    q = q.sort("symbol", "venue", "ts").with_columns(
        pl.col("ts").shift(1).over("symbol", "venue").alias("prev"))
    q = q.with_columns(((pl.col("ts") - pl.col("prev")).dt.total_microseconds() / 1e6).alias("gap_s"))
    return (q.filter(pl.col("gap_s").is_not_null())
            .sort("gap_s", "prev", descending=[True, False])
            .group_by("symbol", "venue")
            .agg(pl.col("gap_s").first().alias("max_gap_s"), pl.col("prev").first().alias("gap_start"))
            .collect())


def quote_gaps(quotes: pl.LazyFrame, start: datetime, end: datetime, *, include_edges: bool = True) -> pl.DataFrame:
    """Longest gap, seconds, between consecutive quotes of each (symbol, venue) within [start, end].

    With ``include_edges`` the gaps start->first quote and last quote->end count too.
    Returns ``symbol, venue, max_gap_s, gap_start`` (UTC start of the longest gap; of equal gaps the
    earliest), sorted by venue and symbol.

    One pass without a sort: each pair's quotes are taken in stored order (a feed stores a pair's
    quotes in time order) and a pair whose times go backwards anywhere is redone through the sort
    (:func:`_sorted_gaps`), so the result never depends on the stored order. Linear in the quotes, where
    the sort of a whole day by (symbol, venue, time) was not (4x faster on a 5 M-quote day).
    """
    s = pl.lit(start).cast(TS_NS)
    e = pl.lit(end).cast(TS_NS)
    q = (quotes.select("symbol", "venue", pl.col("ts").cast(TS_NS))
         .filter((pl.col("ts") >= s) & (pl.col("ts") <= e)))
    step = pl.col("ts").diff()
    per = q.group_by("symbol", "venue").agg(
        (step < pl.duration(nanoseconds=0)).any().alias("unsorted"),
        (step.max().dt.total_microseconds() / 1e6).alias("inner_s"),
        # the quote before the longest step: index arg_max - 1 of the stored order (arg_max is the first max)
        pl.col("ts").gather((step.arg_max().fill_null(1).cast(pl.Int64) - 1).clip(0)).first().alias("inner_start"),
        pl.col("ts").first().alias("first"), pl.col("ts").last().alias("last"),
    ).collect()
    redo = per.filter(pl.col("unsorted")).select("symbol", "venue")
    per = per.filter(~pl.col("unsorted"))
    candidates = [per.select("symbol", "venue", pl.col("inner_s").alias("gap_s"), pl.col("inner_start").alias("at"),
                             pl.lit(1).alias("order"))]
    if include_edges:
        candidates += [
            per.select("symbol", "venue", ((pl.col("first") - s).dt.total_microseconds() / 1e6).alias("gap_s"),
                       s.alias("at"), pl.lit(0).alias("order")),
            per.select("symbol", "venue", ((e - pl.col("last")).dt.total_microseconds() / 1e6).alias("gap_s"),
                       pl.col("last").alias("at"), pl.lit(2).alias("order")),
        ]
    fast = (pl.concat(candidates).filter(pl.col("gap_s").is_not_null())
            .sort("gap_s", "at", "order", descending=[True, False, False])
            .group_by("symbol", "venue", maintain_order=True)
            .agg(pl.col("gap_s").first().alias("max_gap_s"), pl.col("at").first().alias("gap_start")))
    if redo.height:
        slow = _sorted_gaps(q.join(redo.lazy(), on=["symbol", "venue"], how="semi"), s, e, include_edges)
        fast = pl.concat([fast, slow.select(fast.columns)])
    return fast.sort("venue", "symbol")


def daily_venue_gaps(gaps: pl.DataFrame) -> dict[str, float]:
    """venue -> the longest quote gap of the day over its symbols, seconds."""
    agg = gaps.group_by("venue").agg(pl.col("max_gap_s").max()).sort("venue")
    return dict(zip(agg.get_column("venue").to_list(), agg.get_column("max_gap_s").to_list(), strict=True))


def quote_gap_reference(day: date, lake: Lake, tz: str, cfg: MonitorSettings) -> dict[str, list[float]]:
    """venue -> its longest daily quote gap (seconds) on each of the last ``trailing_days`` quote dates.

    Read from the trailing ``monitoring`` partitions (the per-venue ``quote_gap`` row, ``symbol`` null,
    records that day's longest gap); a trailing date without one is measured from its quotes (at most
    ``quote_gap_recompute_days`` of them, the most recent first), so a new lake calibrates too."""
    days = trailing_dates(lake, "quotes", day, cfg.trailing_days)
    out: dict[str, list[float]] = {}
    if not days:
        return out
    seen: set[date] = set()
    mon_days = [d for d in days if lake.exists("monitoring", d)]
    if mon_days:
        rows = (lake.read("monitoring", mon_days)
                .filter((pl.col("check") == "quote_gap") & pl.col("symbol").is_null() & pl.col("venue").is_not_null()
                        & pl.col("value").is_not_null())
                .select("date", "venue", "value").collect())
        for r in rows.iter_rows(named=True):
            out.setdefault(r["venue"], []).append(float(r["value"]))
            seen.add(r["date"])
    missing = [d for d in days if d not in seen][-cfg.quote_gap_recompute_days:]
    for d in missing:
        start, end = session_bounds(d, tz, cfg.session_open, cfg.session_close)
        gaps = quote_gaps(lake.read("quotes", [d]), start, end, include_edges=cfg.quote_gap_include_edges)
        for venue, gap in daily_venue_gaps(gaps).items():
            out.setdefault(venue, []).append(float(gap))
    return out


def quote_gap_threshold(venue: str, reference: dict[str, list[float]], cfg: MonitorSettings,
                        today: pl.Series | None = None) -> tuple[float, str]:
    """The venue's gap threshold (seconds) and how it was set: ``quote_gap_margin`` x the median of its
    longest daily gaps over the reference days (a venue that quotes every minute and one that quotes
    every few minutes get thresholds of their own), at least ``quote_gap_min_s``. With fewer than
    ``quote_gap_min_history`` reference days, the same margin over the median of today's longest gaps
    of the venue's symbols (a symbol whose feed stalled stands out against the others), when it quotes
    at least 3 symbols; else the fixed ``quote_gap_s``."""
    history = reference.get(venue, [])
    if len(history) >= cfg.quote_gap_min_history:
        typical, what = float(median(history)), f"longest daily gap {{:.0f}} s of {len(history)} reference days"
    elif today is not None and today.len() >= 3:
        typical, what = float(today.median()), f"longest gap {{:.0f}} s of today's {today.len()} symbols (no history)"  # type: ignore[arg-type]
    else:
        return cfg.quote_gap_s, f"fixed threshold {cfg.quote_gap_s:.0f} s ({len(history)} reference days)"
    thr = max(cfg.quote_gap_min_s, cfg.quote_gap_margin * typical)
    return thr, f"threshold {thr:.0f} s = {cfg.quote_gap_margin:g} x the median " + what.format(typical)


def check_quote_gaps(day: date, quotes: pl.LazyFrame, tz: str, cfg: MonitorSettings,
                     reference: dict[str, list[float]] | None = None) -> list[dict[str, Any]]:
    """``quote_gap`` (warn): one row per breaching (symbol, venue), and one summary row per venue
    (``symbol`` null, value = the venue's longest gap of the day, the next days' reference). The
    threshold is calibrated per venue on ``reference`` (:func:`quote_gap_reference`)."""
    start, end = session_bounds(day, tz, cfg.session_open, cfg.session_close)
    gaps = quote_gaps(quotes, start, end, include_edges=cfg.quote_gap_include_edges)
    rows = []
    for (venue,), part in gaps.partition_by("venue", as_dict=True, maintain_order=True).items():
        thr, how = quote_gap_threshold(str(venue), reference or {}, cfg, part.get_column("max_gap_s"))
        bad = part.filter(pl.col("max_gap_s") > thr)
        for r in bad.iter_rows(named=True):
            at = r["gap_start"].astimezone(ZoneInfo(tz)).strftime("%H:%M:%S")
            rows.append(result("quote_gap", FEED, severity="warn", passed=False, value=r["max_gap_s"],
                               threshold=thr, venue=str(venue), symbol=r["symbol"],
                               message=f"{r['symbol']}@{venue}: no quote for {r['max_gap_s']:.0f} s from {at} "
                                       f"({how})"))
        worst = float(part.get_column("max_gap_s").max())  # type: ignore[arg-type]
        rows.append(result("quote_gap", FEED, value=worst, threshold=thr, venue=str(venue),
                           message=f"{venue}: longest quote gap {worst:.0f} s over {part.height} symbols, "
                                   f"{bad.height} above the {how}"))
    return rows


def check_bad_quotes(quotes: pl.LazyFrame, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``bad_quotes``: per venue, share of quotes flagged (any ``flag``) or crossed (bid > ask > 0)."""
    bad = pl.col("flag").is_not_null() | ((pl.col("bid_px") > pl.col("ask_px")) & (pl.col("ask_px") > 0))
    agg = (quotes.group_by("venue").agg(pl.len().alias("n"), bad.sum().alias("bad"))
           .sort("venue").collect())
    rows = []
    for r in agg.iter_rows(named=True):
        share = r["bad"] / r["n"] if r["n"] else 0.0
        sev, passed, thr = grade(share, cfg.bad_quote_warn_share, cfg.bad_quote_error_share)
        rows.append(result("bad_quotes", FEED, severity=sev, passed=passed, value=share, threshold=thr,
                           venue=r["venue"], message=f"{r['venue']}: {r['bad']} of {r['n']} quotes flagged "
                                                     f"or crossed ({share:.2%})"))
    return rows


def check_nbbo_crossed(nbbo: pl.LazyFrame, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``nbbo_crossed``: share of NBBO updates with bid > ask or flag CROSSED."""
    crossed = (pl.col("bid_px") > pl.col("ask_px")) | (pl.col("flag").fill_null("") == "CROSSED")
    n, bad = nbbo.select(pl.len(), crossed.sum()).collect().row(0)
    share = bad / n if n else 0.0
    sev, passed, thr = grade(share, cfg.nbbo_crossed_warn_share, cfg.nbbo_crossed_error_share)
    return [result("nbbo_crossed", FEED, severity=sev, passed=passed, value=share, threshold=thr,
                   message=f"NBBO crossed on {bad} of {n} updates ({share:.2%})")]


def check_fills_without_quotes(fills: pl.LazyFrame, children: pl.LazyFrame, nbbo: pl.LazyFrame,
                               cfg: MonitorSettings) -> list[dict[str, Any]]:
    """``fills_without_quotes``: per venue, share of fills with no NBBO update of their symbol at or
    before the fill time (so no arrival mid, no TCA)."""
    f = (fills.select("exec_id", "child_id", pl.col("ts").cast(TS_NS))
         .join(children.select("child_id", "symbol", "venue"), on="child_id", how="left")
         .with_columns(pl.col("symbol").fill_null("<unknown>"), pl.col("venue").fill_null("<unknown>")))
    first = nbbo.group_by("symbol").agg(pl.col("ts").cast(TS_NS).min().alias("first_quote"))
    joined = f.join(first, on="symbol", how="left").with_columns(
        (pl.col("first_quote").is_null() | (pl.col("first_quote") > pl.col("ts"))).alias("no_quote"))
    agg = joined.group_by("venue").agg(pl.len().alias("n"), pl.col("no_quote").sum().alias("bad")).sort("venue")
    rows = []
    for r in agg.collect().iter_rows(named=True):
        share = r["bad"] / r["n"] if r["n"] else 0.0
        sev, passed, thr = grade(share, cfg.fills_without_quotes_warn_share, cfg.fills_without_quotes_error_share)
        rows.append(result("fills_without_quotes", FEED, severity=sev, passed=passed, value=share, threshold=thr,
                           venue=r["venue"], message=f"{r['venue']}: {r['bad']} of {r['n']} fills have no NBBO "
                                                     f"at or before the fill ({share:.2%})"))
    return rows


def feed_checks(day: date, lake: Lake, tz: str, cfg: MonitorSettings) -> list[dict[str, Any]]:
    """All data-feed checks for ``day``; checks whose input table is missing are skipped (reported by
    ``missing_table``)."""
    rows = check_missing_tables(day, lake, cfg)
    rows += check_row_counts(day, lake, cfg)
    rows += check_missing_venues(day, lake, cfg)
    if lake.exists("quotes", day):
        quotes = lake.read("quotes", [day])
        rows += check_quote_gaps(day, quotes, tz, cfg, quote_gap_reference(day, lake, tz, cfg))
        rows += check_bad_quotes(quotes, cfg)
    if lake.exists("nbbo", day):
        rows += check_nbbo_crossed(lake.read("nbbo", [day]), cfg)
    if all(lake.exists(t, day) for t in ("fills", "child_orders", "nbbo")):
        rows += check_fills_without_quotes(lake.read("fills", [day]), lake.read("child_orders", [day]),
                                           lake.read("nbbo", [day]), cfg)
    return rows
