"""The simulator's format writers: raw drops in the production formats the ingest readers take back.

Each writer is the inverse of a reader in :mod:`sor_pipeline.ingest` (execution log CSV/JSONL, FIX
tag=value, canonical tick Parquet/CSV); the round trip is tested. They live with the simulator,
not beside the readers, because only the simulator (and tests) produce raw drops.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from sor_pipeline.ingest import fix_codec as fx
from sor_pipeline.ingest.base import EXECLOG_TABLES, TICK_TABLES, canonical_columns, match_table, to_text_frame
from sor_pipeline.ingest.ticks import canonical_frame

ExeclogFormat = Literal["csv", "jsonl"]


def write_execlog(tables: dict[str, pl.DataFrame], day_dir: Path, fmt: ExeclogFormat) -> list[Path]:
    """Write each execution-log table of ``tables`` to ``day_dir/<table>.<csv|jsonl>``; returns the paths.

    Tables other than parent_orders/child_orders/fills/venues are ignored (ticks go through ticks.py).
    """
    day_dir = Path(day_dir)
    day_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for table in EXECLOG_TABLES:
        if table not in tables:
            continue
        text = to_text_frame(tables[table], table)
        path = day_dir / f"{table}.{'csv' if fmt == 'csv' else 'jsonl'}"
        if fmt == "csv":
            text.write_csv(path)
        elif fmt == "jsonl":
            text.write_ndjson(path)
        else:
            raise ValueError(f"unknown execution-log format {fmt!r}")
        paths.append(path)
    return paths


TickFormat = Literal["parquet", "csv"]


def _table_of(name: str, frame: pl.DataFrame) -> str:
    if name in TICK_TABLES:
        return name
    table = match_table(frame.columns, TICK_TABLES)
    if table is None:
        raise ValueError(f"{name}: columns {frame.columns} are not a tick table ({', '.join(TICK_TABLES)})")
    return table



def tick_path(day_dir: Path, name: str, fmt: TickFormat) -> Path:
    return Path(day_dir) / f"{name}.{'parquet' if fmt == 'parquet' else 'csv'}"


def write_ticks(name: str, frame: pl.DataFrame, day_dir: Path, fmt: TickFormat) -> Path:
    """Write one tick table (``name`` = quotes/depth/trades, or any name whose columns are one) to
    ``day_dir/<name>.<parquet|csv>``; returns the path."""
    with TickWriter(day_dir, name, fmt) as w:
        w.write(frame)
    return w.path


class TickWriter:
    """Streaming writer of one tick table: ``write(chunk)`` any number of times, then ``close()``.

    Usable as a context manager. Chunks are cast to the canonical columns and dtypes.
    """

    def __init__(self, day_dir: Path, name: str, fmt: TickFormat) -> None:
        if fmt not in ("parquet", "csv"):
            raise ValueError(f"unknown tick format {fmt!r}")
        self.name, self.fmt = name, fmt
        self.path = tick_path(day_dir, name, fmt)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        self._table: str | None = name if name in TICK_TABLES else None
        self._pq: pq.ParquetWriter | None = None
        self._csv: BinaryIO | None = None
        self._closed = False
        if self._table is not None:
            self._open()

    def _open(self) -> None:
        assert self._table is not None
        if self.fmt == "parquet":
            schema = canonical_frame(pl.DataFrame(schema=canonical_columns(self._table)), self._table).to_arrow().schema
            self._pq = pq.ParquetWriter(self.path, schema, compression="zstd")
        else:
            fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            fh.write((",".join(canonical_columns(self._table)) + "\n").encode())
            self._csv = fh

    def write(self, chunk: pl.DataFrame) -> None:
        """Append ``chunk`` (canonical columns; extra columns are dropped)."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if self._table is None:
            self._table = _table_of(self.name, chunk)
            self._open()
        assert self._table is not None
        if chunk.height == 0:
            return
        if self._pq is not None:
            table = canonical_frame(chunk, self._table).to_arrow()
            self._pq.write_table(pa.Table.from_batches(table.to_batches(), schema=self._pq.schema))
        elif self._csv is not None:
            to_text_frame(chunk, self._table).write_csv(self._csv, include_header=False)
        self.rows += chunk.height

    def close(self) -> Path:
        if self._closed:
            return self.path
        if self._table is None:
            raise ValueError(f"{self.path}: nothing written and {self.name!r} is not a tick table name")
        if self._pq is not None:
            self._pq.close()
        if self._csv is not None:
            self._csv.close()
        self._closed = True
        return self.path

    def __enter__(self) -> TickWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _ns_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with datetimes as int ns (Python datetimes would lose the nanoseconds)."""
    casts = [pl.col(c).cast(pl.Int64) for c, d in frame.schema.items() if isinstance(d, pl.Datetime)]
    return frame.with_columns(casts).to_dicts()


def write_fix_log(child_orders: pl.DataFrame, fills: pl.DataFrame, path: Path, *,
                  begin_string: str = "FIX.4.4", delimiter: str = "\x01") -> Path:
    """Write a FIX execution log of ``child_orders`` and their ``fills`` to ``path``; returns it."""
    if begin_string not in ("FIX.4.2", "FIX.4.4"):
        raise ValueError(f"unsupported BeginString {begin_string!r} (FIX.4.2 or FIX.4.4)")
    fix42 = begin_string == "FIX.4.2"
    children = _ns_rows(child_orders.select(list(canonical_columns("child_orders"))))
    by_child: dict[str, list[dict[str, Any]]] = {c["child_id"]: [] for c in children}
    for f in _ns_rows(fills.select(list(canonical_columns("fills")))):
        if f["child_id"] not in by_child:
            raise ValueError(f"fill {f['exec_id']} is for child {f['child_id']!r}, which is not in child_orders")
        by_child[f["child_id"]].append(f)

    events: list[tuple[int, int, int, list[tuple[str, str]]]] = []
    seq = 0
    for c in children:
        cid, venue, side = c["child_id"], c["venue"], fx.SIDE_TO_FIX[c["side"]]
        new = [(fx.T_CLORD, cid), (fx.T_PARENT, c["parent_id"]), (fx.T_SYMBOL, c["symbol"]), (fx.T_SIDE, side),
               (fx.T_QTY, str(c["qty"])), (fx.T_ORDTYPE, fx.ORDTYPE_TO_FIX[c["order_type"]])]
        if c["limit_px"] is not None:
            new.append((fx.T_PRICE, repr(c["limit_px"])))
        new += [(fx.T_TIF, fx.TIF_TO_FIX[c["tif"]]), (fx.T_TIME, fx.fix_time(c["sent_ts"])), (fx.T_DEST, venue),
                (fx.C_POLICY, c["router_policy"]), (fx.C_RANK, str(c["route_rank"])),
                (fx.C_PROPENSITY, repr(c["propensity"]))]
        if c["predicted_cost_bps"] is not None:
            new.append((fx.C_PREDICTED, repr(c["predicted_cost_bps"])))
        events.append((c["sent_ts"], 0, seq := seq + 1, [("35", "D"), ("56", venue), *new]))
        cum, notional, last_ts = 0, 0.0, c["sent_ts"]
        common = [(fx.T_ORDERID, f"O{cid}"), (fx.T_CLORD, cid), (fx.T_SYMBOL, c["symbol"]), (fx.T_SIDE, side),
                  (fx.T_QTY, str(c["qty"]))]
        for f in sorted(by_child[cid], key=lambda r: r["ts"]):
            cum += f["qty"]
            notional += f["qty"] * f["px"]
            full = cum >= c["qty"]
            exec_type = ("2" if full else "1") if fix42 else "F"
            rep = [*common, (fx.T_EXECID, f["exec_id"]), *([(fx.T_EXECTRANS, "0")] if fix42 else []),
                   (fx.T_EXECTYPE, exec_type),
                   (fx.T_STATUS, "2" if full else "1"), (fx.T_LASTQTY, str(f["qty"])), (fx.T_LASTPX, repr(f["px"])),
                   (fx.T_LASTMKT, venue), (fx.T_CUMQTY, str(cum)), (fx.T_LEAVES, str(max(c["qty"] - cum, 0))),
                   (fx.T_AVGPX, repr(notional / cum)), (fx.T_TIME, fx.fix_time(f["ts"]))]
            if f["liquidity"] in fx.LIQ_TO_FIX:
                rep.append((fx.T_LIQ, fx.LIQ_TO_FIX[f["liquidity"]]))
            else:
                rep.append((fx.C_LIQ, f["liquidity"]))
            rep += [(fx.T_COMM, repr(f["fee_bps"] / 100.0)), (fx.T_COMMTYPE, "2"), (fx.C_FEE_BPS, repr(f["fee_bps"]))]
            events.append((f["ts"], 1, seq := seq + 1, [("35", "8"), ("56", venue), *rep]))
            last_ts = max(last_ts, f["ts"])
        exec_type, ord_status = fx.STATUS_TO_FIX[c["status"]]
        final = [*common, (fx.T_EXECID, f"X{cid}"), *([(fx.T_EXECTRANS, "0")] if fix42 else []),
                 (fx.T_EXECTYPE, exec_type), (fx.T_STATUS, ord_status),
                 (fx.T_CUMQTY, str(cum)), (fx.T_LEAVES, "0"), (fx.T_AVGPX, repr(notional / cum) if cum else "0"),
                 (fx.C_STATUS, c["status"])]
        if c["done_ts"] is not None:
            final.append((fx.T_TIME, fx.fix_time(c["done_ts"])))
        at = c["done_ts"] if c["done_ts"] is not None else last_ts
        events.append((at, 2, seq := seq + 1, [("35", "8"), ("56", venue), *final]))

    events.sort(key=lambda e: (e[0], e[1], e[2]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for n, (at, _, _, fields) in enumerate(events, start=1):
            head = [fields[0], ("49", "SOR"), fields[1], ("34", str(n)), ("52", fx.fix_time(at))]
            fh.write(fx.encode_message(begin_string, head + fields[2:], delimiter) + "\n")
    return path
