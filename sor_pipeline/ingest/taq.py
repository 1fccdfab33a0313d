"""TAQ-layout trade and quote CSVs -> ``trades`` and ``quotes`` (one venue per exchange code).

Quotes: ``DT_ET, DT_EPOCH_S, EX, BID, BIDSIZ, OFR, OFRSIZ, SYMBOL``; trades: ``DT_ET, DT_EPOCH_S,
EX, SYMBOL, COND, SIZE, PRICE, CORR``. ``ts`` comes from ``DT_EPOCH_S`` (UTC epoch seconds as
decimal text, read exactly to the ns); the trading date is the date part of ``DT_ET`` (New York),
so a vendor file spanning several days is sliced to the requested date. Quote sizes are round
lots: shares = lots x 100. A quote with a zero (or negative) bid or offer is flagged ``ZERO``; a
crossed one (bid > offer) ``CROSSED``. A corrected trade (``CORR`` != 0) is rejected with its
reason and raw line. ``EX`` codes map to MIC-like venue codes (:data:`EXCHANGE_VENUES`; an unknown
code is kept as is).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from schemas._types import TS_NS_UTC
from sor_pipeline.ingest.base import AdapterResult, FormatError, make_rejects
from sor_pipeline.ingest.lobster import seconds_text_to_ns
from sor_pipeline.storage.validation import (
    PARSE_FAILURES,
    RAW_ROW,
    SOURCE_FILE,
    SOURCE_LINE,
    encode_parse_failure,
)

ROUND_LOT = 100
QUOTE_COLUMNS = {"DT_ET", "DT_EPOCH_S", "EX", "BID", "BIDSIZ", "OFR", "OFRSIZ", "SYMBOL"}
TRADE_COLUMNS = {"DT_ET", "DT_EPOCH_S", "EX", "SYMBOL", "COND", "SIZE", "PRICE", "CORR"}
#: TAQ exchange code -> venue code.
EXCHANGE_VENUES = {
    "A": "XASE",  # NYSE American
    "B": "XBOS",  # Nasdaq BX
    "C": "XCIS",  # NYSE National
    "D": "XADF",  # FINRA ADF / TRF (off-exchange)
    "H": "MPRL",  # MIAX Pearl
    "I": "XISX",  # ISE
    "J": "EDGA",  # Cboe EDGA
    "K": "EDGX",  # Cboe EDGX
    "L": "LTSE",  # Long-Term Stock Exchange
    "M": "XCHI",  # NYSE Chicago
    "N": "XNYS",  # NYSE
    "P": "ARCX",  # NYSE Arca
    "Q": "XNAS",  # Nasdaq
    "T": "XNAS",  # Nasdaq (older code)
    "V": "IEXG",  # IEX
    "W": "XCBO",  # CBSX
    "X": "XPHL",  # Nasdaq PSX
    "Y": "BATY",  # Cboe BYX
    "Z": "BATS",  # Cboe BZX
}


def taq_kind(columns: list[str] | set[str]) -> str | None:
    """``"quotes"``, ``"trades"`` or None from a CSV header."""
    have = set(columns)
    if have >= QUOTE_COLUMNS:
        return "quotes"
    if have >= TRADE_COLUMNS:
        return "trades"
    return None


def _read(path: Path, day: date | None, need: set[str]) -> pl.DataFrame:
    raw = pl.read_csv(path, infer_schema=False)
    missing = need - set(raw.columns)
    if missing:
        raise FormatError(f"{path}: TAQ file lacks column(s) {sorted(missing)}")
    line_text = pl.concat_str([pl.col(c).fill_null("") for c in raw.columns], separator=",")
    out = raw.with_columns(
        pl.lit(str(path)).alias(SOURCE_FILE),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias(SOURCE_LINE),
        line_text.alias("__raw"),
    )
    if day is not None:
        out = out.filter(pl.col("DT_ET").str.slice(0, 10) == day.isoformat())
    return out.with_columns(
        seconds_text_to_ns("DT_EPOCH_S", strict=False).cast(TS_NS_UTC).alias("ts"),
        pl.col("EX").str.strip_chars().replace_strict(EXCHANGE_VENUES, default=pl.col("EX").str.strip_chars())
        .alias("venue"),
        pl.col("SYMBOL").str.strip_chars().alias("symbol"),
    )


def _parse_failures(sources: dict[str, tuple[str, pl.DataType]]) -> list[pl.Expr]:
    """``_parse_failures``/``_raw_row`` for TAQ rows where a source field did not parse (canonical
    column <- TAQ field), so the quarantine keeps the original text."""
    lost = [pl.when(pl.col(src).is_not_null() & (pl.col(src).str.strip_chars() != "")
                    & pl.col(src).str.strip_chars().cast(dtype, strict=False).is_null())
            .then(encode_parse_failure(col, f"parse({dtype})", pl.col(src))) for col, (src, dtype) in sources.items()]
    failures = pl.concat_str(lost, separator="\x1e", ignore_nulls=True)
    failures = pl.when(failures.str.len_chars() > 0).then(failures)
    return [failures.alias(PARSE_FAILURES), pl.when(failures.is_not_null()).then(pl.col("__raw")).alias(RAW_ROW)]


def read_taq_quotes(path: Path, day: date | None = None) -> AdapterResult:
    """TAQ quotes for ``day`` (None = every row) -> canonical ``quotes`` (sizes in shares, flags)."""
    path = Path(path)
    q = _read(path, day, QUOTE_COLUMNS)
    bid, ask = pl.col("BID").cast(pl.Float64, strict=False), pl.col("OFR").cast(pl.Float64, strict=False)
    quotes = q.select(
        "ts", "symbol", "venue", bid.alias("bid_px"),
        (pl.col("BIDSIZ").cast(pl.Int64, strict=False) * ROUND_LOT).alias("bid_sz"),
        ask.alias("ask_px"), (pl.col("OFRSIZ").cast(pl.Int64, strict=False) * ROUND_LOT).alias("ask_sz"),
        pl.when((bid <= 0) | (ask <= 0)).then(pl.lit("ZERO"))
        .when(bid > ask).then(pl.lit("CROSSED")).otherwise(None).alias("flag"),
        SOURCE_FILE, SOURCE_LINE,
        *_parse_failures({"ts": ("DT_EPOCH_S", pl.Float64()), "bid_px": ("BID", pl.Float64()),
                          "bid_sz": ("BIDSIZ", pl.Int64()), "ask_px": ("OFR", pl.Float64()),
                          "ask_sz": ("OFRSIZ", pl.Int64())}),
    )
    return AdapterResult(tables={"quotes": quotes}, files=[{"path": str(path), "format": "taq-quotes",
                                                            "tables": ["quotes"], "rows": {"quotes": quotes.height}}])


def read_taq_trades(path: Path, day: date | None = None) -> AdapterResult:
    """TAQ trades for ``day`` (None = every row) -> canonical ``trades``; corrected trades rejected."""
    path = Path(path)
    t = _read(path, day, TRADE_COLUMNS)
    corrected = pl.col("CORR").str.strip_chars().fill_null("0").cast(pl.Int64, strict=False).fill_null(-1) != 0
    bad = t.filter(corrected)
    rejects = bad.select(
        pl.lit("trades").alias("table"), pl.col(SOURCE_FILE).alias("source_file"),
        pl.col(SOURCE_LINE).alias("source_line"), pl.lit("taq corrected trade").alias("checks"),
        pl.format("{}:{}: corrected trade (CORR={}) is not a valid print", pl.col(SOURCE_FILE), pl.col(SOURCE_LINE),
                  pl.col("CORR")).alias("reason"),
        pl.col("__raw").alias("row_json"),
    )
    cond = pl.col("COND").str.strip_chars()
    trades = t.filter(~corrected).select(
        "ts", "symbol", "venue", pl.col("PRICE").cast(pl.Float64, strict=False).alias("px"),
        pl.col("SIZE").cast(pl.Int64, strict=False).alias("qty"),
        pl.when(cond == "").then(None).otherwise(cond).alias("cond"),
        SOURCE_FILE, SOURCE_LINE,
        *_parse_failures({"ts": ("DT_EPOCH_S", pl.Float64()), "px": ("PRICE", pl.Float64()),
                          "qty": ("SIZE", pl.Int64())}),
    )
    return AdapterResult(tables={"trades": trades}, rejects=make_rejects(rejects.to_dicts()),
                         files=[{"path": str(path), "format": "taq-trades", "tables": ["trades"],
                                 "rows": {"trades": trades.height, "rejected": rejects.height}}])
