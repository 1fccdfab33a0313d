"""Report figures as deterministic inline SVG data URIs (matplotlib Agg, no pyplot global state).

Determinism: fixed ``svg.hashsalt``, text as paths (no font files at view time), ``metadata={'Date': None}``,
sorted series. Signs: slippage bps + = cost; markout bps + = moved our way, − = adverse selection.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import polars as pl
from matplotlib.figure import Figure

RC: Any = {"svg.hashsalt": "sor-best-execution", "svg.fonttype": "path", "font.size": 9, "axes.grid": True,
          "grid.alpha": 0.3, "path.simplify": False}
MARKOUTS = (("markout_1s_bps", 1), ("markout_5s_bps", 5), ("markout_30s_bps", 30), ("markout_60s_bps", 60))


def to_data_uri(fig: Figure) -> str:
    """``data:image/svg+xml;base64,...`` of ``fig`` (byte-identical across runs)."""
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches=None)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure() -> Figure:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.2, 3.2), dpi=100, layout="constrained")
        fig.add_subplot(1, 1, 1)
    return fig


def _empty(ax: object, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)  # type: ignore[attr-defined]


def slippage_distribution(tca_child: pl.DataFrame) -> str:
    """Histogram of arrival slippage of filled child orders by side (bps, + = cost)."""
    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.axes[0]
        t = tca_child.filter(pl.col("arrival_slippage_bps").is_not_null()) if not tca_child.is_empty() else tca_child
        if t.is_empty():
            _empty(ax, "no filled child orders")
        else:
            vals = t["arrival_slippage_bps"]
            lo, hi = float(vals.quantile(0.005) or 0.0), float(vals.quantile(0.995) or 0.0)
            if hi <= lo:
                lo, hi = lo - 1.0, hi + 1.0
            for side, color in (("BUY", "#1f77b4"), ("SELL", "#d62728")):
                v = t.filter(pl.col("side") == side)["arrival_slippage_bps"].clip(lo, hi).to_list()
                if v:
                    ax.hist(v, bins=40, range=(lo, hi), alpha=0.6, color=color, label=f"{side} (n={len(v)})")
            ax.axvline(0.0, color="black", lw=0.8)
            ax.legend(loc="upper right")
        ax.set_xlabel("arrival slippage, bps (+ = cost; clipped to the 0.5–99.5% range)")
        ax.set_ylabel("child orders")
        ax.set_title("Arrival slippage distribution")
        return to_data_uri(fig)


def venue_cost_over_time(tca_child: pl.DataFrame) -> str:
    """Daily mean arrival slippage per venue (bps, + = cost)."""
    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.axes[0]
        t = tca_child.filter(pl.col("arrival_slippage_bps").is_not_null()) if not tca_child.is_empty() else tca_child
        if t.is_empty():
            _empty(ax, "no filled child orders")
        else:
            daily = t.group_by("venue", "date").agg(pl.col("arrival_slippage_bps").mean().alias("c")).sort("venue",
                                                                                                            "date")
            for venue in sorted(daily["venue"].unique().to_list()):
                d = daily.filter(pl.col("venue") == venue)
                ax.plot(d["date"].to_list(), d["c"].to_list(), marker="o", ms=3, label=venue)
            ax.legend(loc="best", ncols=3, fontsize=7)
            days = sorted(daily["date"].unique().to_list())
            if len(days) <= 15:  # one tick per trading day; longer periods: matplotlib's date locator
                ax.set_xticks(days)
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
            fig.autofmt_xdate()
        ax.set_ylabel("mean arrival slippage, bps (+ = cost)")
        ax.set_title("Venue cost over time")
        return to_data_uri(fig)


def markout_curves(tca_child: pl.DataFrame) -> str:
    """Filled-share-weighted markout per venue at 1, 5, 30, 60 s (bps, + = moved our way)."""
    with matplotlib.rc_context(RC):
        fig = _figure()
        ax = fig.axes[0]
        t = tca_child.filter(pl.col("filled_qty") > 0) if not tca_child.is_empty() else tca_child
        if t.is_empty():
            _empty(ax, "no filled child orders")
        else:
            w = pl.col("filled_qty").cast(pl.Float64)
            aggs = [((pl.col(c) * w).sum() / w.filter(pl.col(c).is_not_null()).sum()).alias(c) for c, _ in MARKOUTS]
            by = t.group_by("venue").agg(aggs).sort("venue")
            xs = [h for _, h in MARKOUTS]
            for row in by.iter_rows(named=True):
                ax.plot(xs, [row[c] for c, _ in MARKOUTS], marker="o", ms=3, label=row["venue"])
            ax.axhline(0.0, color="black", lw=0.8)
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{h} s" for h in xs])
            ax.legend(loc="best", ncols=3, fontsize=7)
        ax.set_xlabel("horizon after the fill")
        ax.set_ylabel("markout, bps (− = adverse selection)")
        ax.set_title("Markout curves by venue")
        return to_data_uri(fig)


def figures(tca_child: pl.DataFrame) -> list[tuple[str, str]]:
    """(caption, data URI) of every report figure, in report order."""
    return [("Arrival slippage distribution by side", slippage_distribution(tca_child)),
            ("Daily venue cost (mean arrival slippage)", venue_cost_over_time(tca_child)),
            ("Markout curves by venue", markout_curves(tca_child))]
