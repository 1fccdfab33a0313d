"""Simulator configuration: venues, symbol universe knobs, size knobs and regime shifts.

Units: fees and costs in bps of notional (+ = paid / cost, - = rebate / gain); sizes in shares;
relative sizes as a fraction of ADV; latencies in microseconds; windows in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sor_pipeline.serving.exploration import ExplorationParams

VenueType = Literal["DARK", "ECN", "LIT"]
RegimeKind = Literal["toxic", "fill_rate", "volatility"]


@dataclass(frozen=True)
class VenueSpec:
    """One execution venue and its hidden ("true") behaviour.

    - ``maker_fee_bps`` / ``taker_fee_bps``: bps of notional, + = paid, - = rebate. Dark pools charge
      one fee for both (midpoint fills, liquidity flag MID).
    - ``fill_base``: DARK: probability that a tiny order finds a midpoint match in a MEDIUM-urgency
      window; ECN: probability that the displayed quote is still there when a taker IOC arrives.
    - ``passive_fill``: ECN only: probability that a passive post at the near touch fills within the
      post window (used for LOW urgency).
    - ``size_scale``: relative size (qty/ADV) at which the dark/passive fill probability has fallen by 1/e.
    - ``toxicity``: DARK only: adverse-selection scale, bps; the realized midpoint fill is
      ``toxicity * (1 + 3*sqrt(1000*qty/ADV))`` bps worse than the NBBO mid at fill time.
    - ``behind_p``: quoting venues: probability that the venue quotes one tick behind the NBBO on a side.
    - ``depth_scale``: mean displayed size per level, shares.
    - ``latency_us``: mean order-to-venue latency, microseconds.
    """

    code: str
    venue_type: VenueType
    maker_fee_bps: float
    taker_fee_bps: float
    fill_base: float = 1.0
    passive_fill: float = 0.0
    size_scale: float = 1e-3
    toxicity: float = 0.0
    behind_p: float = 0.3
    depth_scale: float = 600.0
    latency_us: float = 300.0


def default_venues() -> list[VenueSpec]:
    """The six default venues; codes match ``Settings.router.static_waterfall``."""
    return [
        VenueSpec("DRK1", "DARK", 0.10, 0.10, fill_base=0.55, size_scale=5.0e-4, toxicity=0.5, latency_us=800),
        VenueSpec("DRK2", "DARK", 0.05, 0.05, fill_base=0.40, size_scale=8.0e-3, toxicity=0.6, latency_us=1200),
        VenueSpec("ECNM", "ECN", -0.20, 0.30, fill_base=0.85, passive_fill=0.45, size_scale=1.5e-3,
                  behind_p=0.35, depth_scale=500, latency_us=250),
        VenueSpec("ECNI", "ECN", 0.15, -0.10, fill_base=0.70, passive_fill=0.25, size_scale=1.0e-3,
                  behind_p=0.45, depth_scale=300, latency_us=250),
        VenueSpec("LITA", "LIT", -0.15, 0.30, behind_p=0.2, depth_scale=800, latency_us=350),
        VenueSpec("LITB", "LIT", -0.10, 0.25, behind_p=0.3, depth_scale=600, latency_us=400),
    ]


@dataclass(frozen=True)
class Regime:
    """A regime shift in force on days ``start_day <= day_index < end_day`` (``end_day`` None = forever).

    - ``toxic``: multiply ``venue``'s toxicity by ``factor`` (a dark pool turning toxic).
    - ``fill_rate``: multiply ``venue``'s fill probabilities by ``factor`` (0.5 = fill rate halves).
    - ``volatility``: multiply every symbol's volatility by ``factor`` (``venue`` ignored).
    """

    kind: RegimeKind
    start_day: int
    factor: float
    venue: str | None = None
    end_day: int | None = None

    def active(self, day_index: int) -> bool:
        return day_index >= self.start_day and (self.end_day is None or day_index < self.end_day)


def default_regimes() -> list[Regime]:
    """The default story (day indexes from the first simulated day): a stable market long enough for
    the first champion (the gate's 5 walk-forward folds + 2 training days), then a dark pool turns
    toxic, later an ECN's fill rate halves, later volatility rises."""
    return [
        Regime("toxic", start_day=9, factor=8.0, venue="DRK2"),
        Regime("fill_rate", start_day=15, factor=0.5, venue="ECNM"),
        Regime("volatility", start_day=20, factor=1.6),
    ]


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulated day depends on; the defaults give a fast demo day (~5 symbols).

    Size knobs: ``quote_updates_per_symbol`` (rows of ``quotes`` per symbol, approx.),
    ``parent_orders_per_symbol``, ``trades_per_symbol``. A "big day" is e.g. ``n_symbols=500,
    quote_updates_per_symbol=40_000, parent_orders_per_symbol=500`` (see :func:`big_day_config`).
    """

    seed: int = 7
    n_symbols: int = 5
    venues: list[VenueSpec] = field(default_factory=default_venues)
    regimes: list[Regime] = field(default_factory=default_regimes)
    #: The logging router's exploration (sor_pipeline.serving.exploration): ``epsilon`` is the uniform
    #: share of a request ranked without scores (0 = no exploration at all); scored requests use the
    #: softmax temperature and floor.
    epsilon: float = 0.3
    explore: bool = True
    explore_temperature_bps: float = 0.2
    explore_floor: float = 0.003
    explore_static_share: float = 0.1
    #: The static waterfall's venue order (empty = ``venues`` in their order): its first available venue
    #: gets ``explore_static_share`` of a model-scored request's rank-1 draws.
    static_waterfall: tuple[str, ...] = ()
    #: While a model routes, the simulated router learns the outcomes of its orders every
    #: ``feedback_interval_s`` seconds (its intraday venue guard, sor_pipeline.serving.guard).
    feedback_interval_s: float = 900.0
    quote_updates_per_symbol: int = 2_000
    parent_orders_per_symbol: int = 40
    trades_per_symbol: int = 500
    max_slices: int = 3
    price_range: tuple[float, float] = (10.0, 300.0)
    adv_range: tuple[float, float] = (3e5, 3e7)
    daily_vol_bps_range: tuple[float, float] = (100.0, 300.0)
    spread_bps_range: tuple[float, float] = (2.0, 15.0)
    tick: float = 0.01
    rel_size_median: float = 5e-4
    rel_size_sigma: float = 1.3
    reject_p: float = 0.002
    dark_window_s: float = 1.0
    passive_window_s: float = 5.0
    #: Venue latency draw: mean latency x (latency_floor + Exponential(latency_jitter_mean)), so the
    #: mean draw is the venue's ``latency_us`` and the fastest is ``latency_floor`` of it.
    latency_floor: float = 0.5
    latency_jitter_mean: float = 0.5
    #: A dark hit fills the whole child with this probability, else a uniform share in
    #: [dark_partial_min_share, 1) of it.
    dark_full_fill_share: float = 0.7
    dark_partial_min_share: float = 0.3
    #: Standard deviation of the per-fill noise on a dark fill's adverse move, bps.
    dark_adverse_noise_bps: float = 0.5
    router_delay_us: float = 50.0
    impact_k: float = 1.0
    symbol_group_size: int = 25
    timezone: str = "America/New_York"

    def exploration(self) -> ExplorationParams:
        """The logging router's exploration; ``epsilon`` 0 (or ``explore`` False) turns it off."""
        return ExplorationParams(enabled=self.explore and self.epsilon > 0,
                                 temperature_bps=self.explore_temperature_bps, floor=self.explore_floor,
                                 static_epsilon=self.epsilon, static_share=self.explore_static_share)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def big_day_config(**overrides: Any) -> SimConfig:
    """A "big day": 500 symbols, ~20 M quote updates, ~500 k child orders (stream it)."""
    kw: dict[str, Any] = dict(n_symbols=500, quote_updates_per_symbol=40_000, parent_orders_per_symbol=400,
                              trades_per_symbol=4_000)
    kw.update(overrides)
    return SimConfig(**kw)


@dataclass(frozen=True)
class DayParams:
    """Venue parameters and volatility multiplier in force on one day (regimes applied)."""

    venues: list[VenueSpec]
    vol_mult: float
    fill_mult: dict[str, float]
    tox_mult: dict[str, float]
    regimes: list[Regime]

    def venue(self, code: str) -> VenueSpec:
        return next(v for v in self.venues if v.code == code)


def day_params(config: SimConfig, day_index: int) -> DayParams:
    """Apply the regimes in force on ``day_index``."""
    active = [r for r in config.regimes if r.active(day_index)]
    fill = {v.code: 1.0 for v in config.venues}
    tox = {v.code: 1.0 for v in config.venues}
    vol = 1.0
    for r in active:
        if r.kind == "volatility":
            vol *= r.factor
        elif r.venue in fill:
            target = fill if r.kind == "fill_rate" else tox
            target[r.venue] *= r.factor
    return DayParams(list(config.venues), vol, fill, tox, active)
