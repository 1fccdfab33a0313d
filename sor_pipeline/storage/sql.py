"""Locate the SQL files, both in a checkout (``<repo>/sql``) and in an installed wheel."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

_PKG = Path(__file__).resolve().parents[1]  # the sor_pipeline package


@lru_cache(maxsize=1)
def sql_dir() -> Path:
    for candidate in (_PKG.parent / "sql", _PKG / "_resources" / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("sql/ directory not found in checkout or installed package")


@cache
def read_sql(name: str) -> str:
    """Text of ``sql/<name>.sql`` (one statement per file, bound parameters only)."""
    path = sql_dir() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no SQL statement named {name!r} at {path}")
    return path.read_text()
