"""sor-pipeline: the nightly batch behind a machine-learning smart order router.

Pure logic lives in this package, one folder per layer (docs/DESIGN.md "Layout by layer"), and never
imports Prefect; ``flows/`` wires it.

Model versions registered before the layout by layer pickled their pyfunc wrapper by reference to
``sor_pipeline.registry.RouterPyfunc``; :data:`LEGACY_MODULES` maps such old module paths to their new
homes so those versions still load (a meta-path finder answers only for these names).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

__version__ = "0.1.0"

#: Old module path -> new module path, for artefacts (pickles) that name the old one.
LEGACY_MODULES = {"sor_pipeline.registry": "sor_pipeline.storage.registry"}


class _LegacyAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
                  ) -> ModuleSpec | None:
        if fullname in LEGACY_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return importlib.import_module(LEGACY_MODULES[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        sys.modules[module.__spec__.name if module.__spec__ else module.__name__] = module


if not any(isinstance(f, _LegacyAlias) for f in sys.meta_path):
    sys.meta_path.append(_LegacyAlias())
