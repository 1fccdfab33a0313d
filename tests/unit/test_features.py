"""Features and labels: pandas reference agreement, hand-computed features, schema, trailing stats."""

from __future__ import annotations

import itertools
import math
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from schemas.features import FEATURE_COLUMNS, Features
from sor_pipeline.config.settings import Settings
from sor_pipeline.features import adv_before, build_features, decision_features, venue_stats_before, write_features
from sor_pipeline.storage.lake import Lake
from tests.conftest import ts_series, utc
from tests.fixtures_market import VENUES, make_day, write_day
from tests.reference_pandas import reference_labels

D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


@pytest.fixture(scope="module")
def lake3(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Three generated days in a lake, features of D1 and D2 written."""
    lake = Lake(tmp_path_factory.mktemp("lake"))
    for i, d in enumerate((D1, D2, D3)):
        write_day(lake, d, make_day(d, seed=i, n_symbols=4, n_parents=30))
    s = Settings(home=Path(lake.root))
    write_features(D1, lake, s)
    write_features(D2, lake, s)
    return lake


def test_labels_match_pandas_reference(lake3: Lake) -> None:
    feats = build_features(D3, lake3, Settings(home=lake3.root)).sort("child_id")
    ref = reference_labels(lake3.read_day("child_orders", D3), lake3.read_day("fills", D3), lake3.read_day("nbbo", D3))
    assert feats.height == len(ref) > 50
    for col in ["arrival_mid", "avg_fill_px", "fee_bps", "arrival_slippage_bps", "markout_1s_bps",
                "markout_5s_bps", "markout_30s_bps", "markout_60s_bps"]:
        got, want = feats[col].to_numpy().astype(float), ref[col].to_numpy().astype(float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), col
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-9, err_msg=col)
    assert feats["arrival_slippage_bps"].drop_nulls().len() > 30


def test_features_validate_and_cover_history(lake3: Lake) -> None:
    feats = build_features(D3, lake3, Settings(home=lake3.root))
    Features.validate(feats)
    assert feats.select(FEATURE_COLUMNS).dtypes == [pl.Float64] * len(FEATURE_COLUMNS)
    # with two earlier days in the lake every trailing feature is known
    assert feats["rel_size_adv"].null_count() == 0
    assert feats["venue_fill_rate_20d"].null_count() == 0
    first = build_features(D1, lake3, Settings(home=lake3.root))
    assert first["rel_size_adv"].null_count() == first.height
    assert first["venue_fill_rate_20d"].null_count() == first.height


def test_trailing_stats_use_only_earlier_days(lake3: Lake, tmp_path: Path) -> None:
    s = Settings(home=lake3.root)
    before = venue_stats_before(lake3, D3, 20)
    f1, f2 = lake3.read_day("features", D1), lake3.read_day("features", D2)
    both = pl.concat([f1, f2])
    drk = both.filter(pl.col("venue") == "DRK1")
    row = before.filter(pl.col("venue") == "DRK1").row(0, named=True)
    assert row["venue_fill_rate_20d"] == pytest.approx(drk["filled_qty"].sum() / drk["qty"].sum(), abs=1e-12)
    assert row["venue_slippage_bps_20d"] == pytest.approx(drk["arrival_slippage_bps"].mean(), abs=1e-9)
    # window 1 = only D2
    only2 = venue_stats_before(lake3, D3, 1).filter(pl.col("venue") == "DRK1").row(0, named=True)
    d2 = f2.filter(pl.col("venue") == "DRK1")
    assert only2["venue_markout_5s_bps_20d"] == pytest.approx(d2["markout_5s_bps"].mean(), abs=1e-9)
    # writing the day itself (and a later day) changes nothing for D3
    write_features(D3, lake3, s)
    assert venue_stats_before(lake3, D3, 20).equals(before)
    assert venue_stats_before(lake3, D1, 20).height == 0
    lake3.delete_partition("features", D3)
    adv = adv_before(lake3, D3, 20)
    t = pl.concat([lake3.read_day("trades", D1), lake3.read_day("trades", D2)])
    want = t.group_by("symbol").agg((pl.col("qty").sum() / 2).alias("adv")).sort("symbol")
    assert adv.equals(want.with_columns(pl.col("adv").cast(pl.Float64)))


# ------------------------------------------------------------------------------------------------
# hand-computed features on a tiny market
T = utc(2024, 3, 5, 15, 0, 0)  # 10:00 New York (EST): 30 min into a 390 min session


def tiny_market() -> tuple[pl.DataFrame, pl.DataFrame]:
    t = [utc(2024, 3, 5, 14, 54, 0), utc(2024, 3, 5, 14, 56, 0), utc(2024, 3, 5, 14, 58, 0),
         utc(2024, 3, 5, 15, 0, 0), utc(2024, 3, 5, 15, 0, 1)]
    bid = [9.99, 10.00, 10.01, 10.00, 50.0]
    ask = [10.01, 10.02, 10.03, 10.04, 50.2]
    nbbo = pl.DataFrame({"ts": ts_series(t), "symbol": ["AAA"] * 5, "bid_px": bid, "ask_px": ask,
                         "mid_px": [(b + a) / 2 for b, a in zip(bid, ask, strict=True)]})
    rows = []
    for venue, ts, bsz, asz in [("LITA", utc(2024, 3, 5, 14, 59, 0), 100, 300), ("LITB", utc(2024, 3, 5, 14, 59, 30),
                                200, 100), ("LITA", utc(2024, 3, 5, 15, 0, 0), 300, 300),
                                ("LITA", utc(2024, 3, 5, 15, 0, 2), 9999, 1)]:
        r: dict[str, object] = {"ts": ts, "symbol": "AAA", "venue": venue}
        for k in range(1, 6):
            r[f"bid_sz_{k}"], r[f"ask_sz_{k}"] = bsz, asz
        rows.append(r)
    depth = pl.DataFrame(rows).with_columns(pl.col("ts").cast(pl.Datetime("ns", "UTC")))
    return nbbo, depth


def request(side: str = "BUY", order_type: str = "LMT", limit_px: float | None = 10.03) -> pl.DataFrame:
    return pl.DataFrame({"request_id": ["R1"], "symbol": ["AAA"], "side": [side], "qty": [600],
                         "order_type": [order_type], "tif": ["IOC"], "limit_px": [limit_px], "urgency": ["HIGH"],
                         "decision_ts": ts_series([T])}, schema_overrides={"limit_px": pl.Float64})


def test_hand_computed_features() -> None:
    nbbo, depth = tiny_market()
    stats = pl.DataFrame({"venue": ["LITA"], "venue_fill_rate_20d": [0.5], "venue_time_to_fill_s_20d": [1.5],
                          "venue_markout_5s_bps_20d": [-1.0], "venue_markout_60s_bps_20d": [-2.0],
                          "venue_slippage_bps_20d": [3.0]})
    adv = pl.DataFrame({"symbol": ["AAA"], "adv": [60_000.0]})
    out = decision_features(request(), nbbo, depth, VENUES, stats, adv)
    assert out.height == VENUES.height and out["venue"].to_list() == VENUES["venue"].to_list()
    r = out.filter(pl.col("venue") == "LITA").row(0, named=True)
    mid = 10.02
    assert r["arrival_mid"] == pytest.approx(mid)
    assert r["spread_bps"] == pytest.approx(0.04 / mid * 1e4)
    assert r["limit_distance_bps"] == pytest.approx((10.03 - mid) / mid * 1e4)
    # consolidated: LITA's latest (15:00:00, 300/300 per level) + LITB (200/100 per level)
    bid5, ask5 = 5 * 500, 5 * 400
    assert r["imbalance_5"] == pytest.approx((bid5 - ask5) / (bid5 + ask5))
    assert r["size_vs_top3"] == pytest.approx(600 / (3 * 400))
    mids = [10.0, 10.01, 10.02, 10.02]  # 14:54 is 360 s back: only the returns after 14:55 count
    rv = sum(math.log(b / a) ** 2 for a, b in itertools.pairwise(mids))
    assert r["rvol_5m_bps"] == pytest.approx(math.sqrt(rv) * 1e4)
    assert r["time_of_day"] == pytest.approx(30 / 390)
    assert (r["side_sign"], r["is_mkt"], r["is_ioc"], r["urgency_code"]) == (1.0, 0.0, 1.0, 2.0)
    assert r["rel_size_adv"] == pytest.approx(0.01)
    assert r["venue_fill_rate_20d"] == 0.5 and r["venue_type"] == "LIT"
    assert out.filter(pl.col("venue") == "DRK1")["venue_fill_rate_20d"].is_null().all()
    sell = decision_features(request("SELL", "MKT", None), nbbo, depth, VENUES.head(1)).row(0, named=True)
    assert sell["side_sign"] == -1.0 and sell["is_mkt"] == 1.0 and sell["limit_distance_bps"] is None
    assert sell["size_vs_top3"] == pytest.approx(600 / (3 * 500))
    assert sell["rel_size_adv"] is None


def test_no_quotes_before_decision_gives_nulls() -> None:
    nbbo, depth = tiny_market()
    late = nbbo.with_columns(pl.col("ts").dt.offset_by("1h"))
    r = decision_features(request(), late, depth.head(0), VENUES.head(1)).row(0, named=True)
    assert r["arrival_mid"] is None and r["spread_bps"] is None and r["imbalance_5"] is None


# ------------------------------------------------------------------------------------------------
# the shared as-of index (one sort per day by symbol code and time)
def _naive_asof(qsym: np.ndarray, qts: np.ndarray, psym: np.ndarray, pts: np.ndarray) -> list[int | None]:
    """Row of the last quote at or before each probe for its symbol (the later row wins ties)."""
    out: list[int | None] = []
    for s, t in zip(psym, pts, strict=True):
        hits = [i for i in range(len(qts)) if qsym[i] == s and qts[i] <= t]
        out.append(max(hits, key=lambda i: (qts[i], i)) if hits else None)
    return out


@pytest.mark.parametrize("layout", ["any", "by_time", "by_symbol_time"])
def test_asof_index_matches_naive_lookup(layout: str) -> None:
    """Same answers whatever the row order: unsorted, a feed in time order (radix path) and the
    lake's nbbo layout, grouped by symbol in time order (no permutation at all)."""
    from sor_pipeline.features.asof import AsofIndex, group_time_order
    from sor_pipeline.features.market_state import code_of, symbol_codes

    rng = np.random.default_rng(3)
    qsym = rng.choice(["A", "B", "C"], 300)
    qts = rng.integers(0, 50, 300) * 1_000  # many ties
    if layout != "any":
        order = np.lexsort((qts, qsym)) if layout == "by_symbol_time" else np.argsort(qts, kind="stable")
        qsym, qts = qsym[order], qts[order]
    psym = rng.choice(["A", "B", "C", "Z"], 200)  # Z: never quoted
    pts = rng.integers(-5, 60, 200) * 1_000 + rng.integers(0, 2, 200)
    codes = symbol_codes(pl.Series(["A", "B", "C", "Z"]))
    ts = pl.Series(qts).cast(pl.Datetime("ns", "UTC"))
    code = code_of(pl.Series(qsym), codes)
    perm, _, _ = group_time_order(code.to_numpy(), qts, codes.height)
    assert (perm is None) == (layout == "by_symbol_time")
    values = pl.DataFrame({"row": range(300), "name": [f"r{i}" for i in range(300)],
                           "maybe": [None if i % 7 == 0 else float(i) for i in range(300)]})
    idx = AsofIndex(codes, ts, code, values)
    pcode, pts_ns = code_of(pl.Series(psym), codes), pl.Series(pts).cast(pl.Datetime("ns", "UTC"))
    (got,) = idx.lookup(pcode, pts_ns)
    want = _naive_asof(qsym, qts, psym, pts)
    assert got["row"].to_list() == want
    # non-numeric and nullable columns take the other gather path: same rows
    assert got["name"].to_list() == [None if r is None else f"r{r}" for r in want]
    assert got["maybe"].to_list() == [None if r is None or r % 7 == 0 else float(r) for r in want]
    # several offsets from one sort of the probes = one lookup per shifted probe time
    shifted = idx.lookup(pcode, pts_ns, ["row"], offsets_s=(-1e-6, 0.0, 7e-6))
    for frame, off_ns in zip(shifted, (-1_000, 0, 7_000), strict=True):
        assert frame["row"].to_list() == _naive_asof(qsym, qts, psym, pts + off_ns)


def test_shared_indexes_give_the_same_features_and_labels() -> None:
    from sor_pipeline.features import child_labels
    from sor_pipeline.features.build import child_requests
    from sor_pipeline.features.decision import market_indexes

    day = make_day(D2, n_symbols=3, n_nbbo=800, n_depth=200, n_parents=10, seed=4)
    req = child_requests(day["child_orders"].lazy(), day["parent_orders"].lazy()).collect()
    qi, di = market_indexes(req, day["nbbo"], day["depth"])
    a = decision_features(req, day["nbbo"], day["depth"], day["venues"])
    b = decision_features(req, qi, di, day["venues"])
    assert a.equals(b)
    kids = a.select(pl.col("request_id").alias("child_id"), "symbol", "side", "qty",
                    pl.col("decision_ts").alias("sent_ts"), "arrival_mid")
    la = child_labels(kids, day["fills"], day["nbbo"], [1.0, 5.0]).collect().sort("child_id")
    lb = child_labels(kids, day["fills"], qi, [1.0, 5.0]).collect().sort("child_id")
    assert la.equals(lb)


def test_features_do_not_depend_on_the_partition_row_order(tmp_path: Path) -> None:
    """The lake's (symbol, ts) order is a speed-up, not a contract the build relies on: a partition
    written by an older version (time order) or by another engine (any order) gives the same features."""
    day = make_day(D2, n_symbols=3, n_nbbo=900, n_depth=300, n_parents=12, seed=8)
    sorted_lake = Lake(tmp_path / "sorted")
    write_day(sorted_lake, D2, day)
    want = build_features(D2, sorted_lake, Settings(home=tmp_path / "sorted"))
    for order in ("time", "shuffled"):
        other = Lake(tmp_path / order)
        write_day(other, D2, day)
        for name in ("nbbo", "depth"):
            frame = day[name].sort("ts", maintain_order=True) if order == "time" else day[name].sample(
                fraction=1.0, shuffle=True, seed=5)
            path = other.files(name, [D2])[0]
            frame.write_parquet(path)  # bypass the lake's ordering, as a foreign writer would
        got = build_features(D2, other, Settings(home=tmp_path / order))
        assert got.equals(want), order


def test_consolidated_book_matches_naive_sum_over_venues() -> None:
    """At any probe time: per venue its latest snapshot at or before it (later row wins a tie), summed
    over the venues that have one; null before the first snapshot of any venue."""
    from sor_pipeline.features.market_state import code_of, depth_state, symbol_codes

    rng = np.random.default_rng(11)
    n = 400
    sym = rng.choice(["A", "B"], n)
    venue = rng.choice(["LITA", "LITB", "ECNM"], n)
    ts = rng.integers(0, 60, n) * 1_000  # ties within and across venues
    sizes = {f"{s}_sz_{k}": rng.integers(1, 9, n) * 100 for s in ("bid", "ask") for k in range(1, 6)}
    depth = pl.DataFrame({"ts": pl.Series(ts).cast(pl.Datetime("ns", "UTC")), "symbol": sym, "venue": venue, **sizes})
    codes = symbol_codes(pl.Series(["A", "B", "C"]))
    book = depth_state(depth, codes)
    psym = rng.choice(["A", "B", "C"], 150)
    pts = rng.integers(-2, 65, 150) * 1_000
    (got,) = book.lookup(code_of(pl.Series(psym), codes), pl.Series(pts).cast(pl.Datetime("ns", "UTC")))
    for i, (s, t) in enumerate(zip(psym, pts, strict=True)):
        latest = {}
        for j in range(n):  # input order: a later row at the same ts replaces an earlier one
            if sym[j] == s and ts[j] <= t and (venue[j] not in latest or ts[j] >= ts[latest[venue[j]]]):
                latest[venue[j]] = j
        row = got.row(i, named=True)
        if not latest:
            assert row["bid_sz_5"] is None and row["ask_sz_3"] is None
            continue
        want5 = sum(sum(int(sizes[f"bid_sz_{k}"][j]) for k in range(1, 6)) for j in latest.values())
        want3 = sum(sum(int(sizes[f"ask_sz_{k}"][j]) for k in range(1, 4)) for j in latest.values())
        assert (row["bid_sz_5"], row["ask_sz_3"]) == (want5, want3), (s, t)
