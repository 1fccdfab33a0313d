"""Diagnostic figures of one venue's validation slice (matplotlib, Agg backend, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from sor_pipeline.learning.train import VenueReport


def calibration_figure(report: VenueReport, bins: int = 10) -> Figure | None:
    """Reliability diagram of the fill classifier: mean predicted p_fill vs observed fill rate per decile."""
    p, y = report.valid.get("p_fill"), report.valid.get("filled")
    if p is None or y is None or len(p) == 0:
        return None
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    xs = [float(p[idx == i].mean()) for i in np.unique(idx)]
    ys = [float(y[idx == i].mean()) for i in np.unique(idx)]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.plot(xs, ys, "o-", label=report.venue)
    ax.set_xlabel("predicted p_fill")
    ax.set_ylabel("observed fill rate")
    ax.set_title(f"{report.venue}: fill calibration (validation)")
    ax.legend()
    fig.tight_layout()
    return fig


def residual_figure(report: VenueReport) -> Figure | None:
    """Slippage residuals (actual - predicted, bps; + = costlier than predicted) vs prediction."""
    pred, y = report.valid.get("slippage_pred_bps"), report.valid.get("slippage_bps")
    if pred is None or y is None or len(pred) == 0:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
    res = y - pred
    a1.scatter(pred, res, s=4, alpha=0.4)
    a1.axhline(0, color="k", lw=1)
    a1.set_xlabel("predicted slippage, bps")
    a1.set_ylabel("residual, bps")
    a2.hist(np.clip(res, -20, 20), bins=60)
    a2.set_xlabel("residual, bps (clipped at ±20)")
    fig.suptitle(f"{report.venue}: slippage residuals (validation)")
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


def venue_figures(report: VenueReport) -> dict[str, Figure]:
    """The figures logged with a venue's nested run: file name -> figure (absent ones left out)."""
    figs = {"calibration.png": calibration_figure(report), "residuals.png": residual_figure(report)}
    return {name: fig for name, fig in figs.items() if fig is not None}
