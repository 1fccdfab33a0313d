"""Parameters of the router's exploration (the algorithm: :mod:`sor_pipeline.serving.exploration`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExplorationParams:
    """``enabled`` False: the rank-1 venue is the ranking's (propensity 1). ``temperature_bps``: softmax
    temperature over expected costs; ``floor``: least probability of each available venue;
    ``static_epsilon``: uniform share of draws for a request ranked without scores."""

    enabled: bool = True
    temperature_bps: float = 0.5
    floor: float = 0.01
    static_epsilon: float = 0.1
