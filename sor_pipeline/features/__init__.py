"""Point-in-time features and forward labels (polars).

- :func:`decision_features`: features for routing requests x candidate venues (router, simulator, batch).
- :func:`build_features` / :func:`write_features`: the nightly ``features`` partition of one day.
- :func:`venue_stats_before`, :func:`adv_before`: trailing statistics from earlier days only.
"""

from sor_pipeline.features.build import build_features, features_from_frames, write_features
from sor_pipeline.features.decision import decision_features
from sor_pipeline.features.history import adv_before, venue_stats, venue_stats_before
from sor_pipeline.features.labels import child_labels, markout_column

__all__ = [
    "adv_before",
    "build_features",
    "child_labels",
    "decision_features",
    "features_from_frames",
    "markout_column",
    "venue_stats",
    "venue_stats_before",
    "write_features",
]
