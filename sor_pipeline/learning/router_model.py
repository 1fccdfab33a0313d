"""RouterModel: the per-venue boosters the router scores with, plus the feature spec.

A venue's score for one routing request is an expected arrival cost in bps (+ = cost), computed
with the shared formula in :mod:`sor_pipeline.learning.costs`::

    expected_cost_bps = p_fill * slippage_bps + (1 - p_fill) * fallback_bps

``p_fill`` comes from the venue's fill classifier, ``slippage_bps`` (expected arrival slippage given a
fill, fees included) from its slippage regressor, and ``fallback_bps`` is the lowest predicted LIT
slippage for the same request.

Persistence (:meth:`RouterModel.save` / :meth:`RouterModel.load`) is a plain folder: ``feature_spec.json``
plus one XGBoost UBJSON file per booster (XGBoost's own ``save_model``). Nothing is pickled.

Venues unseen in training get no score: their candidate rows are dropped from :meth:`score`'s output
(the router then cannot choose them, which is the conservative choice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import xgboost as xgb

from schemas.features import MODEL_FEATURES
from sor_pipeline.learning.costs import with_fallback

SPEC_FILE = "feature_spec.json"
SPEC_VERSION = 1
SCORE_COLUMNS = ["p_fill", "slippage_bps", "fallback_bps", "expected_cost_bps"]


@dataclass
class VenueModel:
    """One venue's two models. A booster may be None, then the constant is used instead
    (e.g. a venue that filled every child in the window has a constant p_fill)."""

    venue: str
    venue_type: str
    fill: xgb.Booster | None = None
    slippage: xgb.Booster | None = None
    fill_const: float | None = None
    slippage_const_bps: float | None = None

    def predict_p_fill(self, x: np.ndarray) -> np.ndarray:
        """Expected filled share of the routed quantity in [0, 1] (the fill probability of a share), per row of
        ``x`` (MODEL_FEATURES order)."""
        if self.fill is not None:
            return np.asarray(self.fill.inplace_predict(x), dtype=np.float64)
        return np.full(x.shape[0], float(self.fill_const if self.fill_const is not None else 0.5))

    def predict_slippage(self, x: np.ndarray) -> np.ndarray:
        """Expected arrival slippage given a fill, bps (+ = cost)."""
        if self.slippage is not None:
            return np.asarray(self.slippage.inplace_predict(x), dtype=np.float64)
        return np.full(x.shape[0], float(self.slippage_const_bps or 0.0))


@dataclass
class RouterModel:
    """Per-venue boosters, the venue -> venue_type map and the feature spec."""

    venues: dict[str, VenueModel]
    feature_columns: list[str] = field(default_factory=lambda: list(MODEL_FEATURES))
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def venue_types(self) -> dict[str, str]:
        return {v: m.venue_type for v, m in self.venues.items()}

    def feature_matrix(self, frame: pl.DataFrame) -> np.ndarray:
        """float64 matrix of the feature columns in spec order; nulls become NaN (missing)."""
        return frame.select([pl.col(c).cast(pl.Float64) for c in self.feature_columns]).to_numpy()

    def predict(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add ``p_fill`` and ``slippage_bps`` per row by the row's ``venue``; rows of unknown venues
        are dropped. The row order of known venues is kept."""
        frame = frame.with_row_index("_row")
        parts: list[pl.DataFrame] = []
        for part in frame.partition_by("venue", maintain_order=True):
            model = self.venues.get(str(part["venue"][0]))
            if model is None:
                continue
            x = self.feature_matrix(part)
            parts.append(part.with_columns(
                pl.Series("p_fill", np.clip(model.predict_p_fill(x), 0.0, 1.0)),
                pl.Series("slippage_bps", model.predict_slippage(x)),
            ))
        if not parts:
            return frame.drop("_row").clear().with_columns(
                pl.lit(None, pl.Float64).alias("p_fill"), pl.lit(None, pl.Float64).alias("slippage_bps")
            )
        return pl.concat(parts, how="vertical_relaxed").sort("_row").drop("_row")

    def score(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Score candidate rows ``(request_id, venue, [venue_type], MODEL_FEATURES...)``.

        Returns the input rows of known venues with ``p_fill``, ``slippage_bps``, ``fallback_bps``
        and ``expected_cost_bps`` (bps, + = cost). ``venue_type`` is taken from the model's venue map
        (the input's own column, if any, is replaced).
        """
        vt = pl.DataFrame({"venue": list(self.venue_types), "venue_type": list(self.venue_types.values())},
                          schema={"venue": pl.String, "venue_type": pl.String})
        frame = frame.drop("venue_type", strict=False).join(vt, on="venue", how="inner", maintain_order="left")
        return with_fallback(self.predict(frame))

    # ----------------------------------------------------------------------------------------------
    # persistence: JSON spec + XGBoost UBJSON boosters, no pickles
    def spec(self) -> dict[str, Any]:
        venues: dict[str, dict[str, Any]] = {}
        for v, m in self.venues.items():
            venues[v] = {
                "venue_type": m.venue_type,
                "fill": f"{v}__fill.ubj" if m.fill is not None else None,
                "slippage": f"{v}__slippage.ubj" if m.slippage is not None else None,
                "fill_const": m.fill_const,
                "slippage_const_bps": m.slippage_const_bps,
            }
        return {"spec_version": SPEC_VERSION, "feature_columns": self.feature_columns, "venues": venues,
                "meta": self.meta, "versions": {"xgboost": xgb.__version__, "polars": pl.__version__,
                                                "numpy": np.__version__}}

    def save(self, path: Path | str) -> Path:
        """Write ``feature_spec.json`` and the boosters into folder ``path``; returns it."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        spec = self.spec()
        for v, m in self.venues.items():
            if m.fill is not None:
                m.fill.save_model(str(out / spec["venues"][v]["fill"]))
            if m.slippage is not None:
                m.slippage.save_model(str(out / spec["venues"][v]["slippage"]))
        (out / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True, default=str))
        return out

    @classmethod
    def load(cls, path: Path | str) -> RouterModel:
        """Read a folder written by :meth:`save` (or any folder below which one ``feature_spec.json`` lies)."""
        root = Path(path)
        if not (root / SPEC_FILE).is_file():
            found = sorted(root.rglob(SPEC_FILE))
            if not found:
                raise FileNotFoundError(f"no {SPEC_FILE} under {root}")
            root = found[0].parent
        spec = json.loads((root / SPEC_FILE).read_text())
        venues: dict[str, VenueModel] = {}
        for v, s in spec["venues"].items():
            venues[v] = VenueModel(
                venue=v, venue_type=s["venue_type"],
                fill=_load_booster(root / s["fill"]) if s.get("fill") else None,
                slippage=_load_booster(root / s["slippage"]) if s.get("slippage") else None,
                fill_const=s.get("fill_const"), slippage_const_bps=s.get("slippage_const_bps"),
            )
        return cls(venues=venues, feature_columns=list(spec["feature_columns"]), meta=dict(spec.get("meta", {})))


def _load_booster(path: Path) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(str(path))
    booster.set_param({"nthread": 1})
    return booster
