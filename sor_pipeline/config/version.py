"""Which code produced an artefact: the one ``code_version`` the model tags and the report print."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE = "sor-pipeline"


@cache
def code_version(short: bool = False) -> str:
    """``git rev-parse HEAD`` of the checkout holding this package (12 characters when ``short``), else
    ``sor-pipeline <installed version>``, else ``unknown``."""
    args = ["git", "rev-parse", *(["--short=12"] if short else []), "HEAD"]
    try:
        out = subprocess.run(args, cwd=Path(__file__).resolve().parent, capture_output=True, text=True,
                             timeout=10, check=True)
        if out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"{PACKAGE} {metadata.version(PACKAGE)}"
    except metadata.PackageNotFoundError:
        return "unknown"
