"""Sample rows for every table, built from the schemas (no capture, no codec)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pyarrow as pa

from lisptrace.tables import ADDR_BIN, make_batch, schema

T0 = 1_700_000_000_000_000_000


def _value(field: pa.Field, i: int) -> Any:
    t = field.type
    if field.name in ("frame",):
        return i + 1
    if field.name == "time_ns":
        return T0 + i * 1000
    if field.name == "anomalies":
        return ["udp.checksum_bad", "reserved_bits"][: i % 3]
    if field.nullable and i % 7 == 3:
        return None
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_integer(t):
        return i % (1 << min(t.bit_width - 1, 16))
    if pa.types.is_string(t):
        return f"{field.name}-{i}"
    if t == ADDR_BIN:
        return ipaddress.ip_address(i).packed.rjust(16, b"\0")
    if pa.types.is_fixed_size_binary(t):
        return bytes([i % 256]) * t.byte_width
    if pa.types.is_list(t):
        inner = pa.field("item", t.value_type, nullable=False)
        return [_value(inner, i + k) for k in range(i % 3)]
    raise AssertionError(f"no sample for {field}")  # pragma: no cover


def sample_batch(table: str, n: int, start: int = 0) -> pa.RecordBatch:
    """``n`` rows of ``table``, frame numbers ``start + 1 ...``, every column filled."""
    sch = schema(table)
    cols = {f.name: [_value(f, start + i) for i in range(n)] for f in sch}
    return make_batch(table, cols, n)
