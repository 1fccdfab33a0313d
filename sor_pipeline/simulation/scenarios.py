"""Scenario files: a simulated story as data (TOML), for ``sor-pipeline sim`` and ``demo --scenario``.

Only ``[[regimes]]`` is required (an empty list is written ``regimes = []``); ``name`` defaults to the
file's stem; ``seed`` and ``symbols`` are optional (command-line flags override them); ``end_day`` is
exclusive (absent = until the end); ``[[venues]]`` may replace the venue list (fields of
:class:`~sor_pipeline.simulation.config.VenueSpec`), drawn from the venue reference — the configured one
(``ingest.venues``) or the scenario's own ``venue_reference = "file.csv"`` (relative to the scenario)::

    name = "toxic-pool"
    seed = 7
    symbols = 5
    [[regimes]]
    kind = "toxic"    # toxic | fill_rate | volatility
    venue = "DRK2"    # omitted for market-wide kinds
    start_day = 9     # 0-based trading-day index within the run
    end_day = 15
    factor = 8.0

A malformed file is refused with a message naming the file and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, get_args

from sor_pipeline.simulation.config import Regime, RegimeKind, SimConfig, VenueSpec

VENUE_KINDS = ("toxic", "fill_rate")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Scenario:
    name: str
    regimes: list[Regime]
    seed: int | None = None
    symbols: int | None = None
    venues: list[VenueSpec] | None = None

    def shift_days(self) -> list[int]:
        """Day indexes where the market changes (each regime's start, and its end when given)."""
        out = {r.start_day for r in self.regimes} | {r.end_day for r in self.regimes if r.end_day is not None}
        return sorted(out)

    def apply(self, config: SimConfig) -> SimConfig:
        out = replace(config, regimes=list(self.regimes))
        return replace(out, venues=list(self.venues)) if self.venues else out


def _field(path: Path, where: str, table: dict[str, Any], key: str, kind: type | tuple[type, ...],
           required: bool = True) -> Any:
    if key not in table:
        if required:
            raise ScenarioError(f"{path}: {where}: missing field '{key}'")
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ScenarioError(f"{path}: {where}.{key} = {value!r}: expected {getattr(kind, '__name__', kind)}")
    return value


def _regime(path: Path, i: int, t: dict[str, Any], venues: set[str]) -> Regime:
    where = f"regimes[{i}]"
    known = {"kind", "venue", "start_day", "end_day", "factor"}
    extra = sorted(set(t) - known)
    if extra:
        raise ScenarioError(f"{path}: {where}: unknown field(s) {extra} (known: {sorted(known)})")
    kind = _field(path, where, t, "kind", str)
    if kind not in get_args(RegimeKind):
        raise ScenarioError(f"{path}: {where}.kind = {kind!r}: expected one of {list(get_args(RegimeKind))}")
    start = _field(path, where, t, "start_day", int)
    end = _field(path, where, t, "end_day", int, required=False)
    factor = float(_field(path, where, t, "factor", (int, float)))
    venue = _field(path, where, t, "venue", str, required=kind in VENUE_KINDS)
    if start < 0 or (end is not None and end <= start):
        raise ScenarioError(f"{path}: {where}: start_day {start} / end_day {end}: need 0 <= start_day < end_day")
    if factor <= 0:
        raise ScenarioError(f"{path}: {where}.factor = {factor}: must be > 0")
    if venue is not None and venue not in venues:
        raise ScenarioError(f"{path}: {where}.venue = {venue!r}: not a venue of the scenario {sorted(venues)}")
    return Regime(kind, start_day=start, factor=factor, venue=venue, end_day=end)


def _check_reference(path: Path, data: dict[str, Any], venues: list[VenueSpec]) -> None:
    """A scenario's own venue list is drawn from a venue reference: its ``venue_reference`` file (relative
    to the scenario) or the configured one; every code must be listed there with the same kind."""
    from sor_pipeline.config.settings import get_settings
    from sor_pipeline.ingest.venue_ref import DEFAULT_PATH, VenueReferenceError, load_venue_reference

    own = _field(path, "scenario", data, "venue_reference", str, required=False)
    ref_path = (path.parent / own) if own else (get_settings().ingest.venues or DEFAULT_PATH)
    try:
        ref = load_venue_reference(ref_path)
    except VenueReferenceError as exc:
        raise ScenarioError(f"{path}: venue_reference: {exc}") from exc
    kinds = {str(v): ("ECN" if t == "INVERTED" else str(t)) for v, t in ref.select("venue", "venue_type").iter_rows()}
    for i, v in enumerate(venues):
        if v.code not in kinds:
            raise ScenarioError(f"{path}: venues[{i}].code: {v.code!r} is not in the venue reference {ref_path} "
                                "(add it there, or give the scenario its own file with venue_reference)")
        if kinds[v.code] != v.venue_type:
            raise ScenarioError(f"{path}: venues[{i}].venue_type: {v.venue_type!r} but the venue reference {ref_path} "
                                f"lists {v.code} as {kinds[v.code]!r}")


def load_scenario(path: Path | str) -> Scenario:
    """Read and check a scenario file (see the module docstring)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: no such scenario file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    known = {"name", "seed", "symbols", "regimes", "venues", "venue_reference"}
    extra = sorted(set(data) - known)
    if extra:
        raise ScenarioError(f"{path}: unknown field(s) {extra} (known: {sorted(known)})")
    if "regimes" not in data or not isinstance(data["regimes"], list):
        raise ScenarioError(f"{path}: missing field 'regimes' (a [[regimes]] table list; 'regimes = []' for none)")
    venues: list[VenueSpec] | None = None
    if "venues" in data:
        names = {f.name for f in fields(VenueSpec)}
        venues = []
        for i, v in enumerate(data["venues"]):
            bad = sorted(set(v) - names)
            if bad:
                raise ScenarioError(f"{path}: venues[{i}]: unknown field(s) {bad}")
            try:
                venues.append(VenueSpec(**v))
            except TypeError as exc:
                raise ScenarioError(f"{path}: venues[{i}]: {exc}") from exc
    if venues is not None:
        _check_reference(path, data, venues)
    codes = {v.code for v in (venues or SimConfig().venues)}
    regimes = [_regime(path, i, t, codes) for i, t in enumerate(data["regimes"])]
    seed = _field(path, "scenario", data, "seed", int, required=False)
    symbols = _field(path, "scenario", data, "symbols", int, required=False)
    name = _field(path, "scenario", data, "name", str, required=False) or path.stem
    return Scenario(name=name, regimes=regimes, seed=seed, symbols=symbols, venues=venues)
