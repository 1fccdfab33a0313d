"""A command's log file: library records and Python warnings go there, not to the terminal."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from sor_pipeline.config.logs import QUIET_ENV, setup_logging


def test_library_records_and_warnings_go_to_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for key in QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    first = setup_logging(tmp_path, "ingest")
    second = setup_logging(tmp_path, "demo")  # a second command in one process replaces the first's handler
    try:
        assert second.path.parent == tmp_path / "logs" and second.path.name.endswith(f"-demo-{os.getpid()}.log")
        logging.getLogger("mlflow.store.db.utils").info("Creating initial MLflow database tables...")
        logging.getLogger("weasyprint").warning("Ignored `break-inside: avoid-column`")
        # what logging.captureWarnings sends for a Python warning (pytest's own warning capture would
        # intercept a real warnings.warn here, depending on the plugins and the worker)
        logging.getLogger("py.warnings").warning("UserWarning: Failed to resolve installed pip version")
        logging.getLogger("httpx").info("HTTP Request: GET /api/health")  # too talkative, dropped
        text = second.path.read_text()
        assert "INFO    mlflow.store.db.utils: Creating initial MLflow database tables..." in text
        assert "weasyprint: Ignored" in text and "Failed to resolve installed pip version" in text
        assert "HTTP Request" not in text and not first.path.read_text()
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == ""
        assert os.environ["MLFLOW_CONFIGURE_LOGGING"] == "false"
        assert os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] == "100"
    finally:
        root = logging.getLogger()
        for h in second.handlers:
            root.removeHandler(h)
            h.close()
        logging.captureWarnings(False)
