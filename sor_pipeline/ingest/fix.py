"""FIX 4.2 / 4.4 tag=value execution logs -> ``child_orders`` and ``fills`` (and back).

One message per line, SOH or ``|`` delimited; tag mapping in :mod:`fix_codec`. The writer emits, in
time order, a 35=D NewOrderSingle per child (at ``sent_ts``), its fills as 35=8 execution reports
(150=F on 4.4, 150=1/2 on 4.2, at the fill ``ts``) and one final 35=8 giving the child's status
and ``done_ts`` (60 absent when ``done_ts`` is null). The reader rebuilds both tables exactly (rows
in file order, i.e. children by ``sent_ts`` and fills by ``ts``; ties keep input order).

Reader: a line with a bad checksum or body length, a missing required tag, a bad value, or an
execution report for an order with no 35=D in the file is rejected (``rejects``: check, reason with
file and line, raw line) and the rest of the file still loads. Session messages (logon,
heartbeat, ...) and non-terminal execution reports (new, pending, replaced) are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from sor_pipeline.ingest import fix_codec as fx
from sor_pipeline.ingest.base import AdapterResult, canonical_columns, make_rejects
from sor_pipeline.storage.validation import SOURCE_FILE, SOURCE_LINE

REQUIRED_NEW = (fx.T_CLORD, fx.T_SIDE, fx.T_SYMBOL, fx.T_QTY, fx.T_ORDTYPE, fx.T_TIME)
REQUIRED_FILL = (fx.T_CLORD, fx.T_EXECID, fx.T_LASTPX, fx.T_LASTQTY, fx.T_TIME)
REQUIRED_REPORT = (fx.T_CLORD, fx.T_EXECTYPE)


# -------------------------------------------------------------------------------------------------
# reader
def _missing(msg: dict[str, str], tags: tuple[str, ...]) -> None:
    miss = [t for t in tags if not msg.get(t)]
    if miss:
        raise fx.FixLineError("fix missing tag", f"missing required tag(s) {', '.join(miss)}")


def _value(msg: dict[str, str], tag: str, conv: Any, default: Any = None) -> Any:
    raw = msg.get(tag)
    if raw is None or raw == "":
        return default
    try:
        return conv(raw)
    except (ValueError, KeyError) as exc:
        raise fx.FixLineError("fix bad value", f"bad value {tag}={raw!r}") from exc


def _child(msg: dict[str, str], line_no: int) -> dict[str, Any]:
    _missing(msg, REQUIRED_NEW)
    return {
        "child_id": msg[fx.T_CLORD], "parent_id": msg.get(fx.T_PARENT) or msg.get(fx.C_PARENT),
        "symbol": msg[fx.T_SYMBOL], "side": _value(msg, fx.T_SIDE, fx.FIX_TO_SIDE.__getitem__),
        "venue": msg.get(fx.T_DEST) or None, "order_type": _value(msg, fx.T_ORDTYPE, fx.FIX_TO_ORDTYPE.__getitem__),
        "tif": _value(msg, fx.T_TIF, fx.FIX_TO_TIF.__getitem__, "DAY"), "limit_px": _value(msg, fx.T_PRICE, float),
        "qty": _value(msg, fx.T_QTY, int), "sent_ts": _value(msg, fx.T_TIME, fx.parse_fix_time),
        "router_policy": msg.get(fx.C_POLICY), "route_rank": _value(msg, fx.C_RANK, int),
        "propensity": _value(msg, fx.C_PROPENSITY, float), "predicted_cost_bps": _value(msg, fx.C_PREDICTED, float),
        "status": None, "done_ts": None, SOURCE_LINE: line_no,
    }


def _fee_bps(msg: dict[str, str], qty: int, px: float) -> float | None:
    if msg.get(fx.C_FEE_BPS):
        return float(_value(msg, fx.C_FEE_BPS, float))
    comm = _value(msg, fx.T_COMM, float)
    if comm is None:
        return None
    kind = msg.get(fx.T_COMMTYPE, "2")
    if kind == "2":
        return comm * 100.0
    if kind == "1":
        return comm / px * 1e4
    if kind == "3":
        return comm / (qty * px) * 1e4
    raise fx.FixLineError("fix bad value", f"unsupported CommType 13={kind}")


def _fill(msg: dict[str, str], line_no: int) -> dict[str, Any]:
    _missing(msg, REQUIRED_FILL)
    qty, px = _value(msg, fx.T_LASTQTY, int), _value(msg, fx.T_LASTPX, float)
    liq = msg.get(fx.C_LIQ) or fx.FIX_TO_LIQ.get(msg.get(fx.T_LIQ, ""))
    return {"exec_id": msg[fx.T_EXECID], "child_id": msg[fx.T_CLORD], "ts": _value(msg, fx.T_TIME, fx.parse_fix_time),
            "qty": qty, "px": px, "liquidity": liq, "fee_bps": _fee_bps(msg, qty, px), SOURCE_LINE: line_no}


def _final_status(msg: dict[str, str]) -> str | None:
    if msg.get(fx.C_STATUS):
        return msg[fx.C_STATUS]
    status = msg.get(fx.T_STATUS, "")
    if status in ("4", "C"):
        return "PARTIAL" if _value(msg, fx.T_CUMQTY, float, 0.0) > 0 else "CANCELLED"
    return {"2": "FILLED", "3": "PARTIAL", "8": "REJECTED"}.get(status)


def read_fix_log(path: Path) -> AdapterResult:
    """Read a FIX log into ``child_orders`` and ``fills`` (canonical dtypes + lineage) and rejects."""
    path = Path(path)
    children: dict[str, dict[str, Any]] = {}
    reports: list[tuple[int, str, dict[str, str]]] = []
    rejects: list[dict[str, Any]] = []

    def reject(table: str, line_no: int, check: str, reason: str, raw: str) -> None:
        rejects.append({"table": table, "source_file": str(path), "source_line": line_no, "checks": check,
                        "reason": f"{path}:{line_no}: {reason}", "row_json": raw})

    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            table = "fills" if "35=8" in line else "child_orders"
            try:
                msg = fx.decode_message(line)
                kind = msg[fx.T_TYPE]
                if kind == "D":
                    child = _child(msg, line_no)
                    if child["child_id"] in children:
                        raise fx.FixLineError("fix duplicate order", f"duplicate NewOrderSingle 11={child['child_id']}")
                    children[child["child_id"]] = child
                elif kind == "8":
                    reports.append((line_no, line, msg))
            except fx.FixLineError as exc:
                reject(table, line_no, exc.check, str(exc), line)

    fills: list[dict[str, Any]] = []
    for line_no, line, msg in reports:
        exec_type = msg.get(fx.T_EXECTYPE, "")
        is_fill = exec_type in fx.FILL_EXEC_TYPES
        is_final = exec_type in fx.FINAL_EXEC_TYPES or (not is_fill and msg.get(fx.T_STATUS) in fx.FINAL_ORD_STATUSES)
        table = "fills" if is_fill else "child_orders"
        try:
            _missing(msg, REQUIRED_REPORT)
            if exec_type in ("G", "H"):
                raise fx.FixLineError("fix unsupported", f"trade correction/cancel 150={exec_type} not supported")
            if not (is_fill or is_final):
                continue
            if msg[fx.T_CLORD] not in children:
                raise fx.FixLineError("fix unknown order", f"execution report for unknown order 11={msg[fx.T_CLORD]}")
            child = children[msg[fx.T_CLORD]]
            if is_fill:
                fills.append(_fill(msg, line_no))
            else:
                child["status"] = _final_status(msg)
                child["done_ts"] = _value(msg, fx.T_TIME, fx.parse_fix_time)
                child["_final"] = True
        except fx.FixLineError as exc:
            reject(table, line_no, exc.check, str(exc), line)

    cum: dict[str, tuple[int, int]] = {}
    for f in fills:
        q, last = cum.get(f["child_id"], (0, 0))
        cum[f["child_id"]] = (q + f["qty"], max(last, f["ts"] or 0))
    for child in children.values():
        if not child.pop("_final", False) and child["child_id"] in cum:  # no final report: derive it
            filled, last = cum[child["child_id"]]
            full = child["qty"] is not None and filled >= child["qty"]
            child["status"], child["done_ts"] = ("FILLED", last) if full else ("PARTIAL", None)

    result = AdapterResult(rejects=make_rejects(rejects))
    for table, rows in (("child_orders", list(children.values())), ("fills", fills)):
        cols = canonical_columns(table)
        schema = {c: (pl.Int64() if isinstance(d, pl.Datetime) else d) for c, d in cols.items()}
        frame = pl.DataFrame(rows, schema={**schema, SOURCE_LINE: pl.Int64()})
        frame = frame.with_columns([pl.col(c).cast(d) for c, d in cols.items() if isinstance(d, pl.Datetime)])
        result.tables[table] = frame.select(*cols, pl.lit(str(path)).alias(SOURCE_FILE), SOURCE_LINE)
    result.files.append({"path": str(path), "format": "fix", "tables": list(result.tables),
                         "rows": {t: f.height for t, f in result.tables.items()}})
    return result
