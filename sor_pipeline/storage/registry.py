"""MLflow tracking and model registry: the only module that imports MLflow.

- Tracking: the URI is ``settings.resolved_tracking_uri`` (embedded sqlite by default; an MLflow
  server works the same); the experiment is created with ``settings.artifact_location``.
- The router ships as ONE pyfunc model: :class:`RouterPyfunc` (stateless wrapper, no model state is
  pickled) + artefact folder ``router/`` holding ``feature_spec.json`` and the XGBoost UBJSON
  boosters. :func:`load_router_model` reads that folder back with the caller's loader, without pyfunc.
- This module knows no model class (storage sits below learning): the model given to
  :func:`log_router_model` is duck-typed (:class:`LoggableModel`), and the pyfunc finds its loader by
  the dotted name recorded in the model's config (``loader``; versions logged before it was
  recorded load with :data:`DEFAULT_LOADER`).
- Registry: aliases only (never stages). ``settings.mlflow.champion_alias`` is what the live router loads;
  the champion it replaced is kept under ``settings.mlflow.previous_alias`` for :func:`rollback`.
- What the UI shows: the experiment carries ``mlflow.experimentKind = custom_model_development`` (the
  training-runs view, not the GenAI overview); a run that trains logs its data window as a dataset
  input (:func:`log_training_window`); every version gets a paragraph a person reads
  (:func:`describe_night`, :func:`describe_version`).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import Any, Protocol, TypeVar

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl
import xgboost as xgb
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]  # registered at import
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from sor_pipeline.config.faults import maybe_pause
from sor_pipeline.config.settings import Settings

_log = logging.getLogger(__name__)

ARTIFACT_KEY = "router"
MODEL_NAME_IN_RUN = "router"
#: ``module:attribute`` whose ``.load(folder)`` rebuilds a model logged without a ``loader`` config.
DEFAULT_LOADER = "sor_pipeline.learning.router_model:RouterModel"
M = TypeVar("M")
#: Experiment tag that picks the MLflow UI's view, and the value for training runs (not GenAI traces).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
#: MLflow refuses a dataset digest longer than this; the full hash goes on the input's tags.
DIGEST_MAX_CHARS = 36


class LoggableModel(Protocol):
    """What :func:`log_router_model` needs of a model (the learning layer's RouterModel has it)."""

    feature_columns: list[str]

    def score(self, frame: pl.DataFrame) -> pl.DataFrame: ...

    def save(self, folder: Path) -> Path: ...

    def spec(self) -> dict[str, Any]: ...


def _loader(dotted: str) -> Any:
    module, _, attr = dotted.partition(":")
    return getattr(importlib.import_module(module), attr)


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (e.g. rollback with no previous champion)."""


# --------------------------------------------------------------------------------------------------
# setup
def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists; returns a client."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    if settings.mlflow.tracking_uri is None:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow.registry_uri or settings.resolved_tracking_uri)
    client = MlflowClient()
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    if exp is None:
        client.create_experiment(settings.mlflow.experiment_name, artifact_location=settings.artifact_location,
                                 tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    elif exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # an experiment made before the tag existed
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    mlflow.set_experiment(settings.mlflow.experiment_name)
    return client


# --------------------------------------------------------------------------------------------------
# the pyfunc
class RouterPyfunc(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined,misc]
    """pyfunc face of a RouterModel: input rows (request_id, venue, FEATURE_COLUMNS...), output the
    same keys with p_fill, slippage_bps, fallback_bps, expected_cost_bps (bps, + = cost)."""

    def load_context(self, context) -> None:  # type: ignore[no-untyped-def]
        loader = (getattr(context, "model_config", None) or {}).get("loader", DEFAULT_LOADER)
        self.router = _loader(loader).load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        frame = pl.from_pandas(pd.DataFrame(model_input))
        out = self.router.score(frame)
        return out.select("request_id", "venue", "venue_type", "p_fill", "slippage_bps", "fallback_bps",
                          "expected_cost_bps").to_pandas()


def pip_requirements() -> list[str]:
    """Pinned runtime requirements of the pyfunc (given explicitly: inference is slow). The wrapper class
    lives in ``sor_pipeline.storage.registry``, so loading also needs this project installed (the live router's env)."""
    return [f"mlflow=={mlflow.__version__}", f"xgboost-cpu=={xgb.__version__}", f"polars=={pl.__version__}",
            f"pandas=={pd.__version__}", f"numpy=={np.__version__}"]


def log_router_model(router: LoggableModel, example: pl.DataFrame, loader: str = DEFAULT_LOADER) -> str:
    """Log ``router`` as a pyfunc in the active run; returns the model URI (``models:/m-...``).
    ``example``: a few candidate rows (request_id, venue, FEATURE_COLUMNS) for signature and example;
    ``loader``: ``module:Class`` whose ``load(folder)`` the pyfunc calls to rebuild the model."""
    cols = ["request_id", "venue", *router.feature_columns]
    example_pd = example.select(cols).to_pandas()
    output = router.score(example.select(cols)).select(
        "request_id", "venue", "venue_type", "p_fill", "slippage_bps", "fallback_bps", "expected_cost_bps"
    ).to_pandas()
    with tempfile.TemporaryDirectory() as tmp:
        folder = router.save(Path(tmp) / ARTIFACT_KEY)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN, python_model=RouterPyfunc(), artifacts={ARTIFACT_KEY: str(folder)},
            signature=infer_signature(example_pd, output), input_example=example_pd,
            pip_requirements=pip_requirements(), model_config={"loader": loader},
        )
        mlflow.log_dict(router.spec(), "feature_spec.json")
    return str(info.model_uri)


def load_router_model(uri: str, load: Callable[[Path], M]) -> M:
    """``load(folder)`` of the model's artefacts from any model URI (``models:/name@champion``,
    ``models:/name/3``, ``runs:/...``), without pyfunc predict (``load`` = ``RouterModel.load``)."""
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
        return load(Path(local))


def load_pyfunc(uri: str) -> Any:
    """The registered router as an MLflow pyfunc (the baseline of the latency benchmark and the
    parity checks; the live path uses :func:`load_router_model`)."""
    return mlflow.pyfunc.load_model(uri)


# --------------------------------------------------------------------------------------------------
# tracking
@contextmanager
def parent_run(settings: Settings, run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
    """Start the retrain's parent run; yields its run id. When ``tags`` carry ``train_window`` and
    ``data_hash`` (a run that trains), that window is logged as the run's dataset input."""
    configure(settings)
    run_tags = {**tags, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}
    if tags.get("run_key"):
        stale = close_stale_runs(settings, "run_key", str(tags["run_key"]),
                                 f"superseded: the process running it died before it finished; "
                                 f"re-run of {run_name}")
        if stale:
            run_tags[SUPERSEDES_TAG] = ",".join(stale)
    with mlflow.start_run(run_name=run_name, tags=run_tags) as run:
        if tags.get("train_window") and tags.get("data_hash"):
            log_training_window(settings, tags["train_window"], tags["data_hash"])
        yield run.info.run_id


def log_training_window(settings: Settings, train_window: str, data_hash: str, dataset: str = "features") -> None:
    """The active run's training data as an MLflow dataset input (context ``training``): name
    ``<dataset> <first>..<last>``, source the lake folder of ``dataset``, digest the night's data hash
    (its first 36 characters, MLflow's limit; the whole hash is the input tag ``data_hash``)."""
    source = LocalArtifactDatasetSource(str(settings.lake_root / dataset))
    ds = MetaDataset(source, name=f"{dataset} {train_window}",  # type: ignore[abstract]  # mlflow stub
                     digest=data_hash[:DIGEST_MAX_CHARS])
    mlflow.log_input(ds, context="training", tags={"data_hash": data_hash, "train_window": train_window})


def log_night(settings: Settings, day: str, run_id: str | None, *, monitor: Mapping[str, Any],
              summary: Mapping[str, Any]) -> str:
    """Attach the night's monitoring results and summary to its run: the retrain's parent run, or a
    ``nightly-<day>`` run when no challenger was trained, so every night has exactly one run."""
    client = configure(settings)
    if run_id is None:
        exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
        assert exp is not None
        found = search_runs(settings, {"mlflow.runName": f"nightly-{day}"}, max_results=1)
        run_id = found[0].info.run_id if found else client.create_run(
            exp.experiment_id, run_name=f"nightly-{day}", tags={"day": day, "verdict": "skipped"}).info.run_id
        client.set_terminated(run_id)
    client.log_dict(run_id, dict(monitor), "monitor/summary.json")
    client.log_dict(run_id, dict(summary), "nightly/summary.json")
    for severity, n in (monitor.get("counts") or {}).items():
        if isinstance(n, int | float):
            client.log_metric(run_id, f"monitor_{severity}", float(n))
    client.set_tag(run_id, "monitor_must_stop", str(bool(monitor.get("must_stop"))).lower())
    return run_id


def mark_not_applied(settings: Settings, run_id: str | None) -> None:
    """Tag the night's run ``decision_applied = false`` (its alias move failed after the decision was
    logged). Best effort: the store that refused the move may refuse this too; the night fails anyway."""
    if not run_id:
        return
    with contextlib.suppress(Exception):  # the move's own error is the one the night reports
        configure(settings).set_tag(run_id, "decision_applied", "false")


def log_params(params: Mapping[str, Any]) -> None:
    mlflow.log_params({k: str(v)[:500] for k, v in params.items()})


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    clean = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(float(v))}
    if clean:
        mlflow.log_metrics(clean, step=step)


def log_json(obj: Any, artifact_file: str) -> None:
    mlflow.log_dict(json.loads(json.dumps(obj, default=str)), artifact_file)


def log_table(frame: pl.DataFrame, artifact_file: str) -> None:
    """A frame as a CSV artefact (``artifact_file`` ends in .csv)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        frame.write_csv(path)
        parent = str(Path(artifact_file).parent)
        mlflow.log_artifact(str(path), artifact_path=None if parent == "." else parent)


def log_venue_runs(reports: Sequence[Any], params: Mapping[str, Any],
                   figures: Callable[[Any], Mapping[str, Any]] | None = None) -> dict[str, str]:
    """One nested run per venue report (a learning ``VenueReport``): params, metrics, gain importances,
    and the figures ``figures(report)`` gives (file name -> matplotlib figure, closed after logging).
    Returns venue -> run id."""
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    for rep in reports:
        with mlflow.start_run(run_name=f"venue-{rep.venue}", nested=True, tags={"venue": rep.venue}) as run:
            log_params({**params, "venue": rep.venue, "venue_type": rep.venue_type, "n_train": rep.n_train,
                        "n_valid": rep.n_valid, "n_train_filled": rep.n_train_filled,
                        "fill_trees": rep.fill_trees, "slippage_trees": rep.slippage_trees})
            log_metrics({**rep.metrics, "train_seconds": rep.seconds})
            log_json(rep.importance, "feature_importance.json")
            for name, fig in (figures(rep) if figures else {}).items():
                mlflow.log_figure(fig, name)
                plt.close(fig)
            out[rep.venue] = run.info.run_id
            maybe_pause("retrain-run")  # drills: a kill here leaves the parent and this venue run RUNNING
    return out


def training_view_path(settings: Settings) -> str:
    """The UI path (after the server address) of the experiment's training-runs view. MLflow 3.17's UI
    picks GenAI or training view from a global switch (``workflowType``, kept in the browser) before it
    reads the experiment's ``mlflow.experimentKind`` tag; the query parameter forces the training view."""
    query = "?workflowType=machine_learning"
    if not settings.has_tracking_store:
        return f"/#/experiments{query}"
    client = configure(settings)
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    return f"/#/experiments/{exp.experiment_id}{query}" if exp is not None else f"/#/experiments{query}"


# --------------------------------------------------------------------------------------------------
# quote-safe searches and stale runs
#: Tags every parent run carries: the process and host that ran it (to tell a dead run from a live one).
PID_TAG, HOST_TAG = "sor.pid", "sor.host"
#: Tag of a run closed because its process died, and of the run that replaced it (comma list of ids).
CLOSED_TAG, SUPERSEDES_TAG = "sor.closed_reason", "sor.supersedes"


def quote_literal(value: str) -> str | None:
    """``value`` as a string literal of an MLflow filter, or None when no literal can hold it: MLflow's
    grammar has no escape, so a value is quoted with the quote character it does not contain, and one
    holding both ``'`` and ``"`` cannot be written (callers then filter on the client)."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    return None


def _clauses(pairs: Mapping[str, str], prefix: str) -> list[str]:
    """Equality clauses for the pairs a literal can hold (the rest are checked after the search)."""
    parts = []
    for key, value in pairs.items():
        literal = quote_literal(str(value))
        if literal is not None and "`" not in key:
            parts.append(f"{prefix}`{key}` = {literal}")
    return parts


def search_versions(settings: Settings, tags: Mapping[str, str]) -> list[Any]:
    """Versions of ``settings.mlflow.model_name`` whose tags equal ``tags`` exactly (any characters in
    the name or the values: what a filter literal cannot hold is matched here, not in the filter)."""
    client = configure(settings)
    name = settings.mlflow.model_name
    name_literal = quote_literal(name)
    parts = [f"name = {name_literal}"] if name_literal is not None else []
    parts.extend(_clauses(tags, "tag."))
    try:
        found = client.search_model_versions(" and ".join(parts) or None)
    except MlflowException:
        return []
    return [mv for mv in found if mv.name == name and all(mv.tags.get(k) == str(v) for k, v in tags.items())]


def search_runs(settings: Settings, tags: Mapping[str, str], status: str | None = None,
                max_results: int = 1000) -> list[Any]:
    """Runs of the experiment whose tags equal ``tags`` exactly (and in ``status``, e.g. ``RUNNING``);
    quote-safe as :func:`search_versions`."""
    client = configure(settings)
    exp = client.get_experiment_by_name(settings.mlflow.experiment_name)
    if exp is None:
        return []
    parts = _clauses(tags, "tags.")
    exact = len(parts) == len(tags)  # every pair is in the filter: the store's limit is ours
    if status:
        parts.append(f"attributes.status = '{status}'")
    found = client.search_runs([exp.experiment_id], " and ".join(parts), max_results=max_results if exact else 50000)
    return [r for r in found if all(r.data.tags.get(k) == str(v) for k, v in tags.items())
            and (status is None or r.info.status == status)][:max_results]


def _run_alive(run: Any) -> bool:
    """True when ``run`` was started by a process that still runs on this host (not ours)."""
    pid, host = run.data.tags.get(PID_TAG, ""), run.data.tags.get(HOST_TAG, "")
    if not pid.isdigit() or host != socket.gethostname() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_stale_runs(settings: Settings, tag: str, value: str, reason: str) -> list[str]:
    """Mark KILLED every run tagged ``tag = value`` (RUNNING, or finished but never registered) whose
    process is gone, and its RUNNING nested runs, each tagged ``sor.closed_reason``; returns the parent
    run ids closed. The retrain calls it, under the night's date lock, only when no version carries the
    run key: a run of the same key is then a leftover of a night killed before it registered."""
    client = configure(settings)
    closed = []
    for run in search_runs(settings, {tag: value}):
        if run.info.status == "KILLED" or _run_alive(run):
            continue
        run_id = run.info.run_id
        for child in search_runs(settings, {"mlflow.parentRunId": run_id}, status="RUNNING"):
            client.set_tag(child.info.run_id, CLOSED_TAG, f"parent run {run_id} closed: {reason}")
            client.set_terminated(child.info.run_id, "KILLED")
        client.set_tag(run_id, CLOSED_TAG, reason)
        client.set_terminated(run_id, "KILLED")
        closed.append(run_id)
    return closed


# --------------------------------------------------------------------------------------------------
# registry
def register_model(settings: Settings, model_uri: str, tags: Mapping[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``settings.mlflow.model_name`` with ``tags``; returns the version."""
    configure(settings)
    # MLflow prints "Registered model ... already exists" / "Created version ..." straight to stderr
    # (eprint): into the log instead, so the terminal stays quiet
    chatter = io.StringIO()
    with redirect_stderr(chatter):
        mv = mlflow.register_model(model_uri, settings.mlflow.model_name, tags={k: str(v) for k, v in tags.items()})
    for line in chatter.getvalue().splitlines():
        if line.strip():
            _log.info("mlflow: %s", line.strip())
    return str(mv.version)


def describe_version(settings: Settings, version: str, text: str) -> None:
    """Set the description (the paragraph the UI shows on the version page) of ``version``."""
    client = configure(settings)
    client.update_model_version(settings.mlflow.model_name, version, description=text)


def _fmt(x: Any, spec: str = "+.3f") -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return format(v, spec) if np.isfinite(v) else "n/a"


def _mean_diff(per_day: Sequence[Mapping[str, Any]], baseline: str) -> tuple[float, float, float] | None:
    """(mean, min, max) over days of challenger - ``baseline`` (bps), or None without such days."""
    diffs = [float(d["challenger"]) - float(d[baseline]) for d in per_day
             if d.get("challenger") is not None and d.get(baseline) is not None]
    return (float(np.mean(diffs)), min(diffs), max(diffs)) if diffs else None


def _decision(result: Mapping[str, Any], sandbox: Mapping[str, Any] | None) -> str:
    if result.get("promoted"):
        return "PROMOTED: it is the champion the live router loads from the next session"
    if result.get("gate_passed") and sandbox is not None and not sandbox.get("passed"):
        reasons = "; ".join(map(str, sandbox.get("reasons") or [])) or "see the sandbox tag"
        return f"KEPT OUT: the gate passed but the sandbox refused it ({reasons}); the champion stays"
    if result.get("action") == "demote" and (result.get("evidence") or {}).get("demote_to") == "previous":
        return ("NOT PROMOTED, and the champion was DEMOTED: it cost more than the previous champion, which "
                "routes next")
    if result.get("action") == "demote":
        return "NOT PROMOTED, and the champion was DEMOTED: it cost more than the static waterfall, which routes next"
    if result.get("action") == "scout":
        return ("NOT JUDGED: a scout trained on a warm-up night (too little history for the backtest); it only "
                "steers the static waterfall's exploration and is never promoted")
    if result.get("action") == "inconclusive":
        return "NOT PROMOTED: the logs could not support an off-policy verdict (inconclusive); nothing moved"
    return "NOT PROMOTED: the incumbent stays"


def describe_night(result: Mapping[str, Any], sandbox: Mapping[str, Any] | None = None) -> str:
    """One paragraph for a model version from a retrain result dict (``RetrainResult.as_dict()``):
    what the night decided (promoted / not) and why (estimate, daily range, p-value, baseline, reasons).
    Pure: no MLflow calls."""
    per_day = list(result.get("per_day") or [])
    has_champion = any(d.get("champion") is not None for d in per_day)
    baseline = "the champion that routed those days" if has_champion else "the static waterfall"
    reasons = "; ".join(map(str, result.get("reasons") or [])) or "none given"
    if result.get("action") == "scout":
        return (f"Night {result.get('day', '?')}: v{result.get('challenger_version', '?')} "
                f"{_decision(result, sandbox)}. {reasons}.")
    parts = [f"Night {result.get('day', '?')}: challenger v{result.get('challenger_version', '?')} "
             f"{_decision(result, sandbox)}.",
             f"Walk-forward backtest over {len(per_day)} test day(s), costs from {result.get('cost_source') or '?'}: "
             f"challenger minus {baseline} = {_fmt(result.get('cost_diff_bps'))} bps per decision "
             f"(negative = cheaper), one-sided p = {_fmt(result.get('p_value'), '.4f')} "
             f"(clustered z over per-decision doubly-robust differences; the level is spent over the "
             f"nights at the same incumbent)."]
    for name, label in (("champion", "champion"), ("static", "static waterfall")):
        stats = _mean_diff(per_day, name) if name == "static" or has_champion else None
        if stats is not None:
            parts.append(f"Daily difference vs the {label}: mean {_fmt(stats[0])} bps, "
                         f"range {_fmt(stats[1])} to {_fmt(stats[2])} bps.")
    parts.append(f"Gate {result.get('verdict') or '?'}: {reasons}.")
    if sandbox is not None:
        parts.append(f"Sandbox {'passed' if sandbox.get('passed') else 'failed'}.")
    return " ".join(parts)


def set_version_tags(settings: Settings, version: str, tags: Mapping[str, str]) -> None:
    client = configure(settings)
    for k, v in tags.items():
        client.set_model_version_tag(settings.mlflow.model_name, version, k, str(v))


def version_tags(settings: Settings, version: str) -> dict[str, str]:
    client = configure(settings)
    return dict(client.get_model_version(settings.mlflow.model_name, version).tags)


def find_version(settings: Settings, tag: str, value: str) -> str | None:
    """The newest version of ``settings.mlflow.model_name`` whose tag ``tag`` equals ``value``, or None."""
    found = search_versions(settings, {tag: value})
    versions = sorted((int(mv.version) for mv in found), reverse=True)
    return str(versions[0]) if versions else None


def latest_version(settings: Settings) -> str | None:
    """The newest registered version of ``settings.mlflow.model_name`` (promoted or not), or None."""
    client = configure(settings)
    try:
        found = client.search_model_versions(f"name={json.dumps(settings.mlflow.model_name)}")
    except MlflowException:
        return None
    versions = sorted((int(mv.version) for mv in found), reverse=True)
    return str(versions[0]) if versions else None


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_version(settings: Settings) -> str | None:
    """Version under the champion alias, or None (no registered model or no champion yet)."""
    return _alias_version(configure(settings), settings.mlflow.model_name, settings.mlflow.champion_alias)


def previous_version(settings: Settings) -> str | None:
    return _alias_version(configure(settings), settings.mlflow.model_name, settings.mlflow.previous_alias)


def promote(settings: Settings, version: str) -> None:
    """Move the champion alias to ``version``; the replaced champion goes to the previous alias. A bare
    alias move with no ledger entry (manual repair, tests); the nightly's moves go through
    :func:`promote_version` / :func:`demote_champion`, which write the ledger."""
    client = configure(settings)
    current = _alias_version(client, settings.mlflow.model_name, settings.mlflow.champion_alias)
    if current == str(version):
        return
    if current is not None:
        client.set_registered_model_alias(settings.mlflow.model_name, settings.mlflow.previous_alias, current)
    client.set_registered_model_alias(settings.mlflow.model_name, settings.mlflow.champion_alias, str(version))


def rollback(settings: Settings) -> str:
    """Undo the last alias move written in the ledger (a promotion or a demotion): the champion goes back
    to what routed before it (a version, or ``static``), and the rollback is itself written to the ledger.
    Without a ledger entry, the previous alias is used. Returns what routes now (a version or
    ``static``). Raises RegistryError when there is nothing to roll back to."""
    client = configure(settings)
    name = settings.mlflow.model_name
    with _ledger_lock(settings):
        entries = ledger(settings)
        undone = {int(e["undoes"]) for e in entries if e["action"] == "rollback"}
        pending = [i for i, e in enumerate(entries) if e["action"] != "rollback" and i not in undone]
        if pending:
            last = entries[pending[-1]]
            target = str(last["from"])
            _move(settings, client, target, str(last["night"]), "rollback",
                  f"rollback of the {last['action']} of night {last['night']}", {}, undoes=pending[-1])
        elif entries:
            raise RegistryError(f"every move in the alias ledger ({len(entries)} entries) is already rolled back")
        else:
            prev = _alias_version(client, name, settings.mlflow.previous_alias)
            if prev is None:
                raise RegistryError(f"no '{settings.mlflow.previous_alias}' version of model "
                                    f"'{name}' to roll back to")
            client.set_registered_model_alias(name, settings.mlflow.champion_alias, prev)
            client.delete_registered_model_alias(name, settings.mlflow.previous_alias)
            target = prev
    if target != STATIC:
        client.set_model_version_tag(name, target, "rolled_back_to", "true")
    return target


def model_uri(settings: Settings, version: str | None = None) -> str:
    """``models:/<name>/<version>`` when pinned, else the champion alias URI ``models:/<name>@<alias>``."""
    if version:
        return f"models:/{settings.mlflow.model_name}/{version}"
    return f"models:/{settings.mlflow.model_name}@{settings.mlflow.champion_alias}"


def load_version(settings: Settings, version: str, load: Callable[[Path], M]) -> M:
    """Version ``version``'s model, rebuilt by ``load(folder)`` (raw boosters, no pyfunc)."""
    return load_router_model(model_uri(settings, version), load)


def load_champion(settings: Settings, load: Callable[[Path], M]) -> M | None:
    """The champion's model rebuilt by ``load(folder)``, or None when there is no champion."""
    if champion_version(settings) is None:
        return None
    return load_router_model(model_uri(settings), load)


# --------------------------------------------------------------------------------------------------
# the alias ledger: every champion move (promote, demote, rollback) with its night, versions, evidence
STATIC = "static"


def _ledger_lock(settings: Settings) -> Any:
    import fcntl

    path = settings.ledger_path.with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - closed by the caller's context
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def ledger(settings: Settings) -> list[dict[str, Any]]:
    """Every alias move so far, oldest first (``night``, ``action``, ``from``, ``to``, ``reason``,
    ``evidence``, ``at``); ``from``/``to`` are versions or ``"static"``."""
    path = settings.ledger_path
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(settings: Settings, entry: Mapping[str, Any]) -> None:
    path = settings.ledger_path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(dict(entry), default=str, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _move(settings: Settings, client: MlflowClient, to: str, night: str, action: str, reason: str,
          evidence: Mapping[str, Any] | None, undoes: int | None = None) -> None:
    """Point the champion alias at ``to`` (a version, or ``static``: no champion alias), keep the replaced
    champion under the previous alias, and write the ledger entry (after the alias moved)."""
    name, champ, prev = settings.mlflow.model_name, settings.mlflow.champion_alias, settings.mlflow.previous_alias
    current = _alias_version(client, name, champ) or STATIC
    if current == to and undoes is None:
        return
    if current != STATIC:
        client.set_registered_model_alias(name, prev, current)
    if to == STATIC:
        if current != STATIC:
            client.delete_registered_model_alias(name, champ)
    else:
        client.set_registered_model_alias(name, champ, to)
    _append(settings, {"night": night, "action": action, "from": current, "to": to, "reason": reason,
                       "evidence": dict(evidence or {}), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       **({"undoes": undoes} if undoes is not None else {})})


def promote_version(settings: Settings, version: str, night: str, reason: str,
                    evidence: Mapping[str, Any] | None = None) -> None:
    """The night's promotion: champion alias to ``version``, written to the ledger."""
    client = configure(settings)
    with _ledger_lock(settings):
        _move(settings, client, str(version), night, "promote", reason, evidence)


def demote_champion(settings: Settings, night: str, reason: str, evidence: Mapping[str, Any] | None = None) -> None:
    """The night's demotion: tomorrow routes static (no champion alias); the demoted version stays under
    the previous alias, so a rollback restores it."""
    client = configure(settings)
    with _ledger_lock(settings):
        _move(settings, client, STATIC, night, "demote", reason, evidence)


def restore_previous(settings: Settings, night: str, reason: str, evidence: Mapping[str, Any] | None = None) -> str:
    """The night's demotion to the previous champion: it routes tomorrow again (the demoted champion
    becomes the previous one), written to the ledger as ``restore``. Returns the restored version."""
    client = configure(settings)
    with _ledger_lock(settings):
        prev = _alias_version(client, settings.mlflow.model_name, settings.mlflow.previous_alias)
        if prev is None:
            raise RegistryError(f"no '{settings.mlflow.previous_alias}' version to restore")
        _move(settings, client, prev, night, "restore", reason, evidence)
    return prev


def judged_nights(settings: Settings) -> list[str]:
    """The trading dates (``day`` tag) of every registered challenger, i.e. every night that judged one
    (a warm-up night's scout was not judged)."""
    found = search_versions(settings, {})
    return sorted({str(mv.tags.get("day")) for mv in found if mv.tags.get("day") and mv.tags.get("action") != "scout"})


def routed_by(settings: Settings, day: str) -> str:
    """The policy that routed trading date ``day`` (a version or ``static``), from the ledger: the
    target of the last move made by a night before ``day``."""
    target = STATIC
    for entry in ledger(settings):
        if str(entry["night"]) < day:
            target = str(entry["to"])
    return target
