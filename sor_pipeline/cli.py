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
