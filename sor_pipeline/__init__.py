"""sor-pipeline: the nightly batch behind a machine-learning smart order router.

Pure logic lives in this package and never imports Prefect; ``flows/`` wires it.
"""

__version__ = "0.1.0"
