"""Independent pandas ``merge_asof`` reference for arrival mid, arrival slippage and markouts.

Used by the feature and TCA tests (agreement to 1e-9) and by the features benchmark (speed ratio).
Signs as in docs/DESIGN.md: slippage + = cost; markout + = price moved our way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

HORIZONS_S = (1.0, 5.0, 30.0, 60.0)


def reference_labels(children: pl.DataFrame, fills: pl.DataFrame, nbbo: pl.DataFrame,
                     horizons_s: tuple[float, ...] = HORIZONS_S) -> pd.DataFrame:
    """Per child: arrival_mid, avg_fill_px, fee_bps, arrival_slippage_bps, markout_<h>s_bps."""
    q = nbbo.select("ts", "symbol", "mid_px").to_pandas().sort_values("ts", kind="stable")
    c = children.select("child_id", "symbol", "side", "sent_ts").to_pandas().sort_values("sent_ts", kind="stable")
    c = pd.merge_asof(c, q.rename(columns={"ts": "sent_ts", "mid_px": "arrival_mid"}), on="sent_ts",
                      by="symbol", direction="backward", allow_exact_matches=True)
    f = fills.select("child_id", "ts", "qty", "px", "fee_bps").to_pandas()
    f = f.merge(c[["child_id", "symbol", "side"]], on="child_id", how="inner")
    s = np.where(f["side"] == "BUY", 1.0, -1.0)
    for h in horizons_s:
        f["probe"] = f["ts"] + pd.Timedelta(round(h * 1e9), unit="ns")
        f = f.sort_values("probe", kind="stable")
        s = np.where(f["side"] == "BUY", 1.0, -1.0)
        g = pd.merge_asof(f[["probe", "symbol"]], q.rename(columns={"ts": "probe"}), on="probe", by="symbol",
                          direction="backward")
        f[f"m{h:g}"] = s * (g["mid_px"].to_numpy() - f["px"].to_numpy()) / f["px"].to_numpy() * 1e4
    f["notional"] = f["qty"] * f["px"]
    f["fee_w"] = f["qty"] * f["fee_bps"]
    agg = {"qty": "sum", "notional": "sum", "fee_w": "sum"}
    for h in horizons_s:
        f[f"w{h:g}"] = np.where(f[f"m{h:g}"].notna(), f["qty"], 0)
        f[f"mw{h:g}"] = (f[f"m{h:g}"] * f["qty"]).fillna(0.0)
        agg |= {f"w{h:g}": "sum", f"mw{h:g}": "sum"}
    g = f.groupby("child_id").agg(agg).reset_index()
    out = c.merge(g, on="child_id", how="left")
    out["avg_fill_px"] = out["notional"] / out["qty"]
    out["fee_bps"] = out["fee_w"] / out["qty"]
    sign = np.where(out["side"] == "BUY", 1.0, -1.0)
    out["arrival_slippage_bps"] = (sign * (out["avg_fill_px"] - out["arrival_mid"]) / out["arrival_mid"] * 1e4
                                   + out["fee_bps"])
    for h in horizons_s:
        out[f"markout_{h:g}s_bps"] = np.where(out[f"w{h:g}"] > 0, out[f"mw{h:g}"] / out[f"w{h:g}"].where(
            out[f"w{h:g}"] > 0, 1), np.nan)
    cols = ["child_id", "arrival_mid", "avg_fill_px", "fee_bps", "arrival_slippage_bps",
            *[f"markout_{h:g}s_bps" for h in horizons_s]]
    return out[cols].sort_values("child_id").reset_index(drop=True)
