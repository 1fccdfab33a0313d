"""One typed settings object for the whole pipeline, in nested sections.

``Settings()`` holds the top-level locations (``home``, ``raw_dir``, ``seed``) and one section per
layer: ``ingest``, ``mlflow``, ``orchestration``, ``market``, ``router``, ``features``, ``train``,
``backtest``, ``gate``, ``sandbox``, ``monitor`` (thresholds in :mod:`sor_pipeline.config.monitor`)
and ``retrain``. No other module hard-codes a path or a threshold. (The simulator's physics lives in
the simulator's own config, :mod:`sor_pipeline.simulation.config`, and its scenario files.)

Values come, highest priority first, from: keyword arguments, environment variables, a TOML file
(``SOR_CONFIG``, else ``$SOR_HOME/sor.toml``, else ``./sor.toml``), then the defaults below.

Names (environment and TOML/keywords): a field is ``SOR_<SECTION>_<FIELD>`` in the environment
(``SOR_GATE_ALPHA``, ``SOR_MONITOR_QUOTE_GAP_S``, ``SOR_TRAIN_WINDOW_DAYS``), and also
``SOR_<FIELD>`` when no other section has a field of that name (``SOR_EMBARGO_DAYS``,
``SOR_MAX_WORKERS``, ``SOR_TRACKING_URI``): the flat names documented before the sections existed
keep working. ``SOR_<SECTION>__<FIELD>`` works too. Lists and mappings are JSON. In TOML and keyword
arguments a section is a table / dict (``[gate] alpha = 0.01``, ``Settings(gate={"alpha": 0.01})``);
the flat names (``gate_alpha = 0.01``, ``Settings(gate_alpha=0.01)``) are accepted the same way.
"""

from __future__ import annotations

import json
import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sor_pipeline.config.exploration import ExplorationParams
from sor_pipeline.config.guard import GuardParams
from sor_pipeline.config.monitor import MonitorSettings

DEFAULT_HOME_NAME = "sor_home"
ENV_PREFIX = "SOR_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _none_word(value: Any) -> Any:
    """An optional bound given as 'none', 'off', '' or 0 (as the environment spells it) means no bound."""
    if value == 0 or (isinstance(value, str) and value.strip().lower() in ("", "none", "off", "0")):
        return None
    return value


class IngestSettings(_Section):
    max_reject_share: float = Field(
        0.05, ge=0, le=1,
        description="Fail the ingest (write nothing) if more than this share of a table's rows is rejected.")
    chunk_rows: int = Field(
        1_000_000, ge=1,
        description="Rows per chunk of the big tables (quotes, depth, trades, the NBBO, the simulator's truth), "
                    "which ingest reads, validates and stages a chunk at a time; memory, not the result, "
                    "depends on it (same partitions for any value).")
    mapping: Path | None = Field(
        None, description="OMS export mapping (TOML): files it names are read through it (README 'OMS exports "
                          "by mapping'); `sor-pipeline ingest --mapping FILE` sets it for one run.")
    venues: Path | None = Field(
        None, description="Venue reference (CSV: venue, mic, name, venue_type, maker/taker fees, active from/to), "
                          "the one source of venue codes; None = the repository's data_samples/venues.csv.")
    fix_tags: dict[str, int] = Field(
        default_factory=dict,
        description="Custom FIX tags of the router fields, overriding the defaults (parent_id 20001, "
                    "router_policy 20002, route_rank 20003, propensity 20004, predicted_cost_bps 20005, "
                    "liquidity 20006, fee_bps 20007, child_status 20009); absent tags read as null.")

    @field_validator("fix_tags", mode="after")
    @classmethod
    def _known_fix_fields(cls, v: dict[str, int]) -> dict[str, int]:
        known = {"parent_id", "router_policy", "route_rank", "propensity", "predicted_cost_bps", "liquidity",
                 "fee_bps", "child_status"}
        bad = sorted(set(v) - known)
        if bad:
            raise ValueError(f"unknown field(s) {bad}; known: {sorted(known)}")
        return v


class MlflowSettings(_Section):
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default sqlite under home.")
    registry_uri: str | None = Field(None, description="MLflow registry URI; default = tracking URI.")
    experiment_name: str = "sor-nightly"
    model_name: str = Field("sor-router", description="Registered model name the live router loads.")
    champion_alias: str = "champion"
    previous_alias: str = "previous-champion"


class OrchestrationSettings(_Section):
    prefect_api_url: str | None = Field(None, description="Prefect server URL; None = ephemeral local API.")
    task_runner: Literal["thread", "dask"] = "thread"
    max_workers: int = Field(2, ge=1, description="Thread task-runner workers (machine has 2 cores).")
    dask_address: str | None = Field(
        None, description="Dask scheduler address (with task_runner=dask); None = a LocalCluster of max_workers "
                          "single-thread processes, started for the run. Workers need the same SOR_HOME (a shared "
                          "file system) and this package.")
    compute_threads: int | None = Field(
        None, ge=1, description="Threads of polars (POLARS_MAX_THREADS) and DuckDB in this process and in every Dask "
                                "worker (XGBoost trains with nthread=1 always). None: the libraries' defaults here, "
                                "and Dask workers pinned to this process's counts, so a Dask backfill writes the "
                                "same bytes as a serial one.")
    task_retries: int = Field(2, ge=0)
    task_retry_delay_s: float = Field(2.0, ge=0)
    schedule_cron: str = Field("30 18 * * 1-5", description="Nightly cron, in market.timezone.")


class MarketSettings(_Section):
    timezone: str = "America/New_York"
    calendar: str = Field("XNYS", description="Exchange calendar (exchange_calendars code: XNYS, XNAS, XLON, ...): "
                                              "sessions, holidays, early closes, open/close.")
    holidays: list[date] = Field(default_factory=list, description="Override: extra non-trading days "
                                                                   "(YYYY-MM-DD) on top of the calendar's holidays.")


class RouterSettings(_Section):
    static_waterfall: list[str] = Field(
        default_factory=lambda: ["DRK1", "DRK2", "ECNM", "ECNI", "LITA", "LITB"],
        description="Venue order of the static waterfall router (dark, then ECN, then lit).")
    explore: bool = Field(True, description="Draw the rank-1 venue with exploration and log its propensity "
                                            "(off: deterministic routing; no off-policy verdict is then possible).")
    explore_temperature_bps: float = Field(
        0.2, gt=0, description="Softmax temperature over expected costs, bps (measured on a demo day: 0.5 spent "
                               "29 % of the static-to-oracle gap on exploration, 0.2 about 10 %).")
    explore_floor: float = Field(0.003, ge=0, lt=0.2, description="Least probability of every available venue.")
    explore_static_epsilon: float = Field(
        0.3, ge=0, le=1,
        description="Share of rank-1 draws explored while the static waterfall routes: from the softmax of the "
                    "newest registered challenger (the scout) when there is one, else uniformly.")
    explore_static_share: float = Field(
        0.1, ge=0, lt=0.5,
        description="Share of a model-routed request's rank-1 draws given to the static waterfall's choice, so "
                    "that static stays evaluable off-policy (the evidence that demotes a champion costlier "
                    "than static).")
    guard: bool = Field(True, description="Intraday venue guard: a venue whose model-routed fills cost clearly more "
                                          "than predicted today is charged the excess for the rest of the day "
                                          "(sor_pipeline.serving.guard).")
    guard_min_fills: int = Field(8, ge=2, description="Fills at a venue today before the guard may charge it.")
    guard_z: float = Field(3.0, gt=0, description="The guard charges the excess's lower confidence bound: mean "
                                                  "minus this many standard errors, bps.")
    guard_carry_days: int = Field(0, ge=0, description="Earlier trading days whose fills the guard still counts "
                                                       "while the same model version routes: it charges the "
                                                       "largest bound over today, today and yesterday, ... "
                                                       "(0: every morning starts blank; 2 measured worse on the "
                                                       "learning loop, see the README).")

    def guard_params(self) -> GuardParams:
        return GuardParams(enabled=self.guard, min_fills=self.guard_min_fills, z=self.guard_z,
                           carry_days=self.guard_carry_days)

    def exploration(self) -> ExplorationParams:
        return ExplorationParams(enabled=self.explore, temperature_bps=self.explore_temperature_bps,
                                 floor=self.explore_floor, static_epsilon=self.explore_static_epsilon,
                                 static_share=self.explore_static_share)


class FeatureSettings(_Section):
    adv_window_days: int = Field(20, ge=1, description="Trailing days for average daily volume.")
    venue_stats_window_days: int = Field(20, ge=1, description="Trailing days for venue fill/markout stats.")
    realized_vol_window_s: int = Field(300, ge=1, description="Realized volatility lookback, seconds.")
    markout_horizons_s: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0, 60.0])


class TrainSettings(_Section):
    window_days: int = Field(20, ge=2, description="Trading days of features used to train.")
    sample_cap_per_day_venue: int | None = Field(
        20_000, ge=100, description="Stratified sampling: at most this many rows per (day, venue) train a model, "
                                    "each kept row weighted by stratum size / kept rows, so a window's training "
                                    "rows are bounded by window x venues x cap whatever the day's volume. The "
                                    "default binds only above ~1/4 of the simulator's big day (a demo day has "
                                    "~1 000 rows); 'none' (or 0): every row.")
    scout_min_days: int = Field(
        2, ge=0, description="Feature days needed to train a scout on a warm-up night (fewer days than the "
                             "backtest needs): a model registered with action 'scout' that is never judged or "
                             "promoted; with no champion it only steers the static waterfall's exploration "
                             "(router.explore_static_epsilon), so the first judged night already has logs "
                             "where its challenger would route. 0: no scouts.")
    xgboost_dask: bool = Field(
        False, description="Train every booster through xgboost.dask on the cluster at orchestration.dask_address "
                           "(needs task_runner=dask): rows split over the workers. Its distributed quantile sketch "
                           "proposes other splits: models equal a local fit only to a tolerance.")

    _no_cap = field_validator("sample_cap_per_day_venue", mode="before")(_none_word)


class BacktestSettings(_Section):
    folds: int = Field(5, ge=1, description="Walk-forward folds: last K trading days.")
    min_folds: int = Field(
        3, ge=1, description="Fewest folds a night may judge on while history is short: with fewer feature days "
                             "than folds + embargo + 2 a night judges on the test days there are (at least this "
                             "many), so warm-up lasts min_folds + embargo + 2 days.")
    embargo_days: int = Field(
        0, ge=0,
        description="Trading days dropped between train and test. Labels look at most 60 s (plus the order's "
                    "life) past sent_ts, which never crosses the overnight gap, so 0 leaks nothing with daily "
                    "folds; raise it for labels with multi-day horizons.")
    fold_cache: bool = Field(True, description="Reuse fold and reward models fitted on identical rows on an "
                                               "earlier night (home/cache/folds); off refits every night.")
    intraday_fold: bool = Field(
        True, description="On the night of a venue's regime change's first day (found in the logged outcomes), "
                          "also judge on that day's later decisions with fold models trained with its earlier "
                          "ones: the day's own walk-forward fold was trained before the change and cannot show "
                          "what a challenger that saw it would do.")
    intraday_morning_share: float = Field(
        0.5, gt=0, lt=1, description="Share of the change day's parent orders (by first send time, UTC) whose rows "
                                     "train the intraday fold; the later ones are its test decisions.")
    max_decisions_per_day: int | None = Field(
        50_000, ge=1000, description="Most logged decisions per test day the night judges on: above it a seeded "
                                     "uniform sample of the day's parent orders (every child of each), its rows "
                                     "weighted by the inverse of the sampled share. With "
                                     "train.sample_cap_per_day_venue it bounds the retrain's memory on big days "
                                     "(the window is read a day at a time, never whole); 'none' (or 0): every "
                                     "decision.")

    _no_bound = field_validator("max_decisions_per_day", mode="before")(_none_word)


class GateSettings(_Section):
    alpha: float = Field(0.05, gt=0, lt=1, description="One-sided level of the promotion bound (confidence "
                                                       "sequence, valid over nightly looks).")
    min_margin_bps: float = Field(0.0, ge=0, description="Required cost improvement, bps per order.")
    max_venue_mae_ratio: float = Field(
        1.25, ge=1.0, description="Reject if any venue's slippage MAE exceeds the champion's by this ratio.")
    demote_days: int = Field(2, ge=1, description="Demotion looks at the champion against static on the most "
                                                   "recent this many backtest days (a shift shows there first).")
    demote_alpha: float = Field(0.2, gt=0, lt=1, description="Family-wise level of false demotion (champion not "
                                                             "costlier than static) over demote_horizon_nights "
                                                             "nights; weaker than promotion's (static is safe).")
    demote_horizon_nights: int = Field(20, ge=1, description="Nights over which demote_alpha is spent (Bonferroni): "
                                                             "each night tests at demote_alpha / this.")
    min_ess: float = Field(50.0, ge=1, description="Least effective sample size of a policy's importance "
                                                   "weights for a verdict; below it the night is inconclusive.")
    max_importance_weight: float = Field(50.0, ge=1, description="Importance weights 1/propensity are clipped "
                                                                 "here (then self-normalised per day).")
    cs_rho: float = Field(1e5, gt=0, description="Mixture parameter of the confidence sequence, squared bps x "
                                                 "decisions: the sum's variance where bounds are tightest.")


class SandboxSettings(_Section):
    enabled: bool = Field(True, description="Replay the night's logged requests through the challenger "
                                            "(loaded as the live router loads it) before promoting.")
    tolerance_bps: float = Field(
        0.0, ge=0, description="The challenger's off-policy cost may exceed the incumbent's by at most this.")
    max_p99_latency_us: float = Field(2000.0, gt=0, description="Largest 99th-percentile routing latency "
                                                                "of the challenger on the replay, microseconds.")
    max_requests: int | None = Field(
        5000, ge=100, description="Replay at most this many of the night's logged requests, drawn uniformly "
                                  "without replacement (seeded by the night): the replay builds one market "
                                  "snapshot per request in Python (~9 ms each), so a million-order day would "
                                  "take hours. None: every request.")


class RetrainSettings(_Section):
    tag_max_chars: int = Field(
        4900, ge=100, description="Longest text stored in one model-version tag (MLflow's limit is 5000). "
                                  "JSON longer than this is stored as an artefact and the tag says so.")


SECTIONS: dict[str, type[BaseModel]] = {
    "ingest": IngestSettings, "mlflow": MlflowSettings, "orchestration": OrchestrationSettings,
    "market": MarketSettings, "router": RouterSettings, "features": FeatureSettings, "train": TrainSettings,
    "backtest": BacktestSettings, "gate": GateSettings, "sandbox": SandboxSettings, "monitor": MonitorSettings,
    "retrain": RetrainSettings,
}
TOP_FIELDS = ("home", "raw_dir", "seed")


def _flat_names() -> dict[str, tuple[str, str]]:
    """Every accepted flat name (lower case, no prefix) -> (section, field): ``<section>_<field>`` always,
    ``<field>`` alone when no other section has that field."""
    owners: dict[str, list[str]] = {}
    for section, model in SECTIONS.items():
        for name in model.model_fields:
            owners.setdefault(name, []).append(section)
    out: dict[str, tuple[str, str]] = {}
    for section, model in SECTIONS.items():
        for name in model.model_fields:
            out[f"{section}_{name}"] = (section, name)
            if len(owners[name]) == 1 and name not in TOP_FIELDS and name not in SECTIONS:
                out.setdefault(name, (section, name))
    return out


FLAT_NAMES = _flat_names()


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with flat names (``gate_alpha``) moved into their sections (``{"gate": {"alpha": ..}}``);
    section tables merge, the flat name winning over the table for the same field."""
    out: dict[str, Any] = {}
    flat: list[tuple[str, str, Any]] = []
    for key, value in values.items():
        if key in FLAT_NAMES and key not in SECTIONS and key not in TOP_FIELDS:
            flat.append((*FLAT_NAMES[key], value))
        elif key in SECTIONS and isinstance(value, BaseModel):
            out[key] = value.model_dump()
        elif key in SECTIONS and isinstance(value, dict):
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    for section, name, value in flat:
        out.setdefault(section, {})
        if isinstance(out[section], dict):
            out[section][name] = value
    return out


def _is_complex(info: FieldInfo) -> bool:
    ann = info.annotation
    origins = {get_origin(ann), *(get_origin(a) for a in get_args(ann))}
    return bool(origins & {list, dict, tuple, set})


class _EnvSource(PydanticBaseSettingsSource):
    """``SOR_*`` environment variables by the naming rule in the module docstring."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for raw_key, raw in os.environ.items():
            key = raw_key.upper()
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX):].lower()
            if name in TOP_FIELDS:
                out[name] = raw
                continue
            if "__" in name:
                section, _, field = name.partition("__")
                target = (section, field) if section in SECTIONS else None
            else:
                target = FLAT_NAMES.get(name)
            if target is None:
                continue
            section, field = target
            info = SECTIONS[section].model_fields.get(field)
            if info is None:
                continue
            value: Any = raw
            if _is_complex(info):
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{raw_key}: not valid JSON for {section}.{field} ({exc.msg})") from exc
            out.setdefault(section, {})[field] = value
        return out


def _config_file() -> Path | None:
    explicit = os.environ.get("SOR_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"SOR_CONFIG points to {path}, which is not a file")
        return path
    home = os.environ.get("SOR_HOME")
    for candidate in ([Path(home) / "sor.toml"] if home else []) + [Path.cwd() / "sor.toml"]:
        if candidate.is_file():
            return candidate
    return None


class _NestedToml(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return nest(super().__call__())


class Settings(BaseSettings):
    """Runtime configuration (see the module docstring). Units are in the field names
    (``_days``, ``_bps``, ``_s``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True)

    home: Path = Field(default_factory=lambda: Path.cwd() / DEFAULT_HOME_NAME,
                       description="Root of all state: lake, MLflow store, reports, Prefect home.")
    raw_dir: Path | None = Field(None, description="Root of raw drops (<raw_dir>/YYYY-MM-DD/); default home/raw.")
    seed: int = 7

    ingest: IngestSettings = Field(default_factory=IngestSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    orchestration: OrchestrationSettings = Field(default_factory=OrchestrationSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    gate: GateSettings = Field(default_factory=GateSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)
    retrain: RetrainSettings = Field(default_factory=RetrainSettings)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        return nest(data) if isinstance(data, dict) else data

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _xgboost_dask_needs_a_cluster(self) -> Settings:
        o = self.orchestration
        if self.train.xgboost_dask and (o.task_runner != "dask" or not o.dask_address):
            raise ValueError("train.xgboost_dask needs orchestration.task_runner=dask and a dask_address "
                             "(xgboost.dask trains on a running cluster)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        path = _config_file()
        if path is not None:
            sources.append(_NestedToml(settings_cls, toml_file=path))
        return tuple(sources)

    def with_overrides(self, **flat: Any) -> Settings:
        """A copy with fields replaced, by flat or sectioned name (``train_window_days=5``,
        ``gate={"alpha": 0.01}``), validated like the constructor."""
        data = self.model_dump()
        for section, values in nest(flat).items():
            if section in SECTIONS and isinstance(values, dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
        return Settings.model_validate(data)

    # --- derived locations (the only place paths are composed besides the lake) -----------------
    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def raw_root(self) -> Path:
        return (self.raw_dir or self.home / "raw").expanduser().resolve()

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def ledger_path(self) -> Path:
        """The champion alias ledger (JSON lines): every promote, demote and rollback."""
        return self.mlflow_dir / "alias_ledger.jsonl"

    @property
    def fold_cache_dir(self) -> Path:
        """Walk-forward fold and reward models reused across nights (:mod:`sor_pipeline.learning.fold_cache`)."""
        return self.home / "cache" / "folds"

    @property
    def guard_state_path(self) -> Path:
        """The live router's guard checkpoint between sessions (:meth:`LiveRouter.end_day`)."""
        return self.home / "router" / "guard_state.json"

    @property
    def router_cache_dir(self) -> Path:
        """Compiled scoring kernels of the live router (``SOR_ROUTER_CACHE`` overrides)."""
        explicit = os.environ.get("SOR_ROUTER_CACHE")
        return Path(explicit).expanduser() if explicit else self.home / "cache" / "router"

    @property
    def resolved_tracking_uri(self) -> str:
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return f"sqlite:///{(self.mlflow_dir / 'mlflow.db').as_posix()}"

    @property
    def has_tracking_store(self) -> bool:
        """False when no tracking URI is set and the default local store was never created."""
        return self.mlflow.tracking_uri is not None or (self.mlflow_dir / "mlflow.db").is_file()

    @property
    def artifact_location(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()


def runtime_env(settings: Settings) -> dict[str, str]:
    """Environment the stack needs (docs/STACK-NOTES.md): state under SOR_HOME, telemetry off, timeouts."""
    env = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
    }
    if settings.orchestration.prefect_api_url:
        env["PREFECT_API_URL"] = settings.orchestration.prefect_api_url
    if settings.orchestration.compute_threads:  # read by polars at import and by the lake's DuckDB connections
        env["POLARS_MAX_THREADS"] = env["SOR_DUCKDB_THREADS"] = str(settings.orchestration.compute_threads)
    return env


def apply_runtime_env(settings: Settings) -> None:
    """Export :func:`runtime_env` into ``os.environ``; call before importing Prefect or MLflow."""
    os.environ.update(runtime_env(settings))
    settings.home.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (cached). Tests build their own ``Settings(...)`` instead."""
    return Settings()
