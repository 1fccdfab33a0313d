"""FIX tag=value execution logs (drop copies) -> ``child_orders`` and ``fills`` (and back).

Versions read: FIX 4.2, FIX 4.4 and FIX 5.0 SP2 over FIXT.1.1 (``8=FIXT.1.1``, ApplVerID 1128).
One message per line, SOH or ``|`` delimited, any text before ``8=FIX`` ignored; tag mapping in
:mod:`fix_codec`. Messages read: 35=D NewOrderSingle (a child order), 35=G OrderCancelReplaceRequest
and 35=F OrderCancelRequest (their 11 ClOrdID joins the chain of 41 OrigClOrdID), 35=8
ExecutionReport; 35=9 OrderCancelReject and session messages are skipped.

Execution reports: a fill (150=F, or 150=1/2 on 4.2 with 20 ExecTransType absent or 0) becomes a
``fills`` row; 150=H (trade cancel, or 4.2 20=1) removes the fill named by 19 ExecRefID; 150=G (trade
correct, or 4.2 20=2) replaces it with this report's 17/32/31; 150=5 (replaced) updates the child's
38 OrderQty and 44 Price; a final report (150=3 done for day, 4 cancelled — solicited or not,
8 rejected, C expired, or a 39 OrdStatus that is final) sets the child's status and ``done_ts``.
A report is matched to its child by 11 ClOrdID through the cancel/replace chain, else 41, else 37
OrderID seen before when 11 is absent; others (150=0 new, A pending, I status, ...) are skipped. A child with fills and
no final report is FILLED when its fills reach its quantity, else PARTIAL (open).

Standard tags only are enough: the parent link is 526 SecondaryClOrdID or 583 ClOrdLinkID; the venue
100 ExDestination, else 30 LastMarket of the child's first fill; liquidity 851 (a fill without it is
completed from the venue reference by :mod:`sor_pipeline.ingest.venue_fill`: MID on a dark venue);
fees 12/13 (else the venue's fee schedule). Router fields (``router_policy``, ``route_rank``,
``propensity``, ``predicted_cost_bps``) come from the custom tags of :class:`FixTags` when present,
null otherwise (a log without propensities: see README "Logs without propensities").

Validation: framing (9 BodyLength, 10 CheckSum), then the tags read are checked against the
version's data dictionary (:mod:`fix_dictionary`: type, enumeration, required in the message type).
A line that fails is rejected (``rejects``: check, reason naming file, line, MsgSeqNum 34 and the
tag with its name; the original line kept) and the rest of the file still loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sor_pipeline.ingest import fix_codec as fx
from sor_pipeline.ingest import fix_dictionary as fd
from sor_pipeline.ingest.base import AdapterResult, canonical_columns, make_rejects, required_columns
from sor_pipeline.storage.validation import RAW_ROW, SOURCE_FILE, SOURCE_LINE

REQUIRED_NEW = (fx.T_CLORD, fx.T_SIDE, fx.T_SYMBOL, fx.T_QTY, fx.T_ORDTYPE, fx.T_TIME)
REQUIRED_FILL = (fx.T_EXECID, fx.T_LASTPX, fx.T_LASTQTY, fx.T_TIME)
REQUIRED_REPORT = (fx.T_EXECTYPE,)
#: Standard tags the reader uses, checked against the data dictionary (type, enum, required).
READ_TAGS = {fx.T_CLORD, fx.T_ORIGCLORD, fx.T_PARENT, fx.T_CLORDLINK, fx.T_SYMBOL, fx.T_SIDE, fx.T_QTY,
             fx.T_ORDTYPE, fx.T_PRICE, fx.T_TIF, fx.T_TIME, fx.T_DEST, fx.T_LASTMKT, fx.T_EXECID, fx.T_EXECREF,
             fx.T_EXECTYPE, fx.T_EXECTRANS, fx.T_STATUS, fx.T_LASTPX, fx.T_LASTQTY, fx.T_LIQ, fx.T_COMM,
             fx.T_COMMTYPE, fx.T_CUMQTY, fx.T_ORDERID, fx.T_SEQ, fx.T_APPLVER}
#: Per message type, the tags whose absence is refused when the version's dictionary requires them: the
#: ones the reader needs. Others the dictionary requires (37 OrderID, 151 LeavesQty, 4.2's 20
#: ExecTransType, ...) are not needed for TCA and drop copies often leave them out.
REQUIRED_CHECKED = {"D": {fx.T_CLORD, fx.T_SIDE, fx.T_SYMBOL, fx.T_ORDTYPE, fx.T_TIME},
                    "G": {fx.T_CLORD, fx.T_ORIGCLORD}, "F": {fx.T_CLORD, fx.T_ORIGCLORD},
                    "8": {fx.T_EXECID, fx.T_EXECTYPE, fx.T_STATUS}}
#: Message types read (others, and session messages, are skipped).
READ_TYPES = {"D", "G", "F", "8"}


@dataclass(frozen=True)
class FixTags:
    """Custom (user-defined) tags of the router fields; a field whose tag is absent is null.
    Settings: ``ingest.fix_tags`` (same keys)."""

    parent_id: str = fx.C_PARENT
    router_policy: str = fx.C_POLICY
    route_rank: str = fx.C_RANK
    propensity: str = fx.C_PROPENSITY
    predicted_cost_bps: str = fx.C_PREDICTED
    liquidity: str = fx.C_LIQ
    fee_bps: str = fx.C_FEE_BPS
    child_status: str = fx.C_STATUS

    @classmethod
    def of(cls, mapping: dict[str, int] | None) -> FixTags:
        return cls(**{k: str(v) for k, v in (mapping or {}).items()})


# -------------------------------------------------------------------------------------------------
# reader
def _missing(msg: dict[str, str], tags: tuple[str, ...], dic: fd.Dictionary) -> None:
    miss = [t for t in tags if not msg.get(t)]
    if miss:
        raise fx.FixLineError("fix missing tag", f"missing required tag(s) {', '.join(dic.label(t) for t in miss)}")


def _value(msg: dict[str, str], tag: str, conv: Any, default: Any = None, name: str = "") -> Any:
    raw = msg.get(tag)
    if raw is None or raw == "":
        return default
    try:
        return conv(raw)
    except (ValueError, KeyError) as exc:
        raise fx.FixLineError("fix bad value", f"bad value {tag}{f' ({name})' if name else ''}={raw!r}") from exc


def _qty(text: str) -> int:
    """A FIX Qty (may be written ``100`` or ``100.0``) as whole shares."""
    v = float(text)
    if v != int(v):
        raise ValueError(text)
    return int(v)


def _child(msg: dict[str, str], line_no: int, tags: FixTags, dic: fd.Dictionary) -> dict[str, Any]:
    _missing(msg, REQUIRED_NEW, dic)
    return {
        "child_id": msg[fx.T_CLORD],
        "parent_id": msg.get(fx.T_PARENT) or msg.get(fx.T_CLORDLINK) or msg.get(tags.parent_id) or None,
        "symbol": msg[fx.T_SYMBOL], "side": _value(msg, fx.T_SIDE, fx.FIX_TO_SIDE.__getitem__, name="Side"),
        "venue": msg.get(fx.T_DEST) or None,
        "order_type": _value(msg, fx.T_ORDTYPE, fx.FIX_TO_ORDTYPE.__getitem__, name="OrdType"),
        "tif": _value(msg, fx.T_TIF, fx.FIX_TO_TIF.__getitem__, "DAY", name="TimeInForce"),
        "limit_px": _value(msg, fx.T_PRICE, float), "qty": _value(msg, fx.T_QTY, _qty, name="OrderQty"),
        "sent_ts": _value(msg, fx.T_TIME, fx.parse_fix_time),
        "router_policy": msg.get(tags.router_policy) or None, "route_rank": _value(msg, tags.route_rank, int),
        "propensity": _value(msg, tags.propensity, float),
        "predicted_cost_bps": _value(msg, tags.predicted_cost_bps, float),
        "status": None, "done_ts": None, SOURCE_LINE: line_no,
    }


def _fee_bps(msg: dict[str, str], qty: int, px: float, tags: FixTags) -> float | None:
    if msg.get(tags.fee_bps):
        return float(_value(msg, tags.fee_bps, float))
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
    raise fx.FixLineError("fix bad value", f"unsupported CommType 13={kind} (read: 1 per share, 2 percent, 3 absolute)")


def _fill(msg: dict[str, str], child_id: str, line_no: int, tags: FixTags, dic: fd.Dictionary) -> dict[str, Any]:
    _missing(msg, REQUIRED_FILL, dic)
    qty, px = _value(msg, fx.T_LASTQTY, _qty, name="LastQty"), _value(msg, fx.T_LASTPX, float)
    liq = msg.get(tags.liquidity) or fx.FIX_TO_LIQ.get(msg.get(fx.T_LIQ, ""))
    return {"exec_id": msg[fx.T_EXECID], "child_id": child_id, "ts": _value(msg, fx.T_TIME, fx.parse_fix_time),
            "qty": qty, "px": px, "liquidity": liq, "fee_bps": _fee_bps(msg, qty, px, tags),
            "_venue": msg.get(fx.T_LASTMKT) or None, SOURCE_LINE: line_no}


def _final_status(msg: dict[str, str], tags: FixTags, filled: int) -> str | None:
    """Status of a final report; cancelled/expired with shares filled (14 CumQty, or fills read) is PARTIAL."""
    if msg.get(tags.child_status):
        return msg[tags.child_status]
    status = msg.get(fx.T_STATUS, "")
    if status in ("4", "C"):
        return "PARTIAL" if _value(msg, fx.T_CUMQTY, float, 0.0) > 0 or filled > 0 else "CANCELLED"
    return {"2": "FILLED", "3": "PARTIAL", "8": "REJECTED"}.get(status)


def _kind(msg: dict[str, str]) -> str:
    """What an execution report does: fill, bust, correct, replaced, final or skip."""
    exec_type, trans = msg.get(fx.T_EXECTYPE, ""), msg.get(fx.T_EXECTRANS, "0")
    if exec_type in fx.FILL_EXEC_TYPES:  # 4.2 busts and corrections ride on 20 ExecTransType
        return {"1": "bust", "2": "correct"}.get(trans, "fill")
    if exec_type == "H":
        return "bust"
    if exec_type == "G":
        return "correct"
    if exec_type == "5":
        return "replaced"
    if exec_type in fx.FINAL_EXEC_TYPES or (msg.get(fx.T_STATUS) in fx.FINAL_ORD_STATUSES and exec_type not in (
            "0", "A", "E", "6", "I", "D")):
        return "final"
    return "skip"


class _Log:
    """State of one file being read: children by their first ClOrdID, the chain aliases, fills."""

    def __init__(self, path: Path, tags: FixTags) -> None:
        self.path, self.tags = path, tags
        self.children: dict[str, dict[str, Any]] = {}
        self.alias: dict[str, str] = {}  # any ClOrdID of the chain -> the first one (the child_id)
        self.by_order_id: dict[str, str] = {}
        self.fills: dict[str, dict[str, Any]] = {}  # exec_id -> row, in file order
        self.rejects: list[dict[str, Any]] = []

    def reject(self, table: str, line_no: int, msg: dict[str, str] | None, check: str, reason: str,
               raw: str) -> None:
        seq = f" (MsgSeqNum 34={msg[fx.T_SEQ]})" if msg and msg.get(fx.T_SEQ) else ""
        self.rejects.append({"table": table, "source_file": str(self.path), "source_line": line_no,
                             "checks": check, "reason": f"{self.path}:{line_no}{seq}: {reason}", "row_json": raw})

    def root(self, msg: dict[str, str]) -> str | None:
        for key in (msg.get(fx.T_CLORD), msg.get(fx.T_ORIGCLORD)):
            if key and key in self.alias:
                return self.alias[key]
        oid = msg.get(fx.T_ORDERID)  # only a report without 11: an 11 of no known chain is an unknown order
        return self.by_order_id.get(oid) if oid and not msg.get(fx.T_CLORD) else None

    def order(self, msg: dict[str, str], line_no: int, dic: fd.Dictionary) -> None:
        kind = msg[fx.T_TYPE]
        if kind == "D":
            child = _child(msg, line_no, self.tags, dic)
            if child["child_id"] in self.alias:
                raise fx.FixLineError("fix duplicate order",
                                      f"duplicate NewOrderSingle 11 (ClOrdID)={child['child_id']}")
            self.children[child["child_id"]] = child
            self.alias[child["child_id"]] = child["child_id"]
        else:  # G / F: the new ClOrdID joins the chain of 41 OrigClOrdID
            _missing(msg, (fx.T_CLORD, fx.T_ORIGCLORD), dic)
            root = self.alias.get(msg[fx.T_ORIGCLORD])
            if root is None:
                raise fx.FixLineError("fix unknown order", f"41 (OrigClOrdID)={msg[fx.T_ORIGCLORD]} names no order "
                                                           f"sent earlier in the file")
            self.alias[msg[fx.T_CLORD]] = root

    def report(self, msg: dict[str, str], line_no: int, dic: fd.Dictionary) -> None:
        _missing(msg, REQUIRED_REPORT, dic)
        kind = _kind(msg)
        if kind == "skip":
            return
        root = self.root(msg)
        if root is None:
            raise fx.FixLineError("fix unknown order", f"execution report for unknown order 11 (ClOrdID)="
                                                       f"{msg.get(fx.T_CLORD)} (no NewOrderSingle in the file)")
        if msg.get(fx.T_CLORD):
            self.alias.setdefault(msg[fx.T_CLORD], root)
        if msg.get(fx.T_ORDERID):
            self.by_order_id.setdefault(msg[fx.T_ORDERID], root)
        child = self.children[root]
        if kind == "fill":
            f = _fill(msg, root, line_no, self.tags, dic)
            if f["exec_id"] in self.fills:
                raise fx.FixLineError("fix duplicate fill", f"duplicate fill 17 (ExecID)={f['exec_id']}")
            self.fills[f["exec_id"]] = f
        elif kind in ("bust", "correct"):
            ref = msg.get(fx.T_EXECREF)
            if not ref or ref not in self.fills:
                raise fx.FixLineError("fix unknown fill", f"trade {'cancel' if kind == 'bust' else 'correction'} "
                                                          f"names no earlier fill: 19 (ExecRefID)={ref!r}")
            old = self.fills.pop(ref)
            if kind == "correct":
                new = _fill(msg, root, line_no, self.tags, dic)
                new["ts"], new["_venue"] = old["ts"], new["_venue"] or old["_venue"]
                new["liquidity"] = new["liquidity"] or old["liquidity"]
                self.fills[new["exec_id"]] = new
        elif kind == "replaced":
            child["qty"] = _value(msg, fx.T_QTY, _qty, child["qty"], name="OrderQty")
            child["limit_px"] = _value(msg, fx.T_PRICE, float, child["limit_px"])
        else:
            filled = sum(f["qty"] for f in self.fills.values() if f["child_id"] == root)
            child["status"] = _final_status(msg, self.tags, filled)
            child["done_ts"] = _value(msg, fx.T_TIME, fx.parse_fix_time)
            child["_final"] = True


def _with_raw_lines(frame: pl.DataFrame, table: str, path: Path) -> pl.DataFrame:
    """Rows with a null in a required column (a standard tag the log left out) keep their FIX line as
    ``_raw_row``, so the quarantine holds the original message, not only the parsed row. The file is
    read again for those lines only; a clean log gets no extra column."""
    required = [c for c in required_columns(table) if c in frame.columns]
    missing = pl.any_horizontal([pl.col(c).is_null() for c in required])
    lines = set(frame.filter(missing).get_column(SOURCE_LINE).to_list()) if required else set()
    if not lines:
        return frame
    text: dict[int, str] = {}
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if line_no in lines:
                text[line_no] = raw.rstrip("\r\n")
    raw_row = pl.col(SOURCE_LINE).replace_strict(text, default=None, return_dtype=pl.Utf8)
    return frame.with_columns(pl.when(missing).then(raw_row).alias(RAW_ROW))


def read_fix_log(path: Path, tags: FixTags | None = None) -> AdapterResult:
    """Read a FIX log into ``child_orders`` and ``fills`` (canonical dtypes + lineage) and rejects."""
    path = Path(path)
    log = _Log(path, tags or FixTags())
    reports: list[tuple[int, str, dict[str, str], fd.Dictionary]] = []
    with open(path, encoding="utf-8", errors="replace", newline="\n") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            table = "fills" if "35=8" in line else "child_orders"
            msg: dict[str, str] | None = None
            try:
                msg = fx.decode_message(line)
                if msg[fx.T_TYPE] not in READ_TYPES:
                    continue
                dic = fd.for_message(msg)
                problems = dic.check(msg, READ_TAGS, REQUIRED_CHECKED[msg[fx.T_TYPE]])
                if problems:
                    raise fx.FixLineError(problems[0][1], "; ".join(p[2] for p in problems))
                if msg[fx.T_TYPE] == "8":
                    reports.append((line_no, line, msg, dic))  # after every order, whatever the file order
                else:
                    log.order(msg, line_no, dic)
            except fd.UnknownVersionError as exc:
                log.reject(table, line_no, msg, "fix version", str(exc), line)
            except fx.FixLineError as exc:
                log.reject(table, line_no, msg, exc.check, str(exc), line)
    for line_no, line, msg, dic in reports:
        try:
            log.report(msg, line_no, dic)
        except fx.FixLineError as exc:
            log.reject("fills" if _kind(msg) in ("fill", "correct") else "child_orders", line_no, msg, exc.check,
                       str(exc), line)

    fills = list(log.fills.values())
    cum: dict[str, tuple[int, int]] = {}
    first_venue: dict[str, str] = {}
    for f in fills:
        q, last = cum.get(f["child_id"], (0, 0))
        cum[f["child_id"]] = (q + f["qty"], max(last, f["ts"] or 0))
        venue = f.pop("_venue")
        if venue and f["child_id"] not in first_venue:
            first_venue[f["child_id"]] = venue
    for child in log.children.values():
        if child["venue"] is None and child["child_id"] in first_venue:
            child["venue"] = first_venue[child["child_id"]]
        if not child.pop("_final", False) and child["child_id"] in cum:  # no final report: derive it
            filled, last = cum[child["child_id"]]
            full = child["qty"] is not None and filled >= child["qty"]
            child["status"], child["done_ts"] = ("FILLED", last) if full else ("PARTIAL", None)

    result = AdapterResult(rejects=make_rejects(log.rejects))
    fills.sort(key=lambda r: r[SOURCE_LINE])
    for table, rows in (("child_orders", list(log.children.values())), ("fills", fills)):
        cols = canonical_columns(table)
        schema = {c: (pl.Int64() if isinstance(d, pl.Datetime) else d) for c, d in cols.items()}
        frame = pl.DataFrame(rows, schema={**schema, SOURCE_LINE: pl.Int64()})
        frame = frame.with_columns([pl.col(c).cast(d) for c, d in cols.items() if isinstance(d, pl.Datetime)])
        result.tables[table] = _with_raw_lines(frame.select(*cols, pl.lit(str(path)).alias(SOURCE_FILE), SOURCE_LINE),
                                               table, path)
    result.files.append({"path": str(path), "format": "fix", "tables": list(result.tables),
                         "rows": {t: f.height for t, f in result.tables.items()}})
    return result
