"""The plain MLflow pyfunc path, for baselines and parity checks only (never the order path).

MLflow is reached only through :mod:`sor_pipeline.storage.registry`: this module calls
``registry.load_pyfunc(uri)`` when the registry provides it, else ``mlflow.pyfunc.load_model`` through
the registry's own MLflow module (requested as a registry function; see the router issue report).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sor_pipeline.features.online import ALL_FEATURES


def load_pyfunc(uri: str) -> Any:
    """The registered router as an MLflow pyfunc model (``predict(pandas frame)``)."""
    from sor_pipeline.storage import registry

    return registry.load_pyfunc(uri)


def pyfunc_frame(x: np.ndarray, venues: list[str], feature_columns: list[str], request_ids: list[str]) -> pd.DataFrame:
    """Candidate rows (request_id, venue, feature_columns...) for a pyfunc from an (n, V, F) tensor in
    ALL_FEATURES order: the pyfunc's input signature."""
    n, nv, _ = x.shape
    cols = [ALL_FEATURES.index(c) for c in feature_columns]
    flat = x[:, :, cols].reshape(n * nv, len(cols))
    frame = pd.DataFrame(flat, columns=feature_columns)
    frame.insert(0, "venue", [v for _ in range(n) for v in venues])
    frame.insert(0, "request_id", [r for r in request_ids for _ in range(nv)])
    return frame
