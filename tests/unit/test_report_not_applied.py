"""A night whose alias move failed after its report stated the decision stamps the report NOT APPLIED."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sor_pipeline.reporting.render import NOT_APPLIED_CLASS, mark_not_applied, write_pdf


def test_failed_move_stamps_the_html_and_the_pdf(tmp_path: Path) -> None:
    html = tmp_path / "best_execution_2024-03-08_2024-03-08.html"
    pdf = tmp_path / "best_execution_2024-03-08_2024-03-08.pdf"
    page = "<html><body><h1>Best execution</h1><p>Decision: promote version 7.</p></body></html>"
    html.write_text(page, encoding="utf-8")
    write_pdf(page, pdf)
    before = pdf.read_bytes()
    mark_not_applied(html, pdf, date(2024, 3, 8), "registry unavailable: <database is locked>")
    text = html.read_text(encoding="utf-8")
    assert f'class="{NOT_APPLIED_CLASS}"' in text and "NOT APPLIED" in text
    assert "&lt;database is locked&gt;" in text  # the reason is escaped, not markup
    assert text.index("NOT APPLIED") < text.index("Best execution")
    assert pdf.read_bytes() != before and pdf.read_bytes().startswith(b"%PDF")
    mark_not_applied(html, pdf, date(2024, 3, 8), "again")  # idempotent: one banner
    assert html.read_text(encoding="utf-8").count(NOT_APPLIED_CLASS) == 1
