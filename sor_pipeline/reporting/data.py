"""Load what the best-execution report reads from the lake, and name it (datasets, dates, hashes).

Everything is read through :class:`~sor_pipeline.storage.lake.Lake` for ``start..end`` inclusive. Client ids are
dropped on load: the report never prints anything about clients beyond pseudonymous counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

import sor_pipeline.monitoring  # noqa: F401  (registers the ``monitoring`` dataset in the lake catalog)
from sor_pipeline.reporting.executions import enrich_fills, receipt_quotes
from sor_pipeline.storage.lake import Lake

#: Datasets the report reads, in the order they are listed in the reproducibility appendix.
DATASETS: tuple[str, ...] = ("parent_orders", "child_orders", "fills", "venues", "nbbo", "tca_child",
                             "tca_parent", "sim_oracle", "monitoring")


@dataclass(frozen=True)
class Partition:
    """One lake partition the report read: ``dataset``, ``day`` and its sha256 (Lake.partition_hash)."""

    dataset: str
    day: date
    sha256: str


@dataclass
class ReportData:
    """Eager frames for the period (each with the hive ``date`` column) plus derived per-fill rows."""

    start: date
    end: date
    parents: pl.DataFrame
    children: pl.DataFrame
    fills: pl.DataFrame
    venues: pl.DataFrame
    nbbo: pl.DataFrame
    tca_child: pl.DataFrame
    tca_parent: pl.DataFrame
    oracle: pl.DataFrame
    monitoring: pl.DataFrame
    partitions: list[Partition] = field(default_factory=list)
    executions: pl.DataFrame = field(default_factory=pl.DataFrame)
    children_rcpt: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def days(self) -> list[date]:
        """Trading days with child orders in the period, ascending."""
        if self.children.is_empty():
            return []
        return sorted(self.children["date"].unique().to_list())


def _read(lake: Lake, name: str, start: date, end: date) -> pl.DataFrame:
    return lake.read(name, start=start, end=end).collect()


def partitions_read(lake: Lake, start: date, end: date) -> list[Partition]:
    """Every partition of :data:`DATASETS` in ``start..end`` with its hash, in dataset then date order."""
    out: list[Partition] = []
    for name in DATASETS:
        for d in lake.dates(name):
            if start <= d <= end:
                out.append(Partition(name, d, lake.partition_hash(name, d)))
    return out


def load(lake: Lake, start: date, end: date) -> ReportData:
    """Read the period's tables; sort them by their ids so every downstream order is stable."""
    parents = _read(lake, "parent_orders", start, end).drop("client_id", strict=False).sort("parent_id")
    children = _read(lake, "child_orders", start, end).sort("date", "child_id")
    fills = _read(lake, "fills", start, end).sort("date", "exec_id")
    nbbo = _read(lake, "nbbo", start, end).sort("symbol", "ts")
    venues = _read(lake, "venues", start, end)
    if not venues.is_empty():
        venues = venues.sort("date").unique("venue", keep="last").sort("venue")
    data = ReportData(
        start=start, end=end, parents=parents, children=children, fills=fills, venues=venues, nbbo=nbbo,
        tca_child=_read(lake, "tca_child", start, end).sort("date", "child_id"),
        tca_parent=_read(lake, "tca_parent", start, end).sort("date", "parent_id"),
        oracle=_read(lake, "sim_oracle", start, end).sort("date", "child_id", "venue"),
        monitoring=_read(lake, "monitoring", start, end),
        partitions=partitions_read(lake, start, end),
    )
    data.executions = enrich_fills(fills, children, nbbo).sort("date", "exec_id")
    data.children_rcpt = receipt_quotes(children, nbbo)
    return data


def venue_types(data: ReportData) -> dict[str, str]:
    """venue -> venue_type (DARK / ECN / LIT) from the ``venues`` reference; unknown venues are absent."""
    if data.venues.is_empty():
        return {}
    return dict(zip(data.venues["venue"].to_list(), data.venues["venue_type"].to_list(), strict=True))
