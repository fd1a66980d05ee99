"""Declarative fixed layouts shared by the Mobility Header messages and mobility options.

A layout is a tuple of items, read and written in order:

* ``("u8" | "u16" | "u32" | "u64", name)``: an unsigned big-endian integer;
* ``("ip4" | "ip6", name)``: an address (:mod:`ipaddress` value);
* ``("b<n>", name)``: ``n`` raw bytes (e.g. ``"b8"``);
* ``("rest", name)``: every byte up to the reader's end (variable part, raw);
* ``("bits8" | "bits16" | "bits32", ((name, width), ...))``: one word split into bit fields,
  most significant first; a 1-bit field is a ``bool``, wider ones are ``int``.

The codec class declares one dataclass field per name; :func:`read_layout` returns the keyword
arguments for it and :func:`build_layout` writes them back byte-exactly.

Also shared by the family: the upper-layer checksum with the IPv6 pseudo-header
(:func:`expected_checksum`, :func:`checksum_to_send`; MH and ICMPv6) and :class:`RawTlv`, the
base of the raw options of the mobility, destination and ND option spaces.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from dissectors.core import Reader, Value
from dissectors.inet import internet_checksum

Layout = tuple[tuple[str, Any], ...]

V4_ZERO = ipaddress.IPv4Address(0)
V6_ZERO = ipaddress.IPv6Address(0)

_INT_SIZES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8}
_BITS = {"bits8": 8, "bits16": 16, "bits32": 32}


def read_layout(r: Reader, layout: Layout) -> dict[str, Any]:
    """Read ``layout`` at the reader's position; the field values by name."""
    out: dict[str, Any] = {}
    for kind, name in layout:
        if kind == "u8":
            out[name] = r.u8(name)
        elif kind == "u16":
            out[name] = r.u16(name)
        elif kind == "u32":
            out[name] = r.u32(name)
        elif kind == "u64":
            out[name] = r.u64(name)
        elif kind == "ip4":
            out[name] = ipaddress.IPv4Address(r.raw(4, name))
        elif kind == "ip6":
            out[name] = ipaddress.IPv6Address(r.raw(16, name))
        elif kind == "rest":
            out[name] = r.rest(name)
        elif kind in _BITS:
            width = _BITS[kind]
            first = name[0][0]
            word = {8: r.u8, 16: r.u16, 32: r.u32}[width](first)
            shift = width
            for sub, bits in name:
                shift -= bits
                value = (word >> shift) & ((1 << bits) - 1)
                out[sub] = bool(value) if bits == 1 else value
            r.alias(first, *(sub for sub, _ in name[1:]))
        elif kind.startswith("b"):
            out[name] = r.raw(int(kind[1:]), name)
        else:  # pragma: no cover - a programming error in a layout
            raise AssertionError(f"unknown layout kind {kind}")
    return out


def build_layout(obj: object, layout: Layout) -> bytes:
    """Encode the fields of ``obj`` named in ``layout``."""
    parts: list[bytes] = []
    for kind, name in layout:
        if kind in _INT_SIZES:
            parts.append(int(getattr(obj, name)).to_bytes(_INT_SIZES[kind], "big"))
        elif kind in ("ip4", "ip6"):
            parts.append(getattr(obj, name).packed)
        elif kind in _BITS:
            width = _BITS[kind]
            word, shift = 0, width
            for sub, bits in name:
                shift -= bits
                word |= (int(getattr(obj, sub)) & ((1 << bits) - 1)) << shift
            parts.append(word.to_bytes(width // 8, "big"))
        else:  # "rest" and "b<n>"
            parts.append(bytes(getattr(obj, name)))
    return b"".join(parts)


def layout_size(layout: Layout) -> int | None:
    """Bytes of a layout without a ``rest`` item (None if it has one)."""
    size = 0
    for kind, _ in layout:
        if kind == "rest":
            return None
        if kind in _INT_SIZES:
            size += _INT_SIZES[kind]
        elif kind == "ip4":
            size += 4
        elif kind == "ip6":
            size += 16
        elif kind in _BITS:
            size += _BITS[kind] // 8
        else:
            size += int(kind[1:])
    return size


def ipv6_pseudo_header_checksum(
    upper: bytes, src: ipaddress.IPv6Address | str, dst: ipaddress.IPv6Address | str, nh: int
) -> int:
    """Checksum of ``upper`` (its checksum field already zeroed) with the IPv6 pseudo-header."""
    s = ipaddress.IPv6Address(src).packed
    d = ipaddress.IPv6Address(dst).packed
    pseudo = s + d + len(upper).to_bytes(4, "big") + b"\x00\x00\x00" + bytes([nh])
    return internet_checksum(pseudo + upper)


def expected_checksum(
    message: bytes,
    at: int,
    src: ipaddress.IPv6Address | str,
    dst: ipaddress.IPv6Address | str,
    nh: int,
) -> int:
    """The checksum ``message`` should carry in its 16-bit field at byte ``at`` (whatever that
    field holds now), with the IPv6 pseudo-header for next header ``nh``."""
    raw = bytearray(message)
    raw[at : at + 2] = b"\x00\x00"
    return ipv6_pseudo_header_checksum(bytes(raw), src, dst, nh)


def checksum_to_send(
    checksum: int | None,
    message: bytes,
    at: int,
    src: ipaddress.IPv6Address | str | None,
    dst: ipaddress.IPv6Address | str | None,
    nh: int,
) -> int:
    """``checksum`` if set; else computed for ``message`` when both addresses are given; else 0."""
    if checksum is not None:
        return checksum
    if src is None or dst is None:
        return 0
    return expected_checksum(message, at, src, dst, nh)


@dataclass(frozen=True, slots=True)
class RawTlv(Value):
    """An option kept as bytes: 8-bit Type (a field, not a class constant), Length, ``data``.

    Shared by the raw options of the mobility, destination and ND option spaces; put it first
    among the bases so that its ``opt_type`` and ``build`` win. ``build`` writes the Length in
    octets; the ND option (8-octet units) overrides it.
    """

    type_value: int = 0
    data: bytes = b""

    @property
    def opt_type(self) -> int:
        return self.type_value

    def build(self) -> bytes:
        return bytes([self.type_value, len(self.data)]) + self.data
