"""The package's layers, kept by imports: a module may import its own layer and the layers below it.

Order, lowest first (README "Layout"): config, storage, ingest, features, tca, learning, serving,
monitoring, simulation, promotion, reporting, then the command line. Function-level (lazy) imports
count too. ``mlflow`` is imported by the registry module only; ``SOR_HOME`` and storage paths are
resolved by config and storage only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "sor_pipeline"
LAYERS = ["config", "storage", "ingest", "features", "tca", "learning", "serving", "monitoring", "simulation",
          "promotion", "reporting", "cli"]
TOP_MODULES = {"__init__.py", "__main__.py", "cli.py"}


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _layer(path: Path) -> str | None:
    rel = path.relative_to(PKG).parts
    if len(rel) == 1:
        return "cli" if rel[0] in ("cli.py", "__main__.py") else None
    return rel[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def test_top_of_package_holds_at_most_three_modules() -> None:
    top = {p.name for p in PKG.glob("*.py")}
    assert top <= TOP_MODULES, f"loose modules at the top of sor_pipeline/: {sorted(top - TOP_MODULES)}"
    folders = {p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))}
    assert folders == set(LAYERS) - {"cli"}, f"folders that are not layers: {sorted(folders ^ (set(LAYERS) - {'cli'}))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_imports_a_layer_above_it(path: Path) -> None:
    own = _layer(path)
    if own is None:
        return
    rank = LAYERS.index(own)
    bad = []
    for line, name in _imports(path):
        parts = name.split(".")
        if parts[0] != "sor_pipeline" or len(parts) < 2 or parts[1] not in LAYERS:
            continue
        if LAYERS.index(parts[1]) > rank:
            bad.append(f"{path.name}:{line} imports {name} ({parts[1]} is above {own})")
    assert not bad, "\n".join(bad)


def test_mlflow_is_imported_by_the_registry_only() -> None:
    owners = {PKG / "storage" / "registry.py"}
    bad = [f"{p.relative_to(PKG)}:{line}" for p in _modules() if p not in owners
           for line, name in _imports(p) if name.split(".")[0] == "mlflow"]
    assert not bad, f"mlflow imported outside storage/registry.py: {bad}"


def test_home_and_store_paths_resolved_by_config_and_storage_only() -> None:
    needles = re.compile(r"""environ(?:\.get)?[\[(]\s*["']SOR_HOME|mlflow\.db|/\s*["'](?:lake|mlflow)["']""")
    bad = []
    for p in _modules():
        if _layer(p) in ("config", "storage"):
            continue
        bad += [f"{p.relative_to(PKG)}: {m.group(0)}" for m in needles.finditer(p.read_text())]
    assert not bad, f"storage locations resolved outside config/storage: {bad}"


def test_versions_pickled_before_the_move_still_resolve(tmp_path: Path) -> None:
    """Versions registered before the layout pickled their pyfunc by reference to
    ``sor_pipeline.registry.RouterPyfunc``; that name must keep resolving, and a wrapper with no
    ``loader`` in its model config must rebuild the model with the default loader."""
    import pickle
    from types import SimpleNamespace

    from sor_pipeline.learning import TrainConfig, train_router
    from sor_pipeline.storage import registry
    from tests.synthetic_features import make_days

    cls = pickle.loads(b"csor_pipeline.registry\nRouterPyfunc\n.")
    assert cls is registry.RouterPyfunc
    features, _ = make_days(__import__("datetime").date(2024, 3, 4), 2, 60, seed=1)
    model, _ = train_router(features, TrainConfig(n_estimators=5))
    folder = model.save(tmp_path / "router")
    wrapper = cls()
    wrapper.load_context(SimpleNamespace(artifacts={registry.ARTIFACT_KEY: str(folder)}, model_config=None))
    assert type(wrapper.router).__name__ == "RouterModel" and wrapper.router.venues.keys() == model.venues.keys()
