"""The ``sor-pipeline`` console command: the project's stable surface (DESIGN.md).

Every subcommand has ``--help``; those that finish a piece of work accept ``--json`` and then print
one JSON object summarising it as the last line of stdout. Heavy imports (Prefect, MLflow) happen
inside the commands, after the runtime environment is set from the settings.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console

from sor_pipeline.settings import Settings, apply_runtime_env, get_settings

app = typer.Typer(
    name="sor-pipeline",
    help="Nightly batch behind a machine-learning smart order router.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON summary object as the last line.")]
DateOpt = Annotated[str, typer.Option("--date", help="Trading date, YYYY-MM-DD.")]


def parse_date(value: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD", param_hint=option) from exc


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


def fail(message: str, code: int = 1) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


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
    from sor_pipeline.lake import CATALOG, Lake

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
    as_json: JsonOpt = False,
) -> None:
    """Write simulated raw drops (production formats) under OUT/YYYY-MM-DD/, ground truth in _truth/."""
    from pathlib import Path

    from sor_pipeline.simulate import run_sim

    s = settings()
    if exec_format not in {"csv", "jsonl", "fix", "rotate"} or tick_format not in {"parquet", "csv", "rotate"}:
        fail(f"unknown format: --exec-format {exec_format} --tick-format {tick_format}")
    try:
        summary = run_sim(
            start=parse_date(start, "--start"), days=days, out=Path(out) if out else s.raw_root, seed=seed,
            symbols=symbols, venues=venues.split(",") if venues else None, exec_format=exec_format,
            tick_format=tick_format, big=big, holidays=s.holidays,
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
    as_json: JsonOpt = False,
) -> None:
    """Raw drop(s) to validated lake tables, bad rows quarantined with reasons (a Prefect flow run)."""
    s = settings()
    from flows.ingest import ingest_flow

    start = parse_date(date_)
    try:
        days = ingest_flow(start, parse_date(end, "--end") if end else None, raw)
    except ValueError as exc:
        fail(str(exc))
    slim = [{"date": d["date"], "raw_dir": d["raw_dir"],
             "tables": {t: {k: v[k] for k in ("read", "written", "quarantined")} for t, v in d["tables"].items()}}
            for d in days]
    emit(slim[0] if len(slim) == 1 else {"dates": [d["date"] for d in slim], "days": slim}, as_json)
    _ = s


@app.command("monitor")
def monitor_cmd(
    date_: DateOpt,
    reference_start: Annotated[str | None, typer.Option("--reference-start", help="Drift reference start.")] = None,
    reference_end: Annotated[str | None, typer.Option("--reference-end", help="Drift reference end.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Data-feed health, model health and drift checks for one date, with alerts. Exit 2 on an error breach."""
    s = settings()
    import sor_pipeline.monitor as mon
    from sor_pipeline.lake import Lake
    from sor_pipeline.monitoring_wiring import champion_reference, champion_scorer

    day = parse_date(date_)
    lake = Lake(s.lake_root)
    reference = None
    if reference_start and reference_end:
        reference = (parse_date(reference_start, "--reference-start"), parse_date(reference_end, "--reference-end"))
    else:
        reference = champion_reference(s)
    rep = mon.run_monitor(day, lake, s, reference=reference, score=champion_scorer(s))
    if not as_json:
        console.print(rep.to_markdown())
    emit(rep.summary, as_json)
    if rep.must_stop:
        raise typer.Exit(2)


@app.command("rollback")
def rollback_cmd(as_json: JsonOpt = False) -> None:
    """Move the champion alias back to the previous champion."""
    s = settings()
    from sor_pipeline import registry

    before = registry.champion_version(s)
    try:
        now = registry.rollback(s)
    except registry.RegistryError as exc:
        fail(str(exc))
    emit({"model": s.model_name, "from_version": before, "champion_version": now}, as_json)


@app.command("ui")
def ui_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
) -> None:
    """Start the MLflow UI on the configured tracking store (Ctrl-C to stop)."""
    import subprocess

    s = settings()
    s.mlflow_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", s.resolved_tracking_uri,
           "--default-artifact-root", s.artifact_location, "--host", host, "--port", str(port)]
    console.print(f"MLflow UI: http://{host}:{port}  (store {s.resolved_tracking_uri})")
    raise typer.Exit(subprocess.call(cmd))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
