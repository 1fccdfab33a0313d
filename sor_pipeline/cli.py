"""The ``sor-pipeline`` console command: the project's stable surface (docs/DESIGN.md).

Every subcommand has ``--help``; those that finish a piece of work accept ``--json`` and then print
one JSON object summarising it as the last line of stdout (and, for ``demo``, nothing else on stdout).
Heavy imports (Prefect, MLflow) happen inside the commands, after the runtime environment is set from
the settings and the command's log file is set up (``sor_pipeline.config.logs``): library logs go to
``$SOR_HOME/logs/``, the terminal gets the command's own lines. An expected error (bad input, missing
drop, failed stage) is one ``error: ...`` line on stderr and exit 1; an unexpected one the same, with
its traceback in the log file (and on stderr with ``--verbose``). ``ingest``, ``nightly`` and
``backfill`` refused because another run holds the date's lock exit 75 ("already running").
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from sor_pipeline.config.logs import setup_logging
from sor_pipeline.config.settings import Settings, apply_runtime_env, get_settings

log = logging.getLogger("sor_pipeline.cli")


@dataclass
class RunState:
    """This process's command run: its log file and whether tracebacks go to the terminal."""

    log_file: Path | None = None
    verbose: bool = False


STATE = RunState()


def one_line(text: str, limit: int = 1000) -> str:
    """``text`` on one line (whitespace runs, newlines included, become one space), cut at ``limit``."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _where() -> str:
    return f"  (log: {STATE.log_file})" if STATE.log_file else ""


def crash(exc: BaseException) -> NoReturn:
    """An exception no command expected: traceback to the log file (and stderr with --verbose), one line."""
    log.error("unexpected error", exc_info=exc)
    if STATE.verbose:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error: {type(exc).__name__}: {one_line(str(exc))}{_where()}\n")
    sys.stderr.flush()
    raise SystemExit(1)


class App(typer.Typer):
    """The Typer app, run as the console command: an unexpected exception becomes :func:`crash`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            crash(exc)


app = App(
    name="sor-pipeline",
    help="Nightly batch behind a machine-learning smart order router.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

ScenarioOpt = Annotated[str | None, typer.Option(
    "--scenario", help="Scenario TOML (regime shifts; see data_samples/scenarios/). Default: the default story.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object as the last line.")]
DateOpt = Annotated[str, typer.Option("--date", help="Trading date, YYYY-MM-DD.")]


def parse_date(value: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not a date YYYY-MM-DD")


def settings() -> Settings:
    s = get_settings()
    apply_runtime_env(s)
    return s


def emit(summary: dict[str, Any], as_json: bool) -> None:
    """Human summary on stderr; with --json one JSON object as the last stdout line."""
    if as_json:
        sys.stdout.write(json.dumps(summary, default=str, sort_keys=False) + "\n")
        sys.stdout.flush()
    else:
        console.print_json(json.dumps(summary, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    """An expected error: one ``error: ...`` line on stderr, exit ``code``. Called inside an ``except``
    block, the traceback goes to the log file (and to stderr with --verbose)."""
    exc = sys.exc_info()[1]
    log.error(message, exc_info=exc)
    if STATE.verbose and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.write(f"error: {one_line(message)}{_where()}\n")
    sys.stderr.flush()
    raise typer.Exit(code)


@app.callback()
def main_options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Echo library logs to stderr and print "
                                                                   "tracebacks of errors.")] = False,
) -> None:
    """Options for every command; library logs of each run go to $SOR_HOME/logs/<time>-<command>-<pid>.log."""
    if ctx.resilient_parsing or ctx.invoked_subcommand is None or "--help" in sys.argv[1:]:
        return
    setup = setup_logging(get_settings().home, ctx.invoked_subcommand, verbose=verbose)
    STATE.log_file, STATE.verbose = setup.path, verbose


@app.command("config")
def config_cmd(as_json: JsonOpt = False) -> None:
    """Show the effective settings (environment SOR_*, TOML file, defaults)."""
    s = settings()
    out = s.model_dump(mode="json")
    out["tracking_uri"] = s.resolved_tracking_uri
    out["lake_root"] = str(s.lake_root)
    emit(out, as_json)


@app.command("lake")
def lake_cmd(as_json: JsonOpt = False) -> None:
    """List the lake's datasets, their layer and partitions."""
    import sor_pipeline.monitoring  # noqa: F401  (registers the `monitoring` dataset)
    from sor_pipeline.storage.lake import CATALOG, Lake

    s = settings()
    lake = Lake(s.lake_root)
    datasets: dict[str, Any] = {}
    for name, ds in CATALOG.items():
        days = lake.dates(name)
        datasets[name] = {"layer": ds.layer, "partitions": len(days),
                                 "first": days[0].isoformat() if days else None,
                                 "last": days[-1].isoformat() if days else None}
    emit({"root": str(s.lake_root), "datasets": datasets}, as_json)


@app.command("sim")
def sim_cmd(
    start: Annotated[str, typer.Option("--start", help="First trading date, YYYY-MM-DD.")],
    days: Annotated[int, typer.Option("--days", min=1, help="Trading days to simulate.")] = 1,
    out: Annotated[str | None, typer.Option("--out", help="Raw-drop root (default $SOR_HOME/raw).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (deterministic output).")] = 7,
    symbols: Annotated[int, typer.Option("--symbols", min=1, help="Number of symbols.")] = 5,
    venues: Annotated[str | None, typer.Option("--venues", help="Comma list of venue codes to keep "
                                                               "(default all: DRK1,DRK2,ECNM,ECNI,LITA,LITB).")] = None,
    exec_format: Annotated[str, typer.Option("--exec-format", help="csv, jsonl, fix, or rotate (by day).")] = "csv",
    tick_format: Annotated[str, typer.Option("--tick-format", help="parquet, csv, or rotate (by day).")] = "parquet",
    big: Annotated[bool, typer.Option("--big", help="Big-day size (500 symbols, ~20 M quotes), streamed.")] = False,
    scenario: ScenarioOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write simulated raw drops (production formats) under OUT/YYYY-MM-DD/, ground truth in _truth/."""
    from pathlib import Path

    from sor_pipeline.simulation.days import run_sim

    s = settings()
    if exec_format not in {"csv", "jsonl", "fix", "rotate"} or tick_format not in {"parquet", "csv", "rotate"}:
        fail(f"unknown format: --exec-format {exec_format} --tick-format {tick_format}")
    try:
        summary = run_sim(
            start=parse_date(start, "--start"), days=days, out=Path(out) if out else s.raw_root, seed=seed,
            symbols=symbols, venues=venues.split(",") if venues else None, exec_format=exec_format,
            tick_format=tick_format, big=big, holidays=s.market.holidays, scenario=scenario,
        )
    except ValueError as exc:
        fail(str(exc))
    emit(summary, as_json)


@app.command("ingest")
def ingest_cmd(
    date_: DateOpt,
    raw: Annotated[str | None, typer.Option("--raw", help="Raw-drop root holding YYYY-MM-DD/ (default "
                                                         "$SOR_HOME/raw), or a folder of files for the date.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date of a range (inclusive).")] = None,
    mapping: Annotated[str | None, typer.Option("--mapping", help="OMS export mapping (TOML) for the files it "
                                                                 "names (setting ingest.mapping).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Raw drop(s) to validated lake tables, bad rows quarantined with reasons (a Prefect flow run)."""
    if mapping is not None:
        from sor_pipeline.ingest.mapping import MappingError, load_mapping

        try:
            load_mapping(mapping)  # a broken mapping fails here, naming the file and the key
        except MappingError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mapping") from exc
        os.environ["SOR_INGEST_MAPPING"] = str(Path(mapping).resolve())
        get_settings.cache_clear()
    s = settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows

    start = parse_date(date_)
    last = parse_date(end, "--end") if end else None
    if last is not None and last < start:
        raise typer.BadParameter(f"{end} is before --date {date_}", param_hint="--end")
    from sor_pipeline.storage.locks import EXIT_ALREADY_RUNNING, AlreadyRunning

    try:
        with early_lock(s, start if last is None else None, "ingest"):
            from flows.ingest import ingest_flow

            days = ingest_flow(start, last, raw)
    except AlreadyRunning as exc:
        fail(str(exc), EXIT_ALREADY_RUNNING)
    except ValueError as exc:
        fail(str(exc))
    slim = [{"date": d["date"], "raw_dir": d["raw_dir"],
             "tables": {t: {k: v[k] for k in ("read", "written", "quarantined")} for t, v in d["tables"].items()}}
            for d in days]
    emit(slim[0] if len(slim) == 1 else {"dates": [d["date"] for d in slim], "days": slim}, as_json)


def need_inputs(s: Settings, day: date, tables: tuple[str, ...], command: str) -> None:
    """An expected error (one line) when the lake lacks an input partition of ``day``: nothing to compute
    from, most often a drop not ingested yet."""
    from sor_pipeline.storage.lake import Lake

    lake = Lake(s.lake_root)
    missing = [t for t in tables if not lake.exists(t, day)]
    if missing:
        fail(f"{command} {day.isoformat()}: no {', '.join(missing)} partition in the lake {s.lake_root} "
             f"(ingest the day's drop first: sor-pipeline ingest --date {day.isoformat()})")


@app.command("features")
def features_cmd(date_: DateOpt, as_json: JsonOpt = False) -> None:
    """Point-in-time features and labels for one date, from the lake to the lake (a Prefect flow run)."""
    s = settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows
    day = parse_date(date_)
    need_inputs(s, day, ("child_orders", "nbbo"), "features")
    from flows.single import features_flow

    try:
        out = features_flow(day)
    except ValueError as exc:
        fail(str(exc))
    emit(out, as_json)


@app.command("tca")
def tca_cmd(date_: DateOpt, as_json: JsonOpt = False) -> None:
    """Transaction-cost analysis (DuckDB SQL) for one date, from the lake to the lake (a Prefect flow run)."""
    s = settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows
    day = parse_date(date_)
    need_inputs(s, day, ("child_orders", "fills", "nbbo"), "tca")
    from flows.single import tca_flow

    try:
        out = tca_flow(day)
    except ValueError as exc:
        fail(str(exc))
    emit(out, as_json)


RawOpt = Annotated[str | None, typer.Option("--raw", help="Raw-drop root (default $SOR_HOME/raw).")]


@app.command("nightly")
def nightly_cmd(
    date_: Annotated[str | None, typer.Option("--date", help="Trading date (default: today, market time).")] = None,
    raw: RawOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The full nightly for one trading date: ingest, features, TCA, monitor, retrain, gate, sandbox,
    report, then the alias move (last). Exit 75 when a run of the date is already going."""
    s = settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows
    from sor_pipeline.config.faults import StageFailed
    from sor_pipeline.storage.locks import EXIT_ALREADY_RUNNING, AlreadyRunning

    day = parse_date(date_) if date_ else None
    try:
        with early_lock(s, day, "nightly"):
            from flows.nightly import nightly_flow

            out = nightly_flow(day, raw)
    except AlreadyRunning as exc:
        fail(str(exc), EXIT_ALREADY_RUNNING)
    except StageFailed as exc:
        fail(str(exc))
    if as_json:
        emit(out, as_json)
    elif "skipped" in out:
        say(f"{out['date']}: skipped ({out['skipped']})")
    else:
        _print_night(out)


def early_lock(s: Settings, day: date | None, command: str) -> Any:
    """The date's run lock taken before Prefect and MLflow are imported, so a second run of a date is
    refused in a second instead of after the heavy imports (the flow takes it again, re-entrantly; a
    range or an unknown date is locked per date inside the flow only)."""
    from contextlib import nullcontext

    from sor_pipeline.storage.locks import date_lock

    return nullcontext() if day is None else date_lock(s, day, command)


def _print_night(out: dict[str, Any]) -> None:
    say(f"{out['date']}: verdict {out['verdict']}, promoted {out['promoted']}, champion v{out['champion_version']}, "
        f"challenger v{out['challenger_version']}, p={out['p_value']}, diff={out['cost_diff_bps']} bps; "
        f"report {out['report_html']}; log {STATE.log_file}")


@app.command("backfill")
def backfill_cmd(
    start: Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date (inclusive), YYYY-MM-DD.")],
    raw: RawOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The nightly over every trading date in [start, end] (weekdays minus holidays)."""
    settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows
    from flows.backfill import backfill_flow
    from sor_pipeline.config.faults import StageFailed
    from sor_pipeline.storage.locks import EXIT_ALREADY_RUNNING, AlreadyRunning

    try:
        nights = backfill_flow(parse_date(start, "--start"), parse_date(end, "--end"), raw)
    except AlreadyRunning as exc:
        fail(str(exc), EXIT_ALREADY_RUNNING)
    except StageFailed as exc:
        fail(str(exc))
    emit({"dates": [n["date"] for n in nights], "nights": nights}, as_json)


@app.command("report")
def report_cmd(
    start: Annotated[str, typer.Option("--start", help="First date, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--end", help="Last date (inclusive), YYYY-MM-DD.")],
    out: Annotated[str | None, typer.Option("--out", help="Output folder (default $SOR_HOME/reports).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Best-execution report for compliance (HTML and PDF, plus the Rule 605 pipe-delimited export)."""
    from pathlib import Path

    from sor_pipeline.reporting import build_report
    from sor_pipeline.storage.lake import Lake

    s = settings()
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    lake = Lake(s.lake_root)
    if last < first:
        fail(f"--end {last} is before --start {first}")
    if not any(first <= d <= last for d in lake.dates("child_orders")):
        fail(f"report {first}..{last}: the lake {s.lake_root} has no child orders in the period (nothing to "
             "report; ingest the drops first)")
    try:
        res = build_report(first, last, lake, s, Path(out) if out else None)
    except ValueError as exc:
        fail(str(exc))
    emit({"start": start, "end": end, "html": str(res.html), "pdf": str(res.pdf), "rule605": str(res.rule605)},
         as_json)


@app.command("demo")
def demo_cmd(
    start: Annotated[str, typer.Option("--start", help="First simulated trading date.")] = "2024-03-04",
    days: Annotated[int, typer.Option(
        "--days", min=1, help="Trading days to run (20: the warm-up, the first champion, two regime shifts).")] = 20,
    seed: Annotated[int | None, typer.Option("--seed", help="Simulator seed (default: the scenario's, "
                                                            "else 7).")] = None,
    symbols: Annotated[int | None, typer.Option("--symbols", min=1, help="Simulated symbols (default: the "
                                                                        "scenario's, else 5).")] = None,
    scenario: ScenarioOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate days and run the nightly on each, closed loop (the champion routes the next day), on
    embedded defaults: Prefect's ephemeral API, MLflow on sqlite, the lake on local disk. Prints a line
    per night, the cost table and where the report, the UIs and the log are (--json: only the JSON)."""
    import time

    s = settings()  # runtime environment (Prefect/MLflow state under SOR_HOME) before importing flows
    from flows.demo import demo_flow

    t0 = time.perf_counter()
    story = f"scenario {scenario}" if scenario else "the default story"
    say(f"demo: {days} trading day(s) from {start}, {story}, seed {seed or 'default'}, "
        f"{symbols or 'default'} symbol(s); state under {s.home}; "
        f"library logs in {STATE.log_file} (the first night starts Prefect's local API, ~20 s)")

    def tick(done: int, total: int, row: dict[str, Any]) -> None:
        say(f"night {done}/{total} {row['date']}: static {row['static']:.2f} / ml {row['ml']:.2f} / "
            f"oracle {row['oracle']:.2f} bps, routed by {row['router_policy']}{_guard_text(row)}; "
            f"night's decision {row['action']} ({row['verdict']}, on {row['cost_source']})  "
            f"({time.perf_counter() - t0:.0f} s)")

    try:
        out = demo_flow(parse_date(start, "--start"), days, seed, symbols, tick, scenario)
    except Exception as exc:  # a failed stage or bad input: one line, the traceback in the log
        fail(str(exc))
    if as_json:
        emit(out, as_json)
    else:
        _print_demo(out)


def _guard_text(row: dict[str, Any]) -> str:
    """", guard charged DRK2 +3.10 bps" when the router's intraday guard charged a venue that day."""
    charges = row.get("guard_charges_bps") or {}
    return (", guard charged " + ", ".join(f"{v} {c:+.2f} bps" for v, c in sorted(charges.items()))) if charges else ""


def say(line: str) -> None:
    """One human line on stderr, never wrapped (stdout is kept for --json)."""
    console.print(line, soft_wrap=True, highlight=False, markup=False)


def _print_demo(out: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="Mean expected cost per routing decision, bps (+ = cost; oracle = simulator's ground truth)")
    for col in ("date", "routed by", "static", "ml", "oracle", "guard charged", "decision", "routes next"):
        t.add_column(col)
    for d in out["days"]:
        charges = d.get("guard_charges_bps") or {}
        t.add_row(d["date"], d["router_policy"], f"{d['static']:.3f}", f"{d['ml']:.3f}", f"{d['oracle']:.3f}",
                  " ".join(f"{v} {c:+.1f}" for v, c in sorted(charges.items())), d.get("action", ""),
                  str(d["champion_version"] or "static"))
    console.print(t)
    share = out["captured_gap_share"]
    say(f"Share of the static-to-oracle gap captured after the {out['warmup_days']}-day warm-up "
        f"(exploration included): {'n/a' if share is None else f'{share:.1%}'}; nights to recover per shift: "
        f"{out['nights_to_recover']}; alias moves: {out['alias_moves']}")
    say(f"Report: {out['report_html']}  (PDF {out['report_pdf']}); cost plot {out['cost_plot']}")
    from sor_pipeline.storage.registry import training_view_path

    say(f"MLflow UI: sor-pipeline ui, then open http://127.0.0.1:5000{training_view_path(settings())} "
        f"(store {out['tracking_uri']})")
    say("Prefect UI (the nights' flow runs): sor-pipeline ui --prefect, then open http://127.0.0.1:4200")
    say(f"Log of this run: {STATE.log_file}")


@app.command("monitor")
def monitor_cmd(
    date_: DateOpt,
    reference_start: Annotated[str | None, typer.Option("--reference-start", help="Drift reference start.")] = None,
    reference_end: Annotated[str | None, typer.Option("--reference-end", help="Drift reference end.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Data-feed health, model health and drift checks for one date, with alerts. Exit 2 on an error breach."""
    s = settings()
    import sor_pipeline.monitoring as mon
    from sor_pipeline.promotion.champion import champion_reference, champion_scorer
    from sor_pipeline.storage.lake import Lake

    day = parse_date(date_)
    lake = Lake(s.lake_root)
    reference = None
    if reference_start and reference_end:
        reference = (parse_date(reference_start, "--reference-start"), parse_date(reference_end, "--reference-end"))
    else:
        reference = champion_reference(s, day)
    rep = mon.run_monitor(day, lake, s, reference=reference, score=champion_scorer(s, day))
    if not as_json:
        console.print(rep.to_markdown())
    emit(rep.summary, as_json)
    if rep.must_stop:
        raise typer.Exit(2)


@app.command("rollback")
def rollback_cmd(as_json: JsonOpt = False) -> None:
    """Move the champion alias back to the previous champion."""
    s = settings()
    from sor_pipeline.storage import registry

    before = registry.champion_version(s)
    try:
        now = registry.rollback(s)
    except registry.RegistryError as exc:
        fail(str(exc))
    emit({"model": s.mlflow.model_name, "from_version": before, "champion_version": now}, as_json)


@app.command("serve")
def serve_cmd() -> None:
    """Serve the nightly on its cron schedule (weekdays after the close); stop with SIGTERM."""
    s = settings()
    from flows.deploy import DEPLOYMENT_NAME, serve_nightly

    api = s.orchestration.prefect_api_url or "ephemeral (set SOR_PREFECT_API_URL for a server)"
    console.print(f"serving {DEPLOYMENT_NAME}: cron '{s.orchestration.schedule_cron}' ({s.market.timezone}); "
                  f"Prefect API {api}")
    serve_nightly(s)


@app.command("ui")
def ui_cmd(
    port: Annotated[int | None, typer.Option(help="Port (default 5000; 4200 with --prefect).")] = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="MLflow server worker processes.")] = 1,
    prefect: Annotated[bool, typer.Option("--prefect", help="Serve the Prefect UI on the flow runs kept under "
                                                            "$SOR_HOME/prefect instead of the MLflow UI.")] = False,
) -> None:
    """Start the MLflow UI on the configured tracking store, or with --prefect the Prefect UI on the
    state under SOR_HOME (Ctrl-C to stop)."""
    import os
    import subprocess

    s = settings()
    if prefect:
        cmd, env = prefect_ui_command(s, host, port or 4200)
        console.print(f"Prefect UI: http://{host}:{port or 4200}  (state {s.prefect_home})")
    else:
        from sor_pipeline.storage.registry import training_view_path

        cmd, env = mlflow_ui_command(s, host, port or 5000, workers)
        console.print(f"MLflow UI: http://{host}:{port or 5000}{training_view_path(s)}  (training runs; store "
                      f"{s.resolved_tracking_uri}, {workers} worker(s))")
    raise typer.Exit(subprocess.call(cmd, env={**os.environ, **env}))


def mlflow_ui_command(s: Settings, host: str, port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    """``mlflow server`` on the configured store with ``workers`` uvicorn workers and no background job
    consumers (nothing here submits MLflow jobs); returns (argv, extra environment)."""
    s.mlflow_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", s.resolved_tracking_uri,
           "--default-artifact-root", s.artifact_location, "--host", host, "--port", str(port),
           "--workers", str(workers)]
    return cmd, {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def prefect_ui_command(s: Settings, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """``prefect server start`` on the database under ``$SOR_HOME/prefect`` (where the commands' flow
    runs were recorded), one worker, no scheduler; returns (argv, extra environment)."""
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port),
           "--workers", "1", "--no-scheduler", "--analytics-off"]
    env = {"PREFECT_HOME": str(s.prefect_home)}
    return cmd, env


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
