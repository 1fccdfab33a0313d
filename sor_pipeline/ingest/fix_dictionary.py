"""The FIX specification's data dictionaries (QuickFIX's XML files, vendored under ``fix_spec/`` with
their licence, ``fix_spec/LICENSE.quickfix``): field names, types and enumerations, and each
message's required fields, per version.

Versions read: FIX 4.2 (``FIX42.xml``), FIX 4.4 (``FIX44.xml``) and FIX 5.0 SP2 over the FIXT.1.1
session layer (``FIXT11.xml`` for the header and trailer, ``FIX50SP2.xml`` for the application
messages; a FIXT message whose ApplVerID 1128 names FIX 5.0 or 5.0 SP1 is checked against SP2, a
superset for the messages read here).

:meth:`Dictionary.check` returns, for one decoded message, every problem as ``(tag, check, text)``:
a value not of its field's type (``fix type``), a value outside its field's enumeration
(``fix enum``), or a field the message type requires that is absent (``fix missing tag``).
Tags above 5000 (user-defined) and tags the dictionary does not know are not checked.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

SPEC_DIR = Path(__file__).with_name("fix_spec")
#: BeginString -> dictionary file of the application messages (FIXT: by ApplVerID, see ``for_message``).
FILES = {"FIX.4.2": "FIX42.xml", "FIX.4.4": "FIX44.xml", "FIXT.1.1": "FIX50SP2.xml"}
#: ApplVerID (1128) values read, all checked against FIX 5.0 SP2.
APPL_VER_IDS = {"7": "FIX.5.0", "8": "FIX.5.0SP1", "9": "FIX.5.0SP2"}

_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")
_TS = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}(\.\d{1,9})?$")
_INT_TYPES = {"INT", "LENGTH", "NUMINGROUP", "SEQNUM", "TAGNUM", "DAYOFMONTH"}
_FLOAT_TYPES = {"FLOAT", "QTY", "PRICE", "PRICEOFFSET", "AMT", "PERCENTAGE"}


@dataclass(frozen=True)
class FieldDef:
    number: str
    name: str
    type: str
    enums: frozenset[str]


@dataclass
class Dictionary:
    """One FIX version's fields and the required fields of its messages (top level, required
    components expanded; repeating groups are not descended into)."""

    version: str
    fields: dict[str, FieldDef] = field(default_factory=dict)
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)
    message_names: dict[str, str] = field(default_factory=dict)

    def name(self, tag: str) -> str:
        f = self.fields.get(tag)
        return f.name if f else "user-defined" if tag.isdigit() and int(tag) >= 5000 else "unknown"

    def label(self, tag: str) -> str:
        """``54 (Side)``: the tag with its name, for messages."""
        return f"{tag} ({self.name(tag)})"

    def check(self, msg: dict[str, str], tags: set[str] | None = None,
              required: set[str] | None = None) -> list[tuple[str, str, str]]:
        """Problems of ``msg`` (tag -> first value): types and enums of the ``tags`` given (all
        known tags when None), and the message type's required fields among ``required`` (default
        ``tags``)."""
        need = tags if required is None else required
        problems: list[tuple[str, str, str]] = []
        for tag, value in msg.items():
            if tags is not None and tag not in tags:
                continue
            f = self.fields.get(tag)
            if f is None or (tag.isdigit() and int(tag) >= 5000):
                continue
            bad = _type_error(f.type, value)
            if bad:
                problems.append((tag, "fix type", f"{self.label(tag)}={value!r} is not a {f.type} ({self.version})"))
            elif f.enums and value not in f.enums and not (f.type.startswith("MULTIPLE")):
                problems.append((tag, "fix enum", f"{self.label(tag)}={value!r} is not a valid value in "
                                                  f"{self.version} (valid: {', '.join(sorted(f.enums))})"))
        mtype = msg.get("35", "")
        for tag in self.required.get(mtype, ()):
            if (need is None or tag in need) and not msg.get(tag):
                problems.append((tag, "fix missing tag", f"missing required tag {self.label(tag)}, required in "
                                                      f"{self.message_names.get(mtype, mtype)} ({self.version})"))
        return problems


def _type_error(kind: str, value: str) -> bool:
    if kind in _INT_TYPES:
        return not _INT.match(value)
    if kind in _FLOAT_TYPES:
        return not _FLOAT.match(value)
    if kind == "UTCTIMESTAMP":
        return not _TS.match(value)
    if kind == "CHAR":
        return len(value) != 1
    if kind == "BOOLEAN":
        return value not in ("Y", "N")
    return False


def _expand(node: ET.Element, components: dict[str, ET.Element], numbers: dict[str, str]) -> list[str]:
    """Required field numbers directly in ``node`` (required components expanded)."""
    out: list[str] = []
    for child in node:
        if child.get("required") != "Y":
            continue
        if child.tag == "field" and child.get("name") in numbers:
            out.append(numbers[child.get("name", "")])
        elif child.tag == "component" and child.get("name") in components:
            out.extend(_expand(components[child.get("name", "")], components, numbers))
        elif child.tag == "group" and child.get("name") in numbers:  # the count tag only
            out.append(numbers[child.get("name", "")])
    return out


def _parse(path: Path) -> tuple[dict[str, FieldDef], ET.Element]:
    root = ET.parse(path).getroot()
    defs = {}
    for f in root.iter("field"):
        number = f.get("number")
        if number is not None:
            enums = frozenset(v.get("enum", "") for v in f.findall("value"))
            defs[number] = FieldDef(number, f.get("name", ""), f.get("type", ""), enums)
    return defs, root


@cache
def load(file_name: str) -> Dictionary:
    """The dictionary of ``fix_spec/<file_name>`` (FIX 5.0 SP2 gets the FIXT.1.1 session fields)."""
    defs, root = _parse(SPEC_DIR / file_name)
    version = f"{root.get('type')}.{root.get('major')}.{root.get('minor')}"
    if root.get("servicepack", "0") != "0":
        version += f"SP{root.get('servicepack')}"
    if file_name == "FIX50SP2.xml":
        session, _ = _parse(SPEC_DIR / "FIXT11.xml")
        defs = {**defs, **session}
    numbers = {d.name: n for n, d in defs.items()}
    components = {c.get("name", ""): c for c in root.iter("component") if c.find("*") is not None}
    d = Dictionary(version=version, fields=defs)
    messages = root.find("messages")
    for m in messages if messages is not None else []:
        mtype = m.get("msgtype", "")
        d.required[mtype] = tuple(_expand(m, components, numbers))
        d.message_names[mtype] = m.get("name", mtype)
    return d


class UnknownVersionError(ValueError):
    pass


def for_message(msg: dict[str, str], default_appl_ver_id: str = "9") -> Dictionary:
    """The dictionary for a decoded message, by BeginString (8) and, on FIXT.1.1, ApplVerID (1128)."""
    begin = msg.get("8", "")
    if begin == "FIXT.1.1":
        appl = msg.get("1128") or default_appl_ver_id
        if appl not in APPL_VER_IDS:
            raise UnknownVersionError(f"ApplVerID 1128={appl!r} is not read (read: "
                                      f"{', '.join(f'{k}={v}' for k, v in APPL_VER_IDS.items())})")
    if begin not in FILES:
        raise UnknownVersionError(f"BeginString 8={begin!r} is not read (read: {', '.join(FILES)})")
    return load(FILES[begin])
