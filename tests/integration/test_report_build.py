"""build_report end to end on the hand-built days: files, reproducibility, Rule 605 export vs a real file,
governance with and without a champion, and no client details."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.reporting import ReportResult, build_report, read_rule605
from sor_pipeline.reporting import governance as gov
from sor_pipeline.reporting.rule605 import COLUMNS
from sor_pipeline.storage.lake import Lake
from tests.unit.test_report_handday import DAY, DAY2, write_hand_lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return write_hand_lake(tmp_path_factory.mktemp("lake"), (DAY, DAY2))


@pytest.fixture(scope="module")
def reports(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportResult, ReportResult]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home)
    a = build_report(DAY, DAY2, lake, settings, out_dir=home / "a")
    b = build_report(DAY, DAY2, lake, settings, out_dir=home / "b")
    return a, b


def pdf_text(path: Path) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext missing: apt-get install -y poppler-utils")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def test_files_and_sections(reports: tuple[ReportResult, ReportResult]) -> None:
    r = reports[0]
    assert r.html.is_file() and r.pdf.is_file() and r.rule605.is_file()
    assert r.html.parent == r.pdf.parent == r.rule605.parent
    html = r.html.read_text()
    for sid in ("summary", "venues", "routing", "router", "governance", "outliers", "reproducibility"):
        assert f'id="{sid}"' in html
    assert r.pdf.read_bytes().startswith(b"%PDF")
    assert r.summary["days"] == [DAY.isoformat(), DAY2.isoformat()] and r.summary["model_version"] is None


def test_venues_come_from_the_venue_reference(reports: tuple[ReportResult, ReportResult]) -> None:
    rows = {r["venue"]: r for r in reports[0].summary["tables"]["venue_reference"]}
    assert rows["DRK1"]["mic"] == "XDK1" and rows["ECNI"]["venue_type"] == "INVERTED"
    assert rows["LITA"]["taker_fee_bps"] == 0.3
    assert "XDK1" in reports[0].html.read_text(encoding="utf-8")


def test_self_contained_and_pseudonymous(reports: tuple[ReportResult, ReportResult]) -> None:
    html = reports[0].html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html and "@import" not in html and "url(http" not in html
    assert "CLIENT-SECRET" not in html and "client_id" not in html
    assert html.count("data:image/svg+xml;base64,") == 3


def test_reproducible(reports: tuple[ReportResult, ReportResult]) -> None:
    a, b = reports
    assert a.html.read_bytes() == b.html.read_bytes()
    assert a.pdf.read_bytes() == b.pdf.read_bytes()
    assert a.rule605.read_bytes() == b.rule605.read_bytes()
    assert pdf_text(a.pdf) == pdf_text(b.pdf)


def test_names_partitions_code_and_model(reports: tuple[ReportResult, ReportResult], lake: Lake) -> None:
    r = reports[0]
    html = r.html.read_text()
    for name in ("child_orders", "fills", "nbbo", "tca_child", "tca_parent", "sim_oracle"):
        for d in (DAY, DAY2):
            assert lake.partition_hash(name, d) in html
    assert r.summary["code_version"] in html
    assert "none registered" in html and gov.NO_CHAMPION in html
    assert "Best-execution report" in pdf_text(r.pdf)


def test_router_section_states_the_test(reports: tuple[ReportResult, ReportResult]) -> None:
    tests = reports[0].summary["tests"]
    assert tests["realized"]["n_days"] == 2 and tests["realized"]["p_value"] is not None
    assert tests["oracle"]["mean_diff_bps"] == pytest.approx(1.5)  # static 3.5 vs ML 2.0 on both days
    assert tests["captured_gap_share"] == pytest.approx(1.0)
    assert "paired t-test over days" in reports[0].html.read_text()


def test_rule605_export_parses_like_a_real_file(reports: tuple[ReportResult, ReportResult]) -> None:
    ours = read_rule605(reports[0].rule605)
    assert dict(ours.schema) == COLUMNS and ours.height == 3
    assert set(ours["order_type"].to_list()) <= {11, 12, 13, 14, 15}
    assert set(ours["size_bucket"].to_list()) <= {21, 22, 23, 24}
    assert (ours["executed_at_center_shares"] <= ours["covered_shares"]).all()
    assert ((ours["cancelled_shares"] + ours["executed_at_center_shares"] + ours["executed_away_shares"])
            <= ours["covered_shares"]).all()
    assert all(len(line.split("|")) == 26 for line in reports[0].rule605.read_text().splitlines() if line)


@pytest.mark.realdata
def test_real_rule605_file_same_reader(real_data: Path, reports: tuple[ReportResult, ReportResult]) -> None:
    path = real_data / "rule605" / "VIRTU0817.txt"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    real = read_rule605(path)
    ours = read_rule605(reports[0].rule605)
    assert real.schema == ours.schema
    assert real.height == 31802
    assert set(real["order_type"].unique().to_list()) == {11, 12, 13, 14, 15}
    assert set(real["size_bucket"].unique().to_list()) == {21, 22, 23, 24}
    assert (real["market_center"] == "TVIRT").all() and (real["yyyymm"] == "201708").all()
    assert real.select(pl.col("covered_shares") >= pl.col("covered_orders")).to_series().all()
    assert (real["executed_at_center_shares"] <= real["covered_shares"]).all()
    non_marketable = real.filter(pl.col("order_type") >= 13)
    assert non_marketable["avg_effective_spread"].null_count() == non_marketable.height  # same blanks as ours
    assert float(real["avg_realized_spread"].min()) < 0  # type: ignore[arg-type]  # can be negative


def test_governance_with_a_champion(monkeypatch: pytest.MonkeyPatch, lake: Lake, tmp_path: Path) -> None:
    """Registry answers stubbed (its own tests cover MLflow): the champion, promotion date, gate evidence."""
    import sor_pipeline.storage.registry as registry

    tags = {"3": {"day": "2024-03-04", "promoted": "true", "gate_verdict": "PASS", "p_value": "0.012",
                  "cost_diff_bps": "-0.8", "gate_reasons": '["significant margin"]',
                  "train_window": "2024-02-01..2024-03-01", "data_hash": "ab" * 32, "code_version": "deadbeef"}}
    monkeypatch.setattr(registry, "champion_version", lambda s: "3")
    monkeypatch.setattr(registry, "version_tags", lambda s, v: tags[v])
    settings = Settings(home=tmp_path, tracking_uri=f"sqlite:///{tmp_path}/none.db")
    r = build_report(DAY, DAY, lake, settings, out_dir=tmp_path / "out")
    html = r.html.read_text()
    assert r.summary["model_version"] == "3" and "promoted by the nightly of 2024-03-04" in html
    for text in ("PASS", "0.012", "-0.8", "significant margin", "2024-02-01..2024-03-01", "abababababababab"):
        assert text in html
    row = next(x for x in r.summary["tables"]["model_versions"] if x["version"] == "3")
    assert row["child_orders"] == 2 and row["champion"] == "yes"


# --------------------------------------------------------------------------------------------------
# what a reviewer sees first, and how the pages break (issue 18)
def test_executive_summary_figures_equal_the_tables(reports: tuple[ReportResult, ReportResult]) -> None:
    s = reports[0].summary
    ex = s["executive"]
    vol = next(r for r in s["tables"]["volume"] if r["side"] == "ALL")
    assert (ex["parent_orders"], ex["child_orders"], ex["filled_shares"], ex["notional_usd"]) == (
        vol["parent_orders"], vol["child_orders"], vol["filled_shares"], vol["notional_usd"])
    assert ex["start"] == s["start"] and ex["end"] == s["end"] and ex["trading_days"] == len(s["days"])
    assert ex["comparison"] == "oracle" and ex["test"] == s["tests"]["oracle"]
    assert ex["verdict"] == "too few days" or ex["test"]["n_days"] >= 2
    worst = s["tables"]["worst_children"][0]
    assert any(worst["child_id"] in a for a in ex["attention"])
    n_out = len(s["tables"]["outside_nbbo"])  # under the table's 25-row limit here
    assert ex["outside_nbbo"] == n_out > 0
    assert any(a.startswith(f"{n_out} execution(s) printed outside the NBBO") for a in ex["attention"])
    assert ex["model_changes"] == [] and "Findings to review" in ex["conclusion"]
    html = reports[0].html.read_text()
    first_page = html[html.index('id="executive"'):html.index('id="summary"')]
    for text in (f"{vol['parent_orders']:,} parent orders", f"{vol['filled_shares']:,} shares filled",
                 f"${vol['notional_usd']:,.0f} notional", "Needs a look", "Conclusion."):
        assert text in first_page, text


def test_executive_verdict_and_model_changes(tmp_path: Path) -> None:
    from datetime import date

    from sor_pipeline.reporting.executive import model_changes, verdict

    assert verdict({"n_days": 5, "boot_low": 0.2, "boot_high": 1.0}) == "cheaper"
    assert verdict({"n_days": 5, "boot_low": -1.0, "boot_high": -0.1}) == "costlier"
    assert verdict({"n_days": 5, "boot_low": -1.0, "boot_high": 1.0}) == "no significant difference"
    assert verdict({"n_days": 1, "boot_low": None, "boot_high": None}) == "too few days"
    settings = Settings(home=tmp_path)
    settings.ledger_path.parent.mkdir(parents=True)
    settings.ledger_path.write_text("\n".join([
        '{"night": "2024-03-01", "action": "promote", "from": "static", "to": "1", "reason": "before"}',
        '{"night": "2024-03-05", "action": "promote", "from": "1", "to": "2", "reason": "cheaper by 0.9 bps"}',
        '{"night": "2024-03-06", "action": "demote", "from": "2", "to": "static", "reason": "costlier"}']) + "\n")
    got = model_changes(settings, date(2024, 3, 5), date(2024, 3, 6))
    assert [(c["night"], c["action"], c["to"]) for c in got] == [("2024-03-05", "promote", "2"),
                                                                 ("2024-03-06", "demote", "static")]


def test_pdf_layout_no_orphan_heading_no_small_type(reports: tuple[ReportResult, ReportResult]) -> None:
    from sor_pipeline.reporting.render import layout, layout_problems

    doc = layout(reports[0].html.read_text())
    assert layout_problems(doc) == []
    sizes = [(p.width > p.height) for p in doc.pages]
    assert sizes[0] is False and True in sizes  # portrait first page; the wide Rule 605 tables on landscape


def test_layout_of_many_table_lengths_is_clean() -> None:
    """Headings land anywhere on a page when tables have 2..40 rows: none may end a page."""
    from datetime import date

    from sor_pipeline.reporting.render import layout, layout_problems, render_html
    from sor_pipeline.reporting.tables import Table

    sections = []
    for i, n in enumerate([3, 14, 26, 40, 9, 17]):
        cols = 16 if i % 3 == 2 else 6  # every third table is wide: a landscape page
        frame = pl.DataFrame({f"column {c}": [float(r * c) for r in range(n)] for c in range(cols)})
        sections.append({"id": f"s{i}", "title": f"Section {i}", "figures": [],
                         "paragraphs": [{"text": "A paragraph before the table. " * (i % 3 + 1), "cls": ""}],
                         "tables": [Table(f"t{i}", f"Table {i} with {n} rows", frame),
                                    Table(f"u{i}", f"Second table {i}", frame.head(4))]})
    html = render_html(sections, start=date(2024, 3, 4), end=date(2024, 3, 8), n_days=5, code="test",
                       model_version="none")
    doc = layout(html)
    assert len(doc.pages) >= 4
    assert layout_problems(doc) == []


def test_layout_check_finds_an_orphan_heading_and_small_type() -> None:
    from sor_pipeline.reporting.render import layout, layout_problems

    rows = "".join(f"<tr><td>{i}</td><td>{i * 2}</td></tr>" for i in range(20))
    html = ("<html><head><style>@page { size: A4; margin: 10mm } body { margin: 0 }"
            " h2 { margin: 0; font-size: 10pt; break-after: auto }"
            " table { break-inside: avoid; font-size: 6pt }</style></head><body>"
            "<p style='height: 266mm; margin: 0'>filler</p><h2>Left alone</h2>"
            f"<table><caption>Its table</caption>{rows}</table></body></html>")
    problems = layout_problems(layout(html))
    assert any(p.startswith("page 1: ends with a heading or table title") for p in problems), problems
    assert any("table text at 6.0 pt" in p for p in problems), problems


def test_index_lists_every_report(reports: tuple[ReportResult, ReportResult]) -> None:
    from sor_pipeline.reporting.render import write_index

    r = reports[0]
    out = r.html.parent
    index = out / "index.html"
    assert r.summary["index"] == str(index) and index.is_file()  # written with the report
    html = index.read_text()
    assert html.count("<tr class=") == 1 and f'href="{r.pdf.name}"' in html and f'href="{r.html.name}"' in html
    assert r.summary["executive"]["verdict"] in html
    (out / "best_execution_2024-03-01_2024-03-01.html").write_text("<html></html>")  # an older report, no meta
    write_index(out)
    html = index.read_text()
    assert html.count("<tr class=") == 2
    assert html.index(r.html.name) < html.index("best_execution_2024-03-01_2024-03-01.html")  # latest first
