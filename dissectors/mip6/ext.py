"""IPv6 extension headers that Mobile IPv6 uses, and a walker to the upper-layer header.

* :class:`Type2RoutingHeader` (RFC 6275 sec. 6.4): Next Header | Hdr Ext Len (2) |
  Routing Type (2) | Segments Left (1) | Reserved (32) | Home Address (128). A different
  Hdr Ext Len or Segments Left still decodes, with the anomalies ``mip6.rh2.bad_length`` /
  ``mip6.rh2.bad_segments_left``.
* :class:`DestinationOptions` (RFC 8200 sec. 4.6) with the Home Address option
  (type 201, Length 16, RFC 6275 sec. 6.3); a Home Address option of another length is kept
  raw with ``mip6.hoa.bad_length``.
* :func:`walk_ipv6` follows the extension header chain of a whole IPv6 packet.
* :func:`checksum_addresses` gives the (source, destination) pair that the upper-layer
  checksum (MH, ICMPv6, ...) uses: the Home Address option's address replaces the source, the
  Type 2 Routing Header's home address replaces the destination while Segments Left > 0.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Self

from dissectors.core import RESERVED_BITS, Anomaly, Malformed, Reader, Value, anomaly_code
from dissectors.inet import (
    PROTO_AH,
    PROTO_DSTOPTS,
    PROTO_FRAGMENT,
    PROTO_HOPOPT,
    PROTO_ROUTING,
    Ipv6Extension,
)
from dissectors.mip6._fields import V6_ZERO, RawTlv

RH2_BAD_LENGTH = anomaly_code(
    "mip6.rh2.bad_length", "warn", "Type 2 Routing Header with Hdr Ext Len other than 2"
)
RH2_BAD_SEGMENTS = anomaly_code(
    "mip6.rh2.bad_segments_left", "warn", "Type 2 Routing Header with Segments Left other than 1"
)
HOA_BAD_LENGTH = anomaly_code(
    "mip6.hoa.bad_length", "warn", "Home Address destination option with Length other than 16"
)

IPPROTO_HOPOPTS = PROTO_HOPOPT
IPPROTO_ROUTING = PROTO_ROUTING
IPPROTO_FRAGMENT = PROTO_FRAGMENT
IPPROTO_AH = PROTO_AH
IPPROTO_DSTOPTS = PROTO_DSTOPTS
EXTENSION_HEADERS = (
    IPPROTO_HOPOPTS,
    IPPROTO_ROUTING,
    IPPROTO_FRAGMENT,
    IPPROTO_AH,
    IPPROTO_DSTOPTS,
)


@dataclass(frozen=True, slots=True)
class Type2RoutingHeader(Value):
    """Routing header type 2; ``extra`` holds the bytes a Hdr Ext Len > 2 adds after the HoA."""

    next_header: int = 59
    segments_left: int = 1
    reserved: int = 0
    home_address: ipaddress.IPv6Address = V6_ZERO
    extra: bytes = b""

    ROUTING_TYPE: ClassVar[int] = 2

    @classmethod
    def read(cls, r: Reader) -> Self:
        start = r.pos
        nh = r.u8("next_header")
        hlen = r.u8("hdr_ext_len")
        rtype = r.u8("routing_type")
        segments_left = r.u8("segments_left")
        if rtype != 2:
            raise Malformed(start + 2, f"routing type {rtype}, not a Type 2 Routing Header")
        if hlen < 2:
            raise Malformed(start + 1, f"Hdr Ext Len {hlen} cannot hold the home address")
        if hlen != 2:
            r.anomaly(RH2_BAD_LENGTH, f"Hdr Ext Len {hlen}", offset=start + 1)
        if segments_left != 1:
            r.anomaly(RH2_BAD_SEGMENTS, f"Segments Left {segments_left}", offset=start + 3)
        reserved = r.u32("reserved")
        if reserved:
            r.anomaly(RESERVED_BITS, f"RH2 Reserved = {reserved:#x}")
        home = ipaddress.IPv6Address(r.raw(16, "home_address"))
        extra = r.raw((hlen + 1) * 8 - 24, "extra")
        return cls(
            next_header=nh,
            segments_left=segments_left,
            reserved=reserved,
            home_address=home,
            extra=extra,
        )

    def build(self) -> bytes:
        if len(self.extra) % 8:
            raise ValueError("RH2 extra bytes must be a multiple of 8")
        hlen = (24 + len(self.extra)) // 8 - 1
        return (
            bytes([self.next_header, hlen, 2, self.segments_left])
            + self.reserved.to_bytes(4, "big")
            + self.home_address.packed
            + self.extra
        )


@dataclass(frozen=True, slots=True)
class DestOption(Value):
    """Base of the destination options (TLV: Option Type, Opt Data Len, data)."""

    @property
    def opt_type(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class DestPad1(DestOption):
    @property
    def opt_type(self) -> int:
        return 0

    def build(self) -> bytes:
        return b"\x00"


@dataclass(frozen=True, slots=True)
class DestPadN(DestOption):
    padding: bytes = b""

    @property
    def opt_type(self) -> int:
        return 1

    def build(self) -> bytes:
        return bytes([1, len(self.padding)]) + self.padding


@dataclass(frozen=True, slots=True)
class HomeAddressOption(DestOption):
    """Option type 201 (RFC 6275 sec. 6.3): the mobile node's home address."""

    home_address: ipaddress.IPv6Address = V6_ZERO

    @property
    def opt_type(self) -> int:
        return 201

    def build(self) -> bytes:
        return bytes([201, 16]) + self.home_address.packed


@dataclass(frozen=True, slots=True)
class RawDestOption(RawTlv, DestOption):
    """A destination option other than Pad1, PadN and a 16-byte Home Address, kept raw."""


def read_dest_option(r: Reader) -> DestOption:
    start = r.pos
    t = r.u8("type")
    if t == 0:
        return DestPad1()
    n = r.u8("length")
    data = r.raw(n, "data")
    if t == 1:
        return DestPadN(padding=data)
    if t == 201:
        if n == 16:
            return HomeAddressOption(home_address=ipaddress.IPv6Address(data))
        r.anomaly(HOA_BAD_LENGTH, f"Length {n}", offset=start)
    return RawDestOption(type_value=t, data=data)


@dataclass(frozen=True, slots=True)
class DestinationOptions(Value):
    """A Destination Options header (next header 60): Next Header, Hdr Ext Len, options."""

    next_header: int = 59
    options: tuple[DestOption, ...] = ()

    @classmethod
    def read(cls, r: Reader) -> Self:
        nh = r.u8("next_header")
        hlen = r.u8("hdr_ext_len")
        opts: list[DestOption] = []
        with r.limit((hlen + 1) * 8 - 2, "options"):
            while r.remaining > 0:
                with r.scope(f"options[{len(opts)}]"):
                    opts.append(read_dest_option(r))
        return cls(next_header=nh, options=tuple(opts))

    def build(self) -> bytes:
        body = b"".join(o.build() for o in self.options)
        if (2 + len(body)) % 8:
            raise ValueError("Destination Options header must be a multiple of 8 bytes")
        return bytes([self.next_header, (2 + len(body)) // 8 - 1]) + body

    @property
    def home_address(self) -> ipaddress.IPv6Address | None:
        for o in self.options:
            if isinstance(o, HomeAddressOption):
                return o.home_address
        return None


@dataclass(frozen=True, slots=True)
class ExtensionHeader:
    """One header of the chain: its protocol number, offset in the packet and bytes."""

    proto: int
    offset: int
    data: bytes
    decoded: Value | None = None


@dataclass(frozen=True, slots=True)
class Ipv6Chain:
    """An IPv6 packet split into fixed header, extension headers and the upper layer."""

    src: ipaddress.IPv6Address
    dst: ipaddress.IPv6Address
    headers: tuple[ExtensionHeader, ...]
    upper_proto: int
    upper_offset: int
    payload_end: int
    anomalies: tuple[Anomaly, ...] = field(default=())

    @property
    def home_address_option(self) -> ipaddress.IPv6Address | None:
        for h in self.headers:
            if isinstance(h.decoded, DestinationOptions) and h.decoded.home_address:
                return h.decoded.home_address
        return None

    @property
    def type2_routing_header(self) -> Type2RoutingHeader | None:
        for h in self.headers:
            if isinstance(h.decoded, Type2RoutingHeader):
                return h.decoded
        return None

    def checksum_addresses(self) -> tuple[ipaddress.IPv6Address, ipaddress.IPv6Address]:
        return checksum_addresses(self.src, self.dst, [h.decoded for h in self.headers])


def walk_ipv6(packet: bytes) -> Ipv6Chain:
    """Follow the extension headers of an IPv6 packet (starting at the version nibble).

    Hop-by-Hop, Routing, Destination Options, Fragment and AH are stepped over (each read with
    :meth:`dissectors.inet.Ipv6Extension.read_as`); Destination Options and Type 2 Routing
    Headers are decoded. Raises only :class:`DecodeError`.

    Unlike :class:`dissectors.inet.Ipv6Header`, which rejects a Payload Length longer than the
    bytes at hand and keeps the chain inside it, this walker serves captures: a packet cut by
    the snap length, or with Payload Length 0 (jumbogram), is walked over the bytes present.
    """
    r = Reader(bytes(packet))
    first = r.u32("version_class_flow")
    if first >> 28 != 6:
        raise Malformed(0, f"IP version {first >> 28}, not 6")
    plen = r.u16("payload_length")
    nh = r.u8("next_header")
    r.u8("hop_limit")
    src = ipaddress.IPv6Address(r.raw(16, "src"))
    dst = ipaddress.IPv6Address(r.raw(16, "dst"))
    end = min(40 + plen, len(packet)) if plen else len(packet)
    headers: list[ExtensionHeader] = []
    anomalies: list[Anomaly] = []
    while nh in EXTENSION_HEADERS:
        start = r.pos
        with r.scope(f"ext[{len(headers)}]"):
            ext = Ipv6Extension.read_as(r, nh)
        data = ext.build()
        decoded: Value | None = None
        sub = Reader(data)
        if nh == IPPROTO_DSTOPTS:
            decoded = DestinationOptions.read(sub)
        elif nh == IPPROTO_ROUTING and ext.routing_type == 2:
            decoded = Type2RoutingHeader.read(sub)
        for a in sub.anomalies:
            anomalies.append(Anomaly(a.code, a.offset + start, a.detail))
        headers.append(ExtensionHeader(nh, start, data, decoded))
        nh = ext.next_header
    return Ipv6Chain(src, dst, tuple(headers), nh, r.pos, max(end, r.pos), tuple(anomalies))


def checksum_addresses(
    src: ipaddress.IPv6Address | str,
    dst: ipaddress.IPv6Address | str,
    headers: Sequence[Value | None] = (),
) -> tuple[ipaddress.IPv6Address, ipaddress.IPv6Address]:
    """The pseudo-header addresses for the upper-layer checksum, given the decoded headers."""
    s, d = ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst)
    for h in headers:
        if isinstance(h, DestinationOptions) and h.home_address is not None:
            s = h.home_address
        elif isinstance(h, Type2RoutingHeader) and h.segments_left > 0:
            d = h.home_address
    return s, d
