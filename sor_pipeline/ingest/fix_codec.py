"""FIX tag=value message codec: tags we use, framing (8/9/10), checksum, TransactTime.

Tag mapping (canonical column <- tag). Standard tags:

==========  ======================  =====================================================
tag         name                    canonical meaning
==========  ======================  =====================================================
8/9/10      BeginString/BodyLength/CheckSum   framing; 9 and 10 are computed on write
35          MsgType                 D = NewOrderSingle (one per child), 8 = ExecutionReport
11          ClOrdID                 child_id
526/583     SecondaryClOrdID/       parent_id (custom 20001 accepted too)
            ClOrdLinkID
41          OrigClOrdID             cancel/replace chain (35=G/F and 150=5): one child per chain
19/20       ExecRefID/ExecTransType the fill a trade cancel (150=H, 4.2 20=1) or correction
                                    (150=G, 4.2 20=2) applies to
55          Symbol                  symbol
54          Side                    1 = BUY, 2 = SELL (5/6 sell short also read as SELL)
38          OrderQty                qty (shares)
40          OrdType                 1 = MKT, 2 = LMT
44          Price                   limit_px (LMT only)
59          TimeInForce             0 = DAY, 3 = IOC (absent = DAY); 4 FOK read as IOC,
                                    1 GTC / 5 GTX / 6 GTD read as DAY
60          TransactTime            sent_ts (D), fill ts (8 fill), done_ts (final 8);
                                    ``YYYYMMDD-HH:MM:SS.nnnnnnnnn`` UTC (0-9 fractional digits read)
100         ExDestination           venue (D); 30 LastMkt = venue on execution reports
17          ExecID                  exec_id
150         ExecType                F (4.4) or 1/2 (4.2) = fill; 3 done for day, 4 cancelled,
                                    8 rejected, C expired = final report
39          OrdStatus               final status when 20009 is absent: 2 FILLED, 3 PARTIAL,
                                    4/C CANCELLED (PARTIAL if 14 CumQty > 0), 8 REJECTED
31/32       LastPx/LastQty          px, qty of a fill
851         LastLiquidityInd        1 = ADD, 2 = REMOVE, 3 (routed out) = REMOVE
12/13       Commission/CommType     fee when 20007 is absent: 13=2 percent of notional
                                    (bps = 12 x 100), 13=1 per share (bps = 12 / px x 1e4),
                                    13=3 absolute (bps = 12 / (qty x px) x 1e4); negative = rebate
==========  ======================  =====================================================

Custom tags (user-defined range 20000+):
20001 ParentOrderID (alternative to 526), 20002 RouterPolicy (``static``/``model:<v>``),
20003 RouteRank (int, 1 = first), 20004 Propensity (0 < p <= 1), 20005 PredictedCostBps
(+ = cost; absent = null), 20006 LiquidityInd text ADD/REMOVE/MID (written for MID, which 851
cannot express), 20007 FeeBps (bps of notional, + paid / - rebate; exact), 20009 ChildStatus
(FILLED/PARTIAL/CANCELLED/REJECTED on the final report; exact).

Checksum and body length are computed as if the delimiter were SOH, so a ``|``-delimited log is a
faithful display of the SOH message (a reader also accepts checksums computed over ``|``).
"""

from __future__ import annotations

import calendar
import time

SOH = "\x01"

T_BEGIN, T_LEN, T_TYPE, T_CHECKSUM = "8", "9", "35", "10"
T_CLORD, T_PARENT, T_SYMBOL, T_SIDE, T_QTY, T_ORDTYPE, T_PRICE, T_TIF = "11", "526", "55", "54", "38", "40", "44", "59"
T_TIME, T_DEST, T_LASTMKT, T_EXECID, T_EXECTYPE, T_STATUS = "60", "100", "30", "17", "150", "39"
T_LASTPX, T_LASTQTY, T_LIQ, T_COMM, T_COMMTYPE = "31", "32", "851", "12", "13"
T_CUMQTY, T_LEAVES, T_AVGPX, T_ORDERID = "14", "151", "6", "37"
T_SENDER, T_TARGET, T_SEQ, T_SENDTIME = "49", "56", "34", "52"
T_ORIGCLORD, T_CLORDLINK, T_EXECREF, T_EXECTRANS, T_APPLVER = "41", "583", "19", "20", "1128"
C_PARENT, C_POLICY, C_RANK, C_PROPENSITY, C_PREDICTED = "20001", "20002", "20003", "20004", "20005"
C_LIQ, C_FEE_BPS, C_STATUS = "20006", "20007", "20009"

SIDE_TO_FIX = {"BUY": "1", "SELL": "2"}
FIX_TO_SIDE = {"1": "BUY", "2": "SELL", "5": "SELL", "6": "SELL"}
ORDTYPE_TO_FIX = {"MKT": "1", "LMT": "2"}
FIX_TO_ORDTYPE = {"1": "MKT", "2": "LMT"}
TIF_TO_FIX = {"DAY": "0", "IOC": "3"}
#: Read: 0 DAY, 3 IOC; 4 FOK as IOC (immediate), 1 GTC / 5 GTX / 6 GTD as DAY (intraday analysis only).
FIX_TO_TIF = {"0": "DAY", "3": "IOC", "4": "IOC", "1": "DAY", "5": "DAY", "6": "DAY"}
LIQ_TO_FIX = {"ADD": "1", "REMOVE": "2"}
FIX_TO_LIQ = {"1": "ADD", "2": "REMOVE", "3": "REMOVE"}
#: Final report per canonical child status: (ExecType 150, OrdStatus 39).
STATUS_TO_FIX = {"FILLED": ("3", "2"), "PARTIAL": ("3", "3"), "CANCELLED": ("4", "4"), "REJECTED": ("8", "8")}
FILL_EXEC_TYPES = {"F", "1", "2"}
FINAL_EXEC_TYPES = {"3", "4", "8", "C"}
FINAL_ORD_STATUSES = {"2", "3", "4", "8", "C"}


def fix_time(ns: int) -> str:
    """UTC ns since the epoch -> ``YYYYMMDD-HH:MM:SS.nnnnnnnnn``."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}"


def parse_fix_time(text: str) -> int:
    """``YYYYMMDD-HH:MM:SS[.f{1,9}]`` UTC -> ns since the epoch (ValueError if malformed)."""
    head, _, frac = text.partition(".")
    if len(head) != 17 or (frac and (not frac.isdigit() or len(frac) > 9)):
        raise ValueError(f"bad UTCTimestamp {text!r}")
    secs = calendar.timegm(time.strptime(head, "%Y%m%d-%H:%M:%S"))
    return secs * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


def checksum(data: bytes) -> int:
    return sum(data) % 256


def encode_message(begin_string: str, fields: list[tuple[str, str]], delimiter: str = SOH) -> str:
    """One FIX message (no newline) with correct 9 BodyLength and 10 CheckSum; ``fields`` start at 35."""
    body = "".join(f"{t}={v}{SOH}" for t, v in fields)
    head = f"8={begin_string}{SOH}9={len(body.encode())}{SOH}"
    msg = head + body
    msg += f"10={checksum(msg.encode()):03d}{SOH}"
    return msg if delimiter == SOH else msg.replace(SOH, delimiter)


class FixLineError(ValueError):
    """A line that cannot be a valid FIX message; ``check`` is a short check name."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check


def decode_message(line: str) -> dict[str, str]:
    """Parse and verify one line: framing, body length and checksum. Returns tag -> value (first
    occurrence). Text before ``8=FIX`` (a log prefix) is ignored."""
    start = line.find("8=FIX")
    if start < 0:
        raise FixLineError("fix parse", "no 8=FIX BeginString")
    msg = line[start:].rstrip("\r\n")
    delim = SOH if SOH in msg else "|"
    norm = msg if delim == SOH else msg.replace("|", SOH)
    if not norm.endswith(SOH):
        norm += SOH
    cut = norm.rfind(SOH + "10=")
    if cut < 0:
        raise FixLineError("fix missing tag", "missing required tag 10 (CheckSum)")
    fields: dict[str, str] = {}
    for part in norm[:-1].split(SOH):
        tag, eq, value = part.partition("=")
        if not eq or not tag.isdigit():
            raise FixLineError("fix parse", f"malformed field {part!r}")
        fields.setdefault(tag, value)
    given = fields[T_CHECKSUM]
    want = checksum(norm[:cut + 1].encode())
    alt = checksum(msg[:msg.rfind(delim + "10=") + 1].encode()) if delim != SOH else want
    if not given.isdigit() or int(given) not in (want, alt):
        raise FixLineError("fix checksum", f"bad checksum 10={given}, computed {want:03d}")
    if T_LEN not in fields or T_TYPE not in fields:
        missing = T_LEN if T_LEN not in fields else T_TYPE
        raise FixLineError("fix missing tag", f"missing required tag {missing}")
    body_start = norm.find(SOH, norm.find(SOH + "9=") + 1) + 1
    body_len = len(norm[body_start:cut + 1].encode())
    if fields[T_LEN] != str(body_len):
        raise FixLineError("fix body length", f"bad body length 9={fields[T_LEN]}, computed {body_len}")
    return fields
