"""Model governance: the champion and the model versions that routed in the period, with their gate
evidence (read through :mod:`sor_pipeline.storage.registry`, the only MLflow module), and feature drift.

Gate evidence per version comes from its tags: ``gate_verdict``, ``p_value`` (one-sided), ``cost_diff_bps``
(challenger − champion expected cost, bps; < 0 = cheaper), ``gate_reasons``, ``train_window``, ``data_hash``,
``code_version``, ``run_id``, ``day`` (the nightly that produced it; the promotion date when ``promoted`` is
true). Drift: PSI (unitless; < 0.1 stable, 0.1–0.25 moderate, > 0.25 major) of the period against the
champion's training window, from the lake's ``monitoring`` rows with category ``drift`` when present, else
computed here with :func:`sor_pipeline.monitoring.psi` over the ``features`` dataset.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import polars as pl

from schemas import FEATURE_COLUMNS
from sor_pipeline.config.settings import Settings
from sor_pipeline.monitoring import psi
from sor_pipeline.reporting.data import ReportData
from sor_pipeline.reporting.tables import INT, Table
from sor_pipeline.storage.lake import Lake

TAGS = ("day", "promoted", "gate_verdict", "p_value", "cost_diff_bps", "gate_reasons", "train_window",
        "data_hash", "code_version", "run_id")
NO_CHAMPION = "No champion registered: the registry holds no model under the champion alias."


def _has_store(settings: Settings) -> bool:
    """False when the default local MLflow store was never created (nothing registered; don't create one)."""
    return settings.has_tracking_store


def routing_versions(data: ReportData) -> pl.DataFrame:
    """Model versions named by ``router_policy`` (``model:<version>[/explore]``) with their child orders."""
    if data.children.is_empty():
        return pl.DataFrame(schema={"version": pl.String, "child_orders": pl.Int64})
    v = data.children.select(pl.col("router_policy").str.extract(r"^model:([^/]+)", 1).alias("version"))
    return (v.drop_nulls().group_by("version").agg(pl.len().cast(pl.Int64).alias("child_orders"))
            .sort("version"))


def registry_info(settings: Settings, versions: list[str]) -> dict[str, Any]:
    """``champion`` (version or None), ``note`` and ``versions``: version -> selected tags (reasons parsed)."""
    out: dict[str, Any] = {"champion": None, "note": NO_CHAMPION, "versions": {}}
    if not _has_store(settings):
        return out
    from sor_pipeline.storage import registry  # imported lazily: MLflow is slow to import

    champ = registry.champion_version(settings)
    out["champion"] = champ
    if champ is not None:
        out["note"] = ""
    wanted = sorted({*versions, *([champ] if champ else [])}, key=lambda v: (len(v), v))
    for v in wanted:
        try:
            tags = registry.version_tags(settings, v)
        except Exception as exc:  # a version named in the logs but not (or no longer) in this registry
            out["versions"][v] = {"error": f"not in registry: {type(exc).__name__}"}
            continue
        info: dict[str, Any] = {k: tags.get(k, "") for k in TAGS}
        try:
            info["gate_reasons"] = json.loads(info["gate_reasons"] or "[]")
        except json.JSONDecodeError:
            info["gate_reasons"] = [info["gate_reasons"]]
        out["versions"][v] = info
    return out


def _short(text: Any, spec: str) -> str:
    """A number kept as a tag string, printed with ``spec`` (tags hold 16 digits); other text as is."""
    try:
        return spec.format(float(text))
    except (TypeError, ValueError):
        return str(text)


def versions_table(info: dict[str, Any], used: pl.DataFrame) -> Table:
    """One row per version (champion and those that routed): gate evidence and lineage."""
    counts = dict(zip(used["version"].to_list(), used["child_orders"].to_list(), strict=True))
    rows = []
    for v, tags in info["versions"].items():
        rows.append({"version": v, "champion": "yes" if v == info["champion"] else "",
                     "child_orders": counts.get(v, 0),
                     "produced_on": tags.get("day", ""), "promoted": tags.get("promoted", ""),
                     "verdict": tags.get("gate_verdict", tags.get("error", "")),
                     "p_value": _short(tags.get("p_value", ""), "{:.4f}"),
                     "cost_diff_bps": _short(tags.get("cost_diff_bps", ""), "{:+.3f}"),
                     "reasons": "; ".join(str(r) for r in tags.get("gate_reasons", [])),
                     "train_window": tags.get("train_window", ""), "data_hash": str(tags.get("data_hash", ""))[:16],
                     "code_version": str(tags.get("code_version", ""))[:12]})
    for v in used["version"].to_list():
        if v not in info["versions"]:
            rows.append({"version": v, "champion": "", "child_orders": counts[v], "verdict": "not in registry"})
    schema = {k: pl.String for k in ("version", "champion", "produced_on", "promoted", "verdict", "p_value",
                                     "cost_diff_bps", "reasons", "train_window", "data_hash", "code_version")}
    frame = pl.DataFrame(rows, schema={**schema, "child_orders": pl.Int64}).select(
        "version", "champion", "child_orders", "produced_on", "promoted", "verdict", "p_value", "cost_diff_bps",
        "reasons", "train_window", "data_hash", "code_version")
    return Table("model_versions", "Champion and the model versions that routed in the period", frame,
                 formats={"child_orders": INT},
                 labels={"child_orders": "child orders routed", "produced_on": "nightly (promotion) date",
                         "cost_diff_bps": "cost diff bps", "p_value": "p-value", "train_window": "training window",
                         "data_hash": "data hash", "code_version": "code version"},
                 notes=("cost diff = challenger − champion expected cost in the walk-forward backtest, bps "
                        "(< 0 = cheaper); p-value of the gate's one-sided paired test.",))


def _window(info: dict[str, Any]) -> tuple[date, date] | None:
    champ = info.get("champion")
    tags = info["versions"].get(champ, {}) if champ else {}
    try:
        a, b = str(tags.get("train_window", "")).split("..")
        return date.fromisoformat(a), date.fromisoformat(b)
    except ValueError:
        return None


def drift_table(data: ReportData, lake: Lake, info: dict[str, Any]) -> Table | None:
    """Drift per check and subject over the period, or None when there is nothing to show."""
    m = data.monitoring
    if not m.is_empty() and "category" in m.columns and not (d := m.filter(pl.col("category") == "drift")).is_empty():
        frame = (d.with_columns(pl.col("venue").fill_null(""))
                 .group_by("check", "subject", "venue").agg(
                     pl.col("date").n_unique().alias("days"), pl.col("value").mean().alias("mean_psi"),
                     pl.col("value").max().alias("max_psi"), (~pl.col("passed")).sum().alias("breaches"))
                 .sort(["max_psi", "check", "subject", "venue"], descending=[True, False, False, False],
                       nulls_last=True))
        source = "lake monitoring dataset (category drift)"
    else:
        window = _window(info)
        if window is None:
            return None
        ref = lake.read("features", start=window[0], end=window[1]).collect()
        cur = lake.read("features", start=data.start, end=data.end).collect()
        cols = [c for c in FEATURE_COLUMNS if c in ref.columns and c in cur.columns]
        if ref.is_empty() or cur.is_empty() or not cols:
            return None
        frame = pl.DataFrame({"check": ["psi_feature"] * len(cols), "subject": cols, "venue": [""] * len(cols),
                              "days": [cur["date"].n_unique()] * len(cols),
                              "mean_psi": [psi(ref[c], cur[c]) for c in cols]}).with_columns(
            pl.col("mean_psi").alias("max_psi"), (pl.col("mean_psi") > 0.25).cast(pl.UInt32).alias("breaches")
        ).sort(["max_psi", "subject"], descending=[True, False])
        source = f"computed here: features of the period vs the training window {window[0]}..{window[1]}"
    return Table("drift", "Feature and outcome drift vs the training window (PSI)", frame,
                 formats={"days": INT, "mean_psi": "{:.3f}", "max_psi": "{:.3f}", "breaches": INT},
                 labels={"mean_psi": "mean PSI", "max_psi": "max PSI"},
                 notes=(f"Source: {source}. PSI < 0.1 stable, 0.1–0.25 moderate, > 0.25 major shift.",))
