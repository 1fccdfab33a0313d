"""Data-feed checks: each fires on a drop broken for it and stays quiet on a clean sample."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from sor_pipeline.config.settings import Settings
from sor_pipeline.monitoring import MonitorSettings, compute_results, has_errors
from sor_pipeline.monitoring.feed import feed_checks
from sor_pipeline.monitoring.schema import results_frame
from sor_pipeline.storage.lake import Lake
from tests.unit.test_monitor_fixtures import DAY, et, fills, nbbo, quotes, write_feed_days

TZ = "America/New_York"


@pytest.fixture(scope="module")
def clean_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("monitor_feed") / "lake"
    write_feed_days(Lake(root))
    return root


@pytest.fixture()
def lake(clean_root: Path, tmp_path: Path) -> Lake:
    """A private copy of the clean five-day lake."""
    root = tmp_path / "lake"
    shutil.copytree(clean_root, root)
    return Lake(root)


def run_feed(lake: Lake, cfg: MonitorSettings | None = None) -> pl.DataFrame:
    return results_frame(DAY, feed_checks(DAY, lake, TZ, cfg or MonitorSettings()))


def breaches(results: pl.DataFrame) -> pl.DataFrame:
    return results.filter(~pl.col("passed"))


def test_clean_sample_is_quiet(lake: Lake) -> None:
    res = run_feed(lake)
    assert breaches(res).height == 0, breaches(res)
    checks = set(res["check"])
    assert {"missing_table", "row_count", "missing_venue", "quote_gap", "bad_quotes", "nbbo_crossed",
            "fills_without_quotes"} <= checks
    assert not has_errors(res)
    # row counts have a verdict (4 trailing days >= min history): ratio 1.0
    assert res.filter(pl.col("check") == "row_count")["value"].to_list() == pytest.approx([1.0] * 7)


def test_missing_venue_fires(lake: Lake) -> None:
    lake.write("quotes", quotes(DAY).filter(pl.col("venue") != "LITB"), DAY)
    b = breaches(run_feed(lake))
    hit = b.filter(pl.col("check") == "missing_venue")
    assert hit["venue"].to_list() == ["LITB"]
    assert hit["severity"].to_list() == ["error"]
    assert "quotes" in hit["message"][0]
    assert has_errors(b)


def test_a_quoting_venue_the_router_sent_nothing_is_no_gap_a_silent_dark_pool_warns(lake: Lake) -> None:
    children = lake.read("child_orders", [DAY]).collect()
    routed = set(children["venue"].to_list())
    lit = next(v for v in ("LITB", "LITA", "ECNM", "ECNI") if v in routed)
    lake.write("child_orders", children.filter(pl.col("venue") != lit), DAY)
    assert breaches(run_feed(lake)).filter(pl.col("check") == "missing_venue").height == 0  # it still quotes
    dark = next((v for v in sorted(routed) if v.startswith("DRK")), None)
    if dark is not None:
        lake.write("child_orders", children.filter(pl.col("venue") != dark), DAY)
        hit = breaches(run_feed(lake)).filter(pl.col("check") == "missing_venue")
        assert hit["venue"].to_list() == [dark] and "child_orders" in hit["message"][0]
        assert hit["severity"].to_list() == ["warn"]  # the router may have learned to avoid it: no stop


def test_ten_minute_quote_gap_fires(lake: Lake) -> None:
    q = quotes(DAY)
    hole = (pl.col("symbol") == "AAA") & (pl.col("venue") == "LITA") & pl.col("ts").is_between(
        pl.lit(et(DAY, 11, 0)).cast(pl.Datetime("ns", "UTC")), pl.lit(et(DAY, 11, 10)).cast(pl.Datetime("ns", "UTC")))
    lake.write("quotes", q.filter(~hole), DAY)
    res = run_feed(lake)
    hit = breaches(res).filter(pl.col("check") == "quote_gap")
    assert hit.select("symbol", "venue").rows() == [("AAA", "LITA")]
    assert hit["value"][0] == pytest.approx(720.0)  # 10:59 -> 11:11 ET, seconds
    # calibrated on the trailing days: 2 x the median longest daily gap (quotes every 60 s)
    assert hit["threshold"][0] == 120.0 and hit["severity"][0] == "warn"
    assert "reference days" in hit["message"][0]
    assert "10:59:00" in hit["message"][0]


def test_crossed_quotes_and_nbbo_fire(lake: Lake) -> None:
    q = quotes(DAY).with_row_index()
    bad = (pl.col("venue") == "ECNM") & (pl.col("index") % 10 == 0)
    q = q.with_columns(pl.when(bad).then(100.05).otherwise(pl.col("bid_px")).alias("bid_px"),
                       pl.when(bad).then(pl.lit("CROSSED")).otherwise(pl.col("flag")).alias("flag")).drop("index")
    lake.write("quotes", q, DAY)
    n = nbbo(DAY).with_row_index()
    crossed = pl.col("index") % 3 == 0
    n = n.with_columns(pl.when(crossed).then(100.05).otherwise(pl.col("bid_px")).alias("bid_px"),
                       pl.when(crossed).then(pl.lit("CROSSED")).otherwise(pl.col("flag")).alias("flag")).drop("index")
    lake.write("nbbo", n, DAY)
    b = breaches(run_feed(lake))
    bq = b.filter(pl.col("check") == "bad_quotes")
    assert bq["venue"].to_list() == ["ECNM"] and bq["severity"][0] == "warn"
    assert bq["value"][0] == pytest.approx(0.1, abs=0.01)
    nb = b.filter(pl.col("check") == "nbbo_crossed")
    assert nb["severity"][0] == "error" and nb["value"][0] == pytest.approx(1 / 3, abs=0.01)


def test_fills_without_quotes_fire(lake: Lake) -> None:
    late_open = pl.lit(et(DAY, 12, 0)).cast(pl.Datetime("ns", "UTC"))
    lake.write("nbbo", nbbo(DAY).filter((pl.col("symbol") == "AAA") | (pl.col("ts") >= late_open)), DAY)
    hit = breaches(run_feed(lake)).filter(pl.col("check") == "fills_without_quotes")
    # BBB children (odd parents) went to LITA/LITB and filled at 10:xx, before BBB's first NBBO at noon
    assert hit["venue"].to_list() == ["LITA", "LITB"]
    assert (hit["severity"] == "error").all()
    assert hit["value"].to_list() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize(("keep", "severity"), [(3, "error"), (12, "warn"), (80, "warn")])
def test_row_count_far_from_trailing_median(lake: Lake, keep: int, severity: str) -> None:
    f = fills(DAY)
    f = f.head(keep) if keep <= f.height else pl.concat(
        [f.with_columns(pl.lit(k).alias("k")) for k in range(3)]).with_columns(
        (pl.col("exec_id") + "-" + pl.col("k").cast(pl.String)).alias("exec_id")).drop("k").head(keep)
    lake.write("fills", f, DAY)
    hit = breaches(run_feed(lake)).filter(pl.col("check") == "row_count")
    assert hit["subject"].to_list() == ["fills"]
    assert hit["severity"][0] == severity
    assert hit["value"][0] == pytest.approx(keep / 30)


@pytest.mark.parametrize(("table", "severity"), [("fills", "error"), ("nbbo", "error"), ("trades", "warn")])
def test_missing_table_fires(lake: Lake, table: str, severity: str) -> None:
    lake.delete_partition(table, DAY)
    res = run_feed(lake)
    hit = breaches(res).filter(pl.col("check") == "missing_table")
    assert hit["subject"].to_list() == [table] and hit["severity"][0] == severity
    assert has_errors(res) is (severity == "error")


def test_severity_override_and_crash_guard(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.delete_partition("trades", DAY)
    settings = Settings(home=lake.root.parent)
    cfg = MonitorSettings(severity_overrides={"missing_table": "error"})
    res = compute_results(DAY, lake, settings, cfg)
    assert has_errors(res)

    boom: Callable[..., object] = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))  # noqa: E731
    monkeypatch.setattr("sor_pipeline.monitoring.run.feed_checks", boom)
    res = compute_results(DAY, lake, settings, MonitorSettings())
    row = res.filter(pl.col("check") == "feed_checks")
    assert row["severity"].to_list() == ["error"] and "boom" in row["message"][0]


def test_monitor_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOR_MONITOR_QUOTE_GAP_S", "120")
    monkeypatch.setenv("SOR_MONITOR_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    cfg = Settings().monitor
    assert cfg.quote_gap_s == 120.0 and cfg.alert_webhook_url == "http://127.0.0.1:9/hook"
    assert cfg.psi_warn == 0.1 and cfg.psi_error == 0.25 and cfg.drift_severe_severity == "warn"


def test_quote_gaps_one_pass_equals_the_sorted_reference_whatever_the_stored_order() -> None:
    """The one-pass gaps (pairs taken in stored order) equal the sort-based reference: edges, equal gaps
    (the earliest wins), a single-quote pair, and a pair stored out of time order (redone by the sort)."""
    from datetime import UTC, datetime, timedelta

    from sor_pipeline.monitoring.feed import _sorted_gaps, quote_gaps

    start, end = datetime(2024, 3, 15, 13, 30, tzinfo=UTC), datetime(2024, 3, 15, 20, 0, tzinfo=UTC)
    at = [start + timedelta(minutes=m) for m in (10, 130, 250, 370)]  # gaps 600, 7200, 7200, 7200, 1200 s
    rows = ([("AAA", "LITA", t) for t in at] + [("AAA", "ECNM", at[1])]
            + [("BBB", "LITA", t) for t in reversed(at)]  # stored backwards
            + [("CCC", "LITA", start - timedelta(minutes=1))])  # outside the session: no row
    q = pl.DataFrame(rows, schema={"symbol": pl.String, "venue": pl.String, "ts": pl.Datetime("ns", "UTC")},
                     orient="row")
    for edges in (True, False):
        got = quote_gaps(q.lazy(), start, end, include_edges=edges)
        s, e = pl.lit(start).cast(pl.Datetime("ns", "UTC")), pl.lit(end).cast(pl.Datetime("ns", "UTC"))
        ref = _sorted_gaps(q.lazy().filter(pl.col("ts").is_between(s, e)), s, e, edges).sort("venue", "symbol")
        assert got.to_dicts() == ref.to_dicts()
        lita = got.filter(pl.col("venue") == "LITA")
        assert lita["symbol"].to_list() == ["AAA", "BBB"]
        assert lita["max_gap_s"].to_list() == [7_200.0, 7_200.0]  # three equal gaps: the earliest is named
        assert lita["gap_start"].to_list() == [at[0], at[0]]
    with_edges = quote_gaps(q.lazy(), start, end).filter(pl.col("venue") == "ECNM")
    assert with_edges.rows() == [("AAA", "ECNM", 15_600.0, at[1])]  # a single quote: its gap to the close
    assert quote_gaps(q.lazy(), start, end, include_edges=False).filter(pl.col("venue") == "ECNM").height == 0
