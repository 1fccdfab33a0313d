"""LOBSTER message + orderbook file pairs -> ``quotes``, ``depth`` and ``trades`` for venue XNAS.

File names: ``<SYMBOL>_<YYYY-MM-DD>_<start>_<end>_{message,orderbook}_<N>.csv`` (no header).
Message columns: time (seconds after midnight America/New_York on the file's date, to the ns),
event type (1 new, 2 partial cancel, 3 delete, 4 visible execution, 5 hidden execution, 7 halt),
order id, size (shares), price (dollars x 10000), direction (1 buy, -1 sell: the resting side).
Orderbook row i (the book after message i): for each level 1..N ask px, ask size, bid px, bid size;
an empty level is price ±9999999999 with size 0 and becomes null (price and size).

Output (timestamps UTC ns, prices = raw / 10000, sizes shares):

* ``depth``: levels 1..5 (10-level files keep the first 5; fewer levels leave the rest null), one
  row per distinct timestamp (the book after the last message at that time), only when the 5-level
  book changed. ``_source_file``/``_source_line``: the orderbook file and its line.
* ``quotes``: level 1, same rule on the top of book; an empty side gives px 0, size 0, flag EMPTY;
  bid > ask gives flag CROSSED.
* ``trades``: one row per execution message (types 4 and 5). The aggressor is the opposite of the
  direction field; it is kept in ``cond`` as ``VISIBLE/<aggressor>`` or ``HIDDEN/<aggressor>``
  (e.g. ``VISIBLE/SELL``: a sell order hit a resting buy). Lineage: the message file and line.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from schemas._types import TS_NS_UTC
from schemas.market import DEPTH_LEVELS
from sor_pipeline.ingest.base import AdapterResult, FormatError, canonical_columns, with_source

VENUE = "XNAS"
MARKET_TZ = "America/New_York"
EMPTY_PRICE = 9_999_999_999
#: Prices are dollars x 10000; divided then rounded to 4 decimals (polars divides by a reciprocal).
PRICE_SCALE = 10_000.0
NAME_RE = re.compile(
    r"^(?P<symbol>[^_]+)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_(?P<kind>message|orderbook)_"
    r"(?P<levels>\d+)\.csv$"
)
MESSAGE_COLUMNS = ["time", "event", "order_id", "size", "price", "direction"]


def parse_name(path: Path) -> dict[str, str] | None:
    """Symbol, date, start, end, kind (message/orderbook) and levels from a LOBSTER file name."""
    m = NAME_RE.match(Path(path).name)
    return m.groupdict() if m else None


def partner_path(path: Path) -> Path:
    """The orderbook file of a message file and vice versa."""
    name = Path(path).name
    if "_message_" in name:
        return Path(path).with_name(name.replace("_message_", "_orderbook_"))
    other = name.replace("_orderbook_", "_message_")
    return Path(path).with_name(other)


def midnight_utc_ns(day: date, tz: str = MARKET_TZ) -> int:
    """UTC ns of local midnight on ``day`` with the offset in force at noon (the session's offset)."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo(tz))
    offset = noon.utcoffset()
    assert offset is not None
    days = (day - date(1970, 1, 1)).days
    return (days * 86_400 - int(offset.total_seconds())) * 1_000_000_000


def seconds_text_to_ns(col: str, strict: bool = True) -> pl.Expr:
    """Decimal seconds as text (``34200.015105074``) -> int64 ns, exactly (no float rounding); with
    ``strict=False`` text that is not a number gives null instead of an error."""
    parts = pl.col(col).str.strip_chars().str.split_exact(".", 1)
    whole = parts.struct.field("field_0").cast(pl.Int64, strict=strict)
    frac = parts.struct.field("field_1").fill_null("").str.slice(0, 9).str.pad_end(9, "0").cast(pl.Int64,
                                                                                               strict=strict)
    return whole * 1_000_000_000 + frac


def _level_exprs(levels: int) -> list[pl.Expr]:
    out = []
    for k in range(1, DEPTH_LEVELS + 1):
        for side in ("bid", "ask"):
            px, sz = f"{side}_px_{k}", f"{side}_sz_{k}"
            if k <= levels:
                empty = pl.col(px).abs() >= EMPTY_PRICE
                price = (pl.col(px) / PRICE_SCALE).round(4)
                out.append(pl.when(empty).then(None).otherwise(price).cast(pl.Float64).alias(px))
                out.append(pl.when(empty).then(None).otherwise(pl.col(sz)).cast(pl.Int64).alias(sz))
            else:
                out += [pl.lit(None, dtype=pl.Float64).alias(px), pl.lit(None, dtype=pl.Int64).alias(sz)]
    return out


def _changed(frame: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Last row per timestamp, then only rows where ``cols`` differ from the previous kept row."""
    last = frame.filter(pl.col("ts") != pl.col("ts").shift(-1).fill_null(-1))
    diff = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1)) for c in cols])
    return last.filter(diff.fill_null(True) | (pl.int_range(pl.len()) == 0))


def read_lobster(message_path: Path, orderbook_path: Path | None = None, *, symbol: str | None = None,
                 day: date | None = None, venue: str = VENUE) -> AdapterResult:
    """Read one LOBSTER pair; symbol, date and levels come from the file name unless given."""
    message_path = Path(message_path)
    orderbook_path = Path(orderbook_path) if orderbook_path else partner_path(message_path)
    meta = parse_name(message_path) or {}
    symbol = symbol or meta.get("symbol")
    day = day or (date.fromisoformat(meta["date"]) if "date" in meta else None)
    if symbol is None or day is None:
        raise FormatError(f"{message_path}: cannot tell symbol and date from the name; pass symbol= and day=")
    if not orderbook_path.is_file():
        raise FormatError(f"{message_path}: LOBSTER message file without its orderbook file {orderbook_path.name}")
    msg = pl.read_csv(message_path, has_header=False, new_columns=MESSAGE_COLUMNS,
                      schema_overrides={"time": pl.Utf8}, columns=list(range(6)))
    ob_width = len(pl.read_csv(orderbook_path, has_header=False, n_rows=1).columns)
    if ob_width % 4:
        raise FormatError(f"{orderbook_path}: {ob_width} columns is not 4 x levels")
    levels = ob_width // 4
    names = [f"{k}_{lv}" for lv in range(1, levels + 1) for k in ("ask_px", "ask_sz", "bid_px", "bid_sz")]
    ob = pl.read_csv(orderbook_path, has_header=False, new_columns=names, schema={n: pl.Int64 for n in names})
    if ob.height != msg.height:
        raise FormatError(f"{orderbook_path}: {ob.height} rows but {msg.height} messages in {message_path.name}")
    base = midnight_utc_ns(day)
    ts_ns = msg.select((seconds_text_to_ns("time") + base).alias("ts")).get_column("ts")
    keys = [pl.lit(symbol).alias("symbol"), pl.lit(venue).alias("venue")]

    book = ob.with_columns(ts_ns).select("ts", *keys, *_level_exprs(levels))
    book = with_source(book, orderbook_path)
    depth_cols = list(canonical_columns("depth"))
    depth = _changed(book, depth_cols[3:]).with_columns(pl.col("ts").cast(TS_NS_UTC)).select(
        *depth_cols, "_source_file", "_source_line")

    bid_ok, ask_ok = pl.col("bid_px_1").is_not_null(), pl.col("ask_px_1").is_not_null()
    top = book.select(
        "ts", "symbol", "venue",
        pl.col("bid_px_1").fill_null(0.0).alias("bid_px"), pl.col("bid_sz_1").fill_null(0).alias("bid_sz"),
        pl.col("ask_px_1").fill_null(0.0).alias("ask_px"), pl.col("ask_sz_1").fill_null(0).alias("ask_sz"),
        pl.when(~bid_ok | ~ask_ok).then(pl.lit("EMPTY"))
        .when(pl.col("bid_px_1") > pl.col("ask_px_1")).then(pl.lit("CROSSED")).otherwise(None).alias("flag"),
        "_source_file", "_source_line",
    )
    quotes = _changed(top, ["bid_px", "bid_sz", "ask_px", "ask_sz"]).with_columns(pl.col("ts").cast(TS_NS_UTC))

    execs = with_source(msg.with_columns(ts_ns), message_path).filter(pl.col("event").is_in([4, 5]))
    trades = execs.select(
        pl.col("ts").cast(TS_NS_UTC), *keys, (pl.col("price") / PRICE_SCALE).round(4).alias("px"),
        pl.col("size").cast(pl.Int64).alias("qty"),
        pl.concat_str(pl.when(pl.col("event") == 4).then(pl.lit("VISIBLE")).otherwise(pl.lit("HIDDEN")),
                      pl.when(pl.col("direction") == 1).then(pl.lit("SELL")).otherwise(pl.lit("BUY")),
                      separator="/").alias("cond"),
        "_source_file", "_source_line",
    )
    tables = {"quotes": quotes, "depth": depth, "trades": trades}
    files = [{"path": str(message_path), "format": "lobster-message", "tables": ["trades"],
              "rows": {"trades": trades.height, "messages": msg.height}},
             {"path": str(orderbook_path), "format": "lobster-orderbook", "tables": ["quotes", "depth"],
              "rows": {"quotes": quotes.height, "depth": depth.height, "levels": levels}}]
    return AdapterResult(tables=tables, files=files)
