"""Where a command's logs go: one file per command run under ``$SOR_HOME/logs/``, not the terminal.

Library chatter (MLflow INFO/WARNING, weasyprint, Prefect flow and task logs, Python warnings) is
written to that file; the terminal keeps what the command itself prints. With ``verbose`` the same
records are also echoed to stderr.

Call :func:`setup_logging` before importing Prefect or MLflow: both configure logging on import, and
they read the environment variables set here (``MLFLOW_CONFIGURE_LOGGING``, ``PREFECT_LOGGING_*``).
"""

from __future__ import annotations

import io
import logging
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: Prefect's console handlers at a level no record reaches (its records still propagate to the file).
SILENT_LEVEL = "100"
#: Environment that keeps the libraries off the terminal (set before they are imported).
QUIET_ENV = {
    "MLFLOW_CONFIGURE_LOGGING": "false",  # mlflow's own stderr handler; its loggers then reach the root
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # tqdm bars on artifact downloads
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": SILENT_LEVEL,
    "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL": SILENT_LEVEL,
    "PREFECT_LOGGING_LEVEL": "INFO",  # flow and task run records, to the file
}
#: Attribute marking the root handlers this module installed.
OURS = "_sor_pipeline_command_log"
#: Loggers too talkative at INFO for the file (one line per HTTP request to the Prefect API).
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "alembic")


@dataclass
class LogSetup:
    """The handlers installed for one command run. They stay until the process ends (logging's exit
    hook closes them): Prefect's log workers still flush records at exit, and with no handler left
    Python would print those to stderr. A later :func:`setup_logging` in the same process (tests
    invoking several commands) replaces them."""

    path: Path
    handlers: list[logging.Handler] = field(default_factory=list)


def _remove_ours() -> None:
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, OURS, False)]:
        root.removeHandler(h)
        h.close()


def _to_terminal(h: logging.Handler) -> bool:
    """A stream handler writing to the terminal (stderr/stdout, or a wrapper of them such as MLflow's
    ``MlflowLoggingStream``); not a file, an in-memory stream or a test runner's capture."""
    if not isinstance(h, logging.StreamHandler) or isinstance(h, logging.FileHandler):
        return False
    return not isinstance(h.stream, io.StringIO | io.BytesIO) and not type(h).__module__.startswith("_pytest")


def _detach_terminal_handlers() -> None:
    """Loggers a library configured before this setup (imported first): their terminal handlers are
    removed and their records propagate to the root's file handler."""
    for logger in [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]:
        terminal = [h for h in logger.handlers if _to_terminal(h)]
        for h in terminal:
            logger.removeHandler(h)
        if terminal:
            logger.propagate = True


def log_path(home: Path, command: str, now: datetime | None = None) -> Path:
    """``$SOR_HOME/logs/<YYYYmmdd-HHMMSS>-<command>-<pid>.log``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return home / "logs" / f"{stamp}-{command}-{os.getpid()}.log"


def setup_logging(home: Path, command: str, *, verbose: bool = False) -> LogSetup:
    """Send every log record (INFO and up) and Python warning of this process to a new log file for
    ``command``; with ``verbose`` also to stderr. Returns the setup (its ``path`` is the file)."""
    path = log_path(home, command)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.update(QUIET_ENV)
    _remove_ours()
    _detach_terminal_handlers()
    setup = LogSetup(path)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter(FORMAT))
    setup.handlers.append(file_handler)
    if verbose:
        echo = logging.StreamHandler(sys.stderr)
        echo.setFormatter(logging.Formatter(FORMAT))
        setup.handlers.append(echo)
    root = logging.getLogger()
    for h in setup.handlers:
        setattr(h, OURS, True)
        root.addHandler(h)
    root.setLevel(logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return setup
