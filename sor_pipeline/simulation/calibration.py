"""How loud the monitor is on simulated days: clean days (false alarms) and regime shifts (detection).

:func:`monitor_days` simulates trading days straight into a lake (the simulator's canonical tables, the
NBBO built as ingest builds it, the features as the nightly builds them; no raw drop, no model), runs
:func:`sor_pipeline.monitoring.run_monitor` on each day in order (so each night's monitoring rows are the
next nights' reference, as in production) and returns one :class:`DayAlarms` per day. Used by the
calibration tests and ``benchmarks/monitor_calibration.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.features import write_features
from sor_pipeline.ingest.nbbo import build_nbbo
from sor_pipeline.monitoring import run_monitor
from sor_pipeline.simulation.config import SimConfig
from sor_pipeline.simulation.drop import simulate_range
from sor_pipeline.storage.lake import Lake


@dataclass(frozen=True)
class DayAlarms:
    """One monitored day: ``warn_rows`` (breached result rows at warn or error), ``alerts`` (alerts, one
    per check and date) and ``breaches`` (check, venue, subject) of each breached row."""

    day: date
    day_index: int
    shifted: bool
    warn_rows: int
    alerts: int
    breaches: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def fired(self, check: str, venue: str | None = None, subject: str | None = None) -> bool:
        return any(c == check and (venue is None or v == venue) and (subject is None or s == subject)
                   for c, v, s in self.breaches)


def monitor_days(config: SimConfig, start: date, days: int, home: Path) -> list[DayAlarms]:
    """Simulate ``days`` trading days of ``config`` from ``start`` into a lake under ``home`` and run the
    monitor on each (alerts built, none sent). A day is ``shifted`` when a regime is in force."""
    settings = Settings(home=home)
    lake = Lake(settings.lake_root)
    out = []
    for simday in simulate_range(config, start, days):
        for name, table in simday.tables.items():
            lake.write(name, table, simday.date)
        lake.write("nbbo", build_nbbo(simday.tables["quotes"]), simday.date)
        write_features(simday.date, lake, settings)
        report = run_monitor(simday.date, lake, settings, alert=False)
        bad = report.results.filter(~pl.col("passed") & pl.col("severity").is_in(["warn", "error"]))
        out.append(DayAlarms(simday.date, simday.day_index, bool(simday.regimes), bad.height, len(report.alerts),
                             [(r["check"], r["venue"], r["subject"]) for r in bad.iter_rows(named=True)]))
    return out
