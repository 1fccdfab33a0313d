"""The sandbox stage: before a promotion is final, the challenger — loaded through the router library
exactly as the live router loads it (a pinned registry version, compiled scorer) — replays the night's
logged routing requests (the day's rank-1 child orders, with the market state the lake holds at each
decision time; at most ``sandbox.max_requests`` of them, drawn uniformly and seeded by the night).
Nothing here is simulated, so it means the same off the simulator.

The challenger passes when: it loads (no static fallback for want of a model); no request falls back
or scores a non-finite cost; every allocation places exactly the order's quantity; the 99th percentile
of its per-order routing latency is within ``sandbox.max_p99_latency_us``; and its off-policy cost on
the night's logged decisions (the gate's SN-DR estimate, bps per decision) is no worse than the
incumbent's plus ``sandbox.tolerance_bps``. A re-run of the same night gives the same verdict (latency
aside, which is measured, not replayed).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.features.history import adv_before, venue_stats_before
from sor_pipeline.features.online import snapshot_at, venue_stats_from_frame
from sor_pipeline.features.request import Order, to_ns
from sor_pipeline.serving.live import LiveRouter
from sor_pipeline.storage.lake import Lake

#: What :func:`sor_pipeline.features.online.snapshot_at` reads of the lake's books.
NBBO_COLUMNS = ("symbol", "ts", "bid_px", "ask_px", "mid_px")
DEPTH_COLUMNS = ("symbol", "ts", "venue", *(f"{side}_sz_{k}" for side in ("bid", "ask") for k in range(1, 6)))


@dataclass
class SandboxResult:
    passed: bool
    sandbox_date: str
    challenger_version: str
    champion_version: str | None
    decisions: int  # requests replayed
    logged_requests: int  # the night's logged requests (replayed: all, or a uniform sample of sandbox.max_requests)
    challenger_fallbacks: int
    nonfinite: int
    misallocated: int
    p99_latency_us: float
    ope_diff_bps: float | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def logged_requests(lake: Lake, day: date) -> pl.DataFrame:
    """The day's routing requests: rank-1 child orders joined to their parents' urgency."""
    children = lake.read("child_orders", days=[day]).filter(pl.col("route_rank") == 1).collect()
    parents = lake.read("parent_orders", days=[day]).select("parent_id", "urgency").collect()
    return children.join(parents, on="parent_id", how="left").sort("sent_ts", "child_id")


def replay_sample(requests: pl.DataFrame, max_requests: int | None, day: date) -> pl.DataFrame:
    """At most ``max_requests`` of ``requests`` (sorted by sent time), drawn uniformly without replacement
    with a generator seeded by the night's date, so a re-run replays the same requests; all of them
    when there are no more than that (or ``max_requests`` is None)."""
    if max_requests is None or requests.height <= max_requests:
        return requests
    rng = np.random.default_rng(day.toordinal())
    keep = np.sort(rng.choice(requests.height, size=max_requests, replace=False))
    return requests[keep.tolist()]


def symbol_slices(frame: pl.DataFrame) -> dict[tuple[str], pl.DataFrame]:
    """``{(symbol,): rows}`` of a frame whose rows are grouped by ``symbol`` (contiguous), as zero-copy
    slices in the frame's order: what ``partition_by("symbol", as_dict=True)`` gives, without the copy."""
    out: dict[tuple[str], pl.DataFrame] = {}
    offset = 0
    for symbol, n in frame.group_by("symbol", maintain_order=True).agg(pl.len()).iter_rows():
        out[(symbol,)] = frame.slice(offset, n)
        offset += n
    return out


def replay(router: LiveRouter, requests: pl.DataFrame, lake: Lake, day: date, settings: Settings
           ) -> tuple[int, int, int, list[float]]:
    """Route every logged request; returns (fallbacks, non-finite routes, misallocated, latencies in us).
    Only the requested symbols' quotes and the columns a snapshot reads are loaded (a big day's books
    would not fit beside the night otherwise)."""
    symbols = requests["symbol"].unique().implode()
    # grouped by symbol as read (a stable sort keeps each symbol's rows in lake order), then cut into
    # zero-copy slices: partition_by copied the big day's books into 500 frames (+2.8 GB)
    nbbo_all = (lake.read("nbbo", days=[day]).filter(pl.col("symbol").is_in(symbols))
                .select(*NBBO_COLUMNS).sort("symbol", maintain_order=True).collect())
    depth_all = (lake.read("depth", days=[day]).filter(pl.col("symbol").is_in(symbols))
                 .select(*DEPTH_COLUMNS).sort("symbol", maintain_order=True).collect()
                 if lake.exists("depth", day) else None)
    nbbo = symbol_slices(nbbo_all)
    depth = symbol_slices(depth_all) if depth_all is not None else {}
    no_nbbo = nbbo_all.clear()
    no_depth = (depth_all.clear() if depth_all is not None
                else pl.DataFrame(schema={"symbol": pl.String, "ts": pl.Datetime("ns", "UTC")}))
    stats = venue_stats_before(lake, day, settings.features.venue_stats_window_days)
    adv = adv_before(lake, day, settings.features.adv_window_days)
    adv_of = dict(zip(adv["symbol"], adv["adv"], strict=True))
    vs = venue_stats_from_frame(stats)
    fallbacks = nonfinite = misallocated = 0
    lat: list[float] = []
    for r in requests.iter_rows(named=True):
        t = to_ns(r["sent_ts"])
        key = (r["symbol"],)
        snap = snapshot_at(nbbo.get(key, no_nbbo), depth.get(key, no_depth), r["symbol"], t,
                           adv=adv_of.get(r["symbol"]), venue_stats=vs,
                           window_s=float(settings.features.realized_vol_window_s))
        order = Order(symbol=r["symbol"], side=r["side"], qty=int(r["qty"]), order_type=r["order_type"],
                      tif=r["tif"], limit_px=r["limit_px"], urgency=r.get("urgency") or "MEDIUM", ts=t,
                      order_id=r["child_id"])
        t0 = time.perf_counter()
        route = router.route(order, snap)
        lat.append((time.perf_counter() - t0) * 1e6)
        fallbacks += int(route.fallback)
        nonfinite += int(bool(route.expected_cost_bps) and not np.all(np.isfinite(route.expected_cost_bps)))
        misallocated += int(route.allocated_qty != order.qty)
    return fallbacks, nonfinite, misallocated, lat


def run_sandbox(day: date, settings: Settings, lake: Lake, challenger_version: str,
                champion_version: str | None, ope_diff_bps: float | None = None) -> SandboxResult:
    """Replay night ``day``'s logged requests through the challenger; see the module docstring.
    ``ope_diff_bps``: the gate's challenger - incumbent off-policy estimate (None: not checked)."""
    router = LiveRouter.from_registry(settings.with_overrides(router_explore=False), challenger_version,
                                      guard_state=None)  # the live session's guard evidence stays out of it
    logged = logged_requests(lake, day)
    requests = replay_sample(logged, settings.sandbox.max_requests, day)
    reasons: list[str] = []
    if not router.ready:
        reasons.append(f"challenger v{challenger_version} could not be loaded by the router library "
                       f"({router.load_error})")
    fallbacks, nonfinite, misallocated, lat = replay(router, requests, lake, day, settings)
    p99 = float(np.percentile(lat, 99)) if lat else 0.0
    if fallbacks:
        reasons.append(f"challenger fell back to the static waterfall on {fallbacks} of {len(lat)} requests")
    if nonfinite:
        reasons.append(f"challenger scored non-finite costs on {nonfinite} requests")
    if misallocated:
        reasons.append(f"allocations did not place the order's quantity on {misallocated} requests")
    if p99 > settings.sandbox.max_p99_latency_us:
        reasons.append(f"p99 routing latency {p99:.0f} us > {settings.sandbox.max_p99_latency_us:.0f} us")
    if ope_diff_bps is not None and ope_diff_bps > settings.sandbox.tolerance_bps:
        reasons.append(f"off-policy cost {ope_diff_bps:+.3f} bps above the incumbent "
                       f"(tolerance {settings.sandbox.tolerance_bps})")
    return SandboxResult(
        passed=not reasons, sandbox_date=day.isoformat(), challenger_version=challenger_version,
        champion_version=champion_version, decisions=len(lat), logged_requests=logged.height,
        challenger_fallbacks=fallbacks, nonfinite=nonfinite,
        misallocated=misallocated, p99_latency_us=round(p99, 1), ope_diff_bps=ope_diff_bps, reasons=reasons)
