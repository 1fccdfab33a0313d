"""Best-execution report for compliance (FINRA 5310 "regular and rigorous" review): HTML, PDF and a
legacy Rule 605 file. Entry point: :func:`build_report`; the Rule 605 reader: :func:`read_rule605`.

Sign conventions (docs/DESIGN.md): costs in bps, + = cost; markout + = moved our way; spreads + = paid;
price improvement > 0 = better; fees + = paid, − = rebate. No Prefect; MLflow only via sor_pipeline.storage.registry.
"""

from __future__ import annotations

from sor_pipeline.config.version import code_version
from sor_pipeline.reporting.render import ReportResult, build_report
from sor_pipeline.reporting.rule605 import read_rule605, write_rule605

__all__ = ["ReportResult", "build_report", "code_version", "read_rule605", "write_rule605"]
