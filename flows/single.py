"""Single-stage flows for `sor-pipeline features` and `sor-pipeline tca` (lake to lake)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from flows.stages import features_task, tca_task


@flow(name="sor-features")
def features_flow(day: date) -> dict[str, Any]:
    out = features_task.with_options(refresh_cache=True)(day, "cli")
    return {"date": day.isoformat(), "features": {k: out[k] for k in ("read", "written", "quarantined")},
            "path": out["path"]}


@flow(name="sor-tca")
def tca_flow(day: date) -> dict[str, Any]:
    return {"date": day.isoformat(), **tca_task.with_options(refresh_cache=True)(day, "cli")}
