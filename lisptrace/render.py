"""Text renderings of decoded values: a one-line summary (the Info column) and a field tree.

Both are generic over the codecs' dataclasses, so every message type renders without code of
its own: the summary names the message, its set flags and its EID-prefixes; the tree lists
every field with the byte span it came from (``[offset+length]``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

# importing the codecs and the ingest layers registers their anomaly codes
import dissectors.lisp
import dissectors.mip6.ext
import dissectors.mip6.mh
import dissectors.mip6.nd  # noqa: F401
import lisptrace.ingest.anomalies  # noqa: F401
from dissectors.core import ANOMALY_CODES, Value

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\b)|[A-Z][a-z0-9]*|[a-z0-9]+")


_ACRONYMS = {"Eid": "EID", "Ecm": "ECM", "Itr": "ITR", "Rloc": "RLOC", "Lcaf": "LCAF", "Ip": "IP"}


def message_name(value: Value) -> str:
    """``MapNotifyAck`` -> ``Map-Notify-Ack``, ``EidRecord`` -> ``EID-Record``."""
    words = _WORD.findall(type(value).__name__)
    return "-".join(_ACRONYMS.get(w, w) for w in words)


def _fields(value: Value) -> Iterator[tuple[str, object]]:
    for f in dataclasses.fields(value):
        if f.name not in ("spans", "anomalies"):
            yield f.name, getattr(value, f.name)


def summary(value: Value) -> str:
    """One line: name, set flags, EID-prefixes, inner message, anomaly codes."""
    parts = [message_name(value)]
    flags = [name for name, v in _fields(value) if v is True]
    if flags:
        parts.append("[" + " ".join(flags) + "]")
    records = getattr(value, "records", None)
    if isinstance(records, tuple) and records:
        prefixes = [getattr(r, "eid_prefix", "?") for r in records]
        parts.append(f"{len(records)} record{'s' * (len(records) != 1)}: " + ", ".join(prefixes))
    for name, v in _fields(value):
        if isinstance(v, Value) and name in ("message", "inner", "packet"):
            parts.append("| " + summary(v))
    if value.anomalies:
        parts.append("{" + ", ".join(sorted({a.code for a in value.anomalies})) + "}")
    return " ".join(parts)


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.hex() if v else "(empty)"
    if isinstance(v, int) and not isinstance(v, bool) and v > 9:
        return f"{v} (0x{v:x})"
    return str(v)


def tree(
    value: Value, spans: dict[str, tuple[int, int]] | None = None, path: str = ""
) -> list[str]:
    """The field tree of ``value``, indented, each leaf with its byte span when known."""
    spans = value.spans if spans is None else spans
    lines: list[str] = []
    unknown = (1 << 62, 0)
    fields = sorted(
        _fields(value),
        key=lambda nv: spans.get(path + nv[0], spans.get(f"{path}{nv[0]}[0]", unknown))[0],
    )
    for name, v in fields:
        key = path + name
        span = spans.get(key)
        where = f" [{span[0]}+{span[1]}]" if span else ""
        items = list(enumerate(v)) if isinstance(v, tuple) else None
        if isinstance(v, Value):
            lines.append(f"{name}: {_short(v)}{where}")
            if _is_composite(v):
                lines += ["    " + line for line in tree(v, spans, key + ".")]
        elif items is not None and all(isinstance(x, Value) for _, x in items) and items:
            lines.append(f"{name}: {len(items)} item{'s' * (len(items) != 1)}{where}")
            for i, item in items:
                item_key = f"{key}[{i}]"
                item_span = spans.get(item_key)
                item_where = f" [{item_span[0]}+{item_span[1]}]" if item_span else ""
                lines.append(f"    [{i}] {_short(item)}{item_where}")
                lines += ["        " + line for line in tree(item, spans, item_key + ".")]
        else:
            lines.append(f"{name}: {_text(v)}{where}")
    return lines


def _is_composite(v: Value) -> bool:
    """Worth expanding: more than one field (a plain IPv4 address is a leaf)."""
    return sum(1 for _ in _fields(v)) > 1


def _short(v: Value) -> str:
    canonical = getattr(v, "canonical", None)
    return canonical() if callable(canonical) else message_name(v)


def anomaly_catalog_markdown() -> str:
    """The anomaly catalog (every code the codecs can raise) as a Markdown table."""
    rows = ["| code | level | Wireshark expert | meaning |", "|---|---|---|---|"]
    for c in sorted(ANOMALY_CODES.values(), key=lambda c: c.code):
        expert = f"`{c.wireshark}`" if c.wireshark else "-"
        rows.append(f"| `{c.code}` | {c.level} | {expert} | {c.summary} |")
    return "\n".join(rows) + "\n"
