"""Parameters of the router's exploration (the algorithm: :mod:`sor_pipeline.serving.exploration`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExplorationParams:
    """``enabled`` False: the rank-1 venue is the ranking's (propensity 1). ``temperature_bps``: softmax
    temperature over expected costs; ``floor``: least probability of each available venue;
    ``static_epsilon``: uniform share of draws for a request ranked without scores; ``static_share``: share of
    a model-scored request's draws given to the static waterfall's first available venue, so that the
    safe default stays evaluable off-policy (the evidence that demotes a champion costlier than static)."""

    enabled: bool = True
    temperature_bps: float = 0.2
    floor: float = 0.003
    static_epsilon: float = 0.1
    static_share: float = 0.0
