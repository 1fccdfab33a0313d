"""``build_report``: the best-execution report for ``start..end`` as self-contained HTML, PDF and a legacy
Rule 605 file, plus a JSON-ready summary.

Reproducible by construction: no wall-clock time anywhere (dates come from the data), figures are
deterministic SVG, every table is sorted on its keys, the PDF carries no creation date, and the report
names the partitions it read with their sha256, the code version and the champion model version.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from sor_pipeline.config.settings import Settings
from sor_pipeline.config.version import code_version
from sor_pipeline.learning.gate import NO_PROPENSITY_REMEDY
from sor_pipeline.reporting import executive, governance, outliers, performance, plots, routing, rule605, summary
from sor_pipeline.reporting.data import ReportData, load
from sor_pipeline.reporting.tables import Table
from sor_pipeline.storage.lake import Lake

TEMPLATES = Path(__file__).resolve().parent / "templates"
TITLE = "Best-execution report"


@dataclass(frozen=True)
class ReportResult:
    """Paths of the written files and the JSON-ready ``summary`` (dates, counts, tests, versions, paths)."""

    html: Path
    pdf: Path
    rule605: Path
    summary: dict[str, Any]


def _para(text: str, cls: str = "") -> dict[str, str]:
    return {"text": text, "cls": cls}


def _fmt_num(v: Any, spec: str = "{:.2f}") -> str:
    return "n/a" if v is None else spec.format(v)


def _test_text(t: dict[str, Any]) -> str:
    if t["n_days"] < 2 or t["p_value"] is None:
        return f"{t['label']}: {t['n_days']} paired day(s) — too few (or no variation) for a test."
    return (f"{t['label']}: mean daily difference {_fmt_num(t['mean_diff_bps'])} bps over {t['n_days']} days "
            f"(> 0 = ML cheaper); {t['method']}: t = {_fmt_num(t['t_stat'])}, p = {_fmt_num(t['p_value'], '{:.4f}')}, "
            f"bootstrap 95% CI [{_fmt_num(t['boot_low'])}, {_fmt_num(t['boot_high'])}] bps.")


def _partition_table(data: ReportData) -> Table:
    frame = pl.DataFrame({"dataset": [p.dataset for p in data.partitions], "date": [p.day for p in data.partitions],
                          "sha256": [p.sha256 for p in data.partitions]},
                         schema={"dataset": pl.String, "date": pl.Date, "sha256": pl.String})
    return Table("partitions", "Lake partitions read (sha256 over file names and bytes, Lake.partition_hash)", frame)


def _venue_reference(data: ReportData, settings: Settings) -> list[Table]:
    """The venue reference table, or none when the reference cannot be read (the ingest names why)."""
    from sor_pipeline.ingest.venue_ref import DEFAULT_PATH, VenueReferenceError, load_venue_reference

    path = settings.ingest.venues or DEFAULT_PATH
    try:
        reference = load_venue_reference(path)
    except VenueReferenceError:
        return []
    return [routing.venue_reference_table(data, reference, str(path))]


def build_sections(data: ReportData, lake: Lake, settings: Settings, code: str) -> tuple[list[dict[str, Any]],
                                                                                          dict[str, Any]]:
    """Sections for the template and the summary figures (tables as lists of dicts)."""
    perf_tables, tests = performance.performance(data, settings)
    used = governance.routing_versions(data)
    info = governance.registry_info(settings, used["version"].to_list())
    drift = governance.drift_table(data, lake, info)
    gov_paras = [_para(info["note"], "warn")] if info["champion"] is None else [
        _para(f"Champion: version {info['champion']} (alias '{settings.mlflow.champion_alias}' of model "
              f"'{settings.mlflow.model_name}'); promoted by the nightly of "
              f"{info['versions'].get(info['champion'], {}).get('day', 'n/a')}.")]
    if drift is None:
        gov_paras.append(_para("No drift figures: no monitoring drift rows for the period and no champion "
                               "training window with features to compare against."))
    perf_paras = [_para(_test_text(tests["realized"]))]
    if "oracle" in tests:
        perf_paras.append(_para(_test_text(tests["oracle"])))
        gap = tests.get("captured_gap_share")
        perf_paras.append(_para(f"Share of the static-to-oracle gap closed by the ML router: "
                                f"{'n/a' if gap is None else f'{gap:.1%}'}."))
    else:
        perf_paras.append(_para("No simulator oracle in the lake for this period: oracle comparison not shown."))
    if data.children.height and data.children["propensity"].null_count() == data.children.height:
        perf_paras.append(_para(f"No off-policy figures for this period: {NO_PROPENSITY_REMEDY}. The nightly "
                                "decision is inconclusive and nothing is promoted until they are logged.", "warn"))
    figs = plots.figures(data.tca_child)
    sections: list[dict[str, Any]] = [
        {"id": "summary", "title": "Summary", "tables": summary.summary_tables(data), "figures": figs[:1],
         "paragraphs": []},
        {"id": "venues", "title": "Venue execution quality (Rule 605 style)",
         "tables": [*_venue_reference(data, settings), *routing.venue_quality_tables(data)], "figures": figs[2:3],
         "paragraphs": [_para("The legacy pipe-delimited Rule 605 file of this table (per venue, month and symbol) "
                              "is written next to this report.")]},
        {"id": "routing", "title": "Routing (Rule 606(b)(3) and RTS 28 style)",
         "tables": [routing.routing_table(data), routing.rts28_table(data)], "figures": figs[1:2], "paragraphs": []},
        {"id": "router", "title": "Router performance: ML vs static waterfall", "tables": perf_tables,
         "figures": [], "paragraphs": perf_paras},
        {"id": "governance", "title": "Model governance",
         "tables": [governance.versions_table(info, used), *([drift] if drift is not None else [])],
         "figures": [], "paragraphs": gov_paras},
        {"id": "outliers", "title": "Outliers", "tables": outliers.outlier_tables(data), "figures": [],
         "paragraphs": []},
        {"id": "reproducibility", "title": "Reproducibility", "tables": [_partition_table(data)], "figures": [],
         "paragraphs": [_para(f"Code version: {code}. Champion model version: {info['champion'] or 'none'}. "
                              f"Period {data.start}..{data.end}.")]},
    ]
    figures: dict[str, Any] = {t.key: t.frame.to_dicts() for s in sections for t in s["tables"]}
    by_key = {t.key: t for s in sections for t in s["tables"]}
    exec_summary = executive.executive_summary(data, settings, by_key, tests, info["champion"])
    extra = {"tests": tests, "champion_version": info["champion"], "versions": info["versions"],
             "figures": figures, "executive": exec_summary}
    return sections, extra


def render_html(sections: list[dict[str, Any]], *, start: date, end: date, n_days: int, code: str,
                model_version: str, exec_summary: dict[str, Any] | None = None) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    return env.get_template("report.html.j2").render(
        title=TITLE, css=css, sections=sections, start=start.isoformat(), end=end.isoformat(), n_days=n_days,
        code_version=code, model_version=model_version, ex=exec_summary,
        ex_lines=executive.lines(exec_summary) if exec_summary else [])


@contextmanager
def _source_date(epoch_s: int) -> Iterator[None]:
    """``SOURCE_DATE_EPOCH`` (reproducible-builds.org) set for the block, restored after: fontTools
    stamps each embedded font subset with it instead of the wall clock."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch_s)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


#: elements a page must not end with (a heading or table title whose content is on the next page)
HEADINGS = ("h1", "h2", "h3", "h4", "caption")
MIN_TABLE_PT = 8.0


def layout(html: str) -> Any:
    """WeasyPrint's laid-out document of ``html`` (``.pages``, each with its ``_page_box`` tree)."""
    import weasyprint  # imported lazily: pango start-up is slow

    return weasyprint.HTML(string=html, base_url=str(TEMPLATES)).render()


def _text_boxes(box: Any, tags: tuple[str, ...], out: list[tuple[tuple[str, ...], str, float]]) -> None:
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.MarginBox):  # running page numbers
        return
    tag = getattr(box, "element_tag", None)
    if tag and (not tags or tags[-1] != tag):
        tags = (*tags, tag)
    if isinstance(box, boxes.TextBox):
        if box.text.strip():
            out.append((tags, box.text, float(box.style["font_size"]) * 0.75))  # CSS px -> pt
        return
    for child in getattr(box, "children", None) or ():
        _text_boxes(child, tags, out)


def layout_problems(document: Any) -> list[str]:
    """What a reader would trip on in the printed report, from the layout boxes: a page (but the last)
    whose last text is a heading or a table title (its table is on the next page), and table text set
    below ``MIN_TABLE_PT`` points. Empty when the layout is clean."""
    problems = []
    n = len(document.pages)
    for i, page in enumerate(document.pages, start=1):
        texts: list[tuple[tuple[str, ...], str, float]] = []
        _text_boxes(page._page_box, (), texts)
        if not texts:
            problems.append(f"page {i}: blank")
            continue
        tags, text, _ = texts[-1]
        if i < n and any(t in HEADINGS for t in tags):
            problems.append(f"page {i}: ends with a heading or table title {text.strip()[:60]!r}")
        small = [(t, pt) for tg, t, pt in texts if "table" in tg and pt < MIN_TABLE_PT - 1e-6]
        if small:
            problems.append(f"page {i}: table text at {min(pt for _, pt in small):.1f} pt "
                            f"(< {MIN_TABLE_PT:g} pt), e.g. {small[0][0].strip()[:30]!r}")
    return problems


def write_pdf(html: str, path: Path, as_of: date | None = None) -> Path:
    """PDF via WeasyPrint (system pango); no creation/modification date, a fixed identifier and font
    subsets stamped with ``as_of`` (00:00 UTC; default 1970-01-01) -> the same bytes on every run."""
    import weasyprint  # imported lazily: pango start-up is slow

    stamp = int(datetime.combine(as_of, time.min, tzinfo=UTC).timestamp()) if as_of else 0
    with _source_date(stamp):
        weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf(
            str(path), pdf_identifier=b"sor-best-execution", custom_metadata=False)
    return path


def build_report(start: date, end: date, lake: Lake, settings: Settings, out_dir: Path | None = None) -> ReportResult:
    """Write ``best_execution_<start>_<end>.html`` / ``.pdf`` and ``rule605_<start>_<end>.txt`` under
    ``out_dir`` (default ``settings.reports_dir``) for trading dates ``start..end`` inclusive."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    out = Path(out_dir) if out_dir is not None else settings.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{start.isoformat()}_{end.isoformat()}"
    data = load(lake, start, end)
    code = code_version(short=True)
    sections, extra = build_sections(data, lake, settings, code)
    model = extra["champion_version"] or "none registered"
    html = render_html(sections, start=start, end=end, n_days=len(data.days), code=code, model_version=model,
                       exec_summary=extra["executive"])
    html_path = out / f"best_execution_{stem}.html"
    html_path.write_text(html, encoding="utf-8")
    pdf_path = write_pdf(html, out / f"best_execution_{stem}.pdf", as_of=end)
    r605 = rule605.write_rule605(rule605.export_frame(data), out / f"rule605_{stem}.txt")
    summ: dict[str, Any] = {
        "start": start.isoformat(), "end": end.isoformat(), "days": [d.isoformat() for d in data.days],
        "html": str(html_path), "pdf": str(pdf_path), "rule605": str(r605), "code_version": code,
        "model_version": extra["champion_version"], "parent_orders": data.parents.height,
        "child_orders": data.children.height, "fills": data.fills.height,
        "partitions": [{"dataset": p.dataset, "date": p.day.isoformat(), "sha256": p.sha256}
                       for p in data.partitions],
        "tests": extra["tests"], "versions": extra["versions"], "tables": extra["figures"],
        "executive": extra["executive"],
    }
    index = write_index(out, summ)
    summ["index"] = str(index)
    return ReportResult(html=html_path, pdf=pdf_path, rule605=r605, summary=summ)


INDEX = "index.html"
META_SUFFIX = ".meta.json"


def write_index(out: Path, summ: dict[str, Any] | None = None) -> Path:
    """Write this report's ``best_execution_<start>_<end>.meta.json`` (period, verdict, volumes) and
    regenerate ``index.html`` in ``out``: every report there, newest period first, with links to its
    HTML and PDF. Reports without a meta file are listed with their period only."""
    import json

    if summ is not None:
        ex = summ["executive"]
        meta = {"start": summ["start"], "end": summ["end"], "trading_days": ex["trading_days"],
                "verdict": ex["verdict"], "parent_orders": ex["parent_orders"], "outside_nbbo": ex["outside_nbbo"],
                "model_changes": len(ex["model_changes"]), "html": Path(summ["html"]).name,
                "pdf": Path(summ["pdf"]).name}
        (out / f"best_execution_{summ['start']}_{summ['end']}{META_SUFFIX}").write_text(
            json.dumps(meta, sort_keys=True, indent=1), encoding="utf-8")
    rows = []
    for html in sorted(out.glob("best_execution_*_*.html")):
        stem = html.name.removesuffix(".html")
        start, _, end = stem.removeprefix("best_execution_").partition("_")
        meta_path = out / f"{stem}{META_SUFFIX}"
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        pdf = out / f"{stem}.pdf"
        rows.append({"start": start, "end": end, "days": meta.get("trading_days", ""),
                     "verdict": meta.get("verdict", "n/a"), "parents": meta.get("parent_orders", ""),
                     "outside": meta.get("outside_nbbo", ""), "changes": meta.get("model_changes", ""),
                     "html": html.name, "pdf": pdf.name if pdf.is_file() else None})
    rows.sort(key=lambda r: (r["end"], r["start"]), reverse=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    path = out / INDEX
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(env.get_template("index.html.j2").render(title=f"{TITLE}s", css=css, rows=rows), encoding="utf-8")
    os.replace(tmp, path)
    return path


NOT_APPLIED_CLASS = "not-applied"


def mark_not_applied(html_path: Path | str, pdf_path: Path | str, night: date, reason: str) -> None:
    """Stamp a written report "decision NOT APPLIED" (the night's alias move failed after the report stated
    the decision): a banner at the top of the HTML, and the PDF rendered again from it."""
    import html as html_lib

    path = Path(html_path)
    text = path.read_text(encoding="utf-8")
    if f'class="{NOT_APPLIED_CLASS}"' in text:
        return
    banner = (f'<div class="{NOT_APPLIED_CLASS}" style="border:3px solid #b00020;color:#b00020;padding:8pt;'
              f'margin:0 0 10pt 0;font-weight:bold">Decision of the night of {night.isoformat()} NOT APPLIED: '
              f'the champion alias did not move ({html_lib.escape(reason)}). What routes is what routed '
              f'before this night; re-run the night once the registry is reachable.</div>')
    marked = text.replace("<body>", "<body>" + banner, 1) if "<body>" in text else banner + text
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(marked, encoding="utf-8")
    os.replace(tmp, path)
    write_pdf(marked, Path(pdf_path), as_of=night)
