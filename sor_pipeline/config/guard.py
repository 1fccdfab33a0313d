"""Parameters of the router's intraday venue guard (the algorithm: :mod:`sor_pipeline.serving.guard`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuardParams:
    """``enabled`` False: no penalty ever. ``min_fills``: fills at a venue today before it can be charged;
    ``z``: the charged excess is its mean minus ``z`` standard errors (bps). ``carry_days``: earlier trading
    days whose tallies still count while the same model version routes (0 = every morning starts blank)."""

    enabled: bool = True
    min_fills: int = 8
    z: float = 3.0
    carry_days: int = 0
