"""ICMPv6 Router Advertisement (RFC 4861 sec. 4.2) with the HMIPv6 MAP option (RFC 5380 sec. 5).

A minimal RA codec: the fixed fields and the option list, with the Prefix Information option
(type 3) and the MAP option (type 23) decoded and every other option kept raw, so that MAP
options can be found in captured RAs.

MAP option::

    Type = 23 (8) | Length = 3 (8, units of 8 octets) | Dist (4) | Pref (4) | R (1) | Reserved (7)
    Valid Lifetime (32, seconds) | Global IP address of the MAP (128)

Checks: Length must be 3 (``hmip.map.bad_length``; a MAP option shorter than 3 units is kept
raw), Dist 0 is forbidden (``hmip.map.dist_zero``). Reserved bits (RFC 4140 had flags there) are
kept as an int and noted as ``reserved_bits``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Self

from dissectors.core import RESERVED_BITS, Anomaly, Malformed, Reader, Value, anomaly_code
from dissectors.mip6._fields import (
    V6_ZERO,
    RawTlv,
    build_layout,
    checksum_to_send,
    expected_checksum,
    read_layout,
)

MAP_BAD_LENGTH = anomaly_code(
    "hmip.map.bad_length", "warn", "MAP option Length is not 3 (RFC 5380 sec. 5)"
)
MAP_DIST_ZERO = anomaly_code(
    "hmip.map.dist_zero", "warn", "MAP option with Dist 0 (RFC 5380 sec. 5: must not be 0)"
)
ICMPV6_BAD_CHECKSUM = anomaly_code(
    "icmpv6.bad_checksum", "error", "ICMPv6 checksum does not match (pseudo-header incl.)"
)

ICMPV6_RA = 134
ND_OPT_PREFIX_INFORMATION = 3
ND_OPT_MAP = 23
IPPROTO_ICMPV6 = 58


@dataclass(frozen=True, slots=True)
class NdOption(Value):
    """Base of the ND options (Type, Length in 8-octet units, data)."""

    @property
    def opt_type(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class RawNdOption(RawTlv, NdOption):
    """An ND option kept as bytes (everything after Type and Length)."""

    data: bytes = bytes(6)

    def build(self) -> bytes:
        if (2 + len(self.data)) % 8:
            raise ValueError("an ND option is a multiple of 8 bytes")
        return bytes([self.type_value, (2 + len(self.data)) // 8]) + self.data


@dataclass(frozen=True, slots=True)
class PrefixInformation(NdOption):
    """Type 3 (RFC 4861 sec. 4.6.2; R flag RFC 6275 sec. 7.2)."""

    LAYOUT = (
        ("u8", "prefix_length"),
        ("bits8", (("l", 1), ("a", 1), ("r", 1), ("reserved1", 5))),
        ("u32", "valid_lifetime"),
        ("u32", "preferred_lifetime"),
        ("u32", "reserved2"),
        ("ip6", "prefix"),
    )
    prefix_length: int = 64
    l: bool = False  # noqa: E741 - on-link flag, RFC 4861's name
    a: bool = False
    r: bool = False
    reserved1: int = 0
    valid_lifetime: int = 0
    preferred_lifetime: int = 0
    reserved2: int = 0
    prefix: ipaddress.IPv6Address = V6_ZERO

    @property
    def opt_type(self) -> int:
        return ND_OPT_PREFIX_INFORMATION

    def build(self) -> bytes:
        return bytes([3, 4]) + build_layout(self, self.LAYOUT)


@dataclass(frozen=True, slots=True)
class MapOption(NdOption):
    """Type 23, the HMIPv6 MAP option; ``extra`` keeps what a Length > 3 adds."""

    LAYOUT = (
        ("bits8", (("dist", 4), ("pref", 4))),
        ("bits8", (("r", 1), ("reserved", 7))),
        ("u32", "valid_lifetime"),
        ("ip6", "map_address"),
    )
    dist: int = 1
    pref: int = 0
    r: bool = False
    reserved: int = 0
    valid_lifetime: int = 0
    map_address: ipaddress.IPv6Address = V6_ZERO
    extra: bytes = b""

    @property
    def opt_type(self) -> int:
        return ND_OPT_MAP

    @classmethod
    def read(cls, r: Reader) -> Self:
        start = r.pos
        t = r.u8("type")
        if t != ND_OPT_MAP:
            raise Malformed(start, f"option type {t}, not a MAP option")
        n = r.u8("length")
        if n < 3:
            raise Malformed(start + 1, f"MAP option Length {n} cannot hold the MAP address")
        if n != 3:
            r.anomaly(MAP_BAD_LENGTH, f"Length {n}", offset=start + 1)
        fields = read_layout(r, cls.LAYOUT)
        extra = r.raw(n * 8 - 24, "extra")
        if fields["dist"] == 0:
            r.anomaly(MAP_DIST_ZERO, "Dist 0", offset=start + 2)
        if fields["reserved"]:
            r.anomaly(RESERVED_BITS, f"MAP reserved {fields['reserved']:#04x} (RFC 4140 flags?)")
        return cls(**fields, extra=extra)

    def build(self) -> bytes:
        if len(self.extra) % 8:
            raise ValueError("MAP option extra bytes must be a multiple of 8")
        n = (24 + len(self.extra)) // 8
        return bytes([ND_OPT_MAP, n]) + build_layout(self, self.LAYOUT) + self.extra


def read_nd_option(r: Reader) -> NdOption:
    start = r.pos
    t = r.u8("type")
    n = r.u8("length")
    if n == 0:
        raise Malformed(start + 1, f"ND option {t} with Length 0")
    if n * 8 - 2 > r.remaining:
        raise Malformed(start + 1, f"ND option {t} Length {n} runs past the message")
    if t == ND_OPT_MAP:
        if n < 3:
            r.anomaly(MAP_BAD_LENGTH, f"Length {n} (kept raw)", offset=start + 1)
            return RawNdOption(type_value=t, data=r.raw(n * 8 - 2, "data"))
        r.pos = start
        return MapOption.read(r)
    if t == ND_OPT_PREFIX_INFORMATION and n == 4:
        return PrefixInformation(**read_layout(r, PrefixInformation.LAYOUT))
    return RawNdOption(type_value=t, data=r.raw(n * 8 - 2, "data"))


@dataclass(frozen=True, slots=True)
class RouterAdvertisement(Value):
    """ICMPv6 type 134: Cur Hop Limit, M O H Prf(2) P + 2 reserved, lifetimes, options.

    ``checksum`` None = compute on build (with ``src``/``dst``); ``parse(..., src, dst)``
    verifies it (``checksum_ok``, anomaly ``icmpv6.bad_checksum``).
    """

    LAYOUT = (
        ("u8", "cur_hop_limit"),
        ("bits8", (("m", 1), ("o", 1), ("h", 1), ("prf", 2), ("p", 1), ("reserved", 2))),
        ("u16", "router_lifetime"),
        ("u32", "reachable_time"),
        ("u32", "retrans_timer"),
    )
    code: int = 0
    checksum: int | None = None
    cur_hop_limit: int = 64
    m: bool = False
    o: bool = False
    h: bool = False
    prf: int = 0
    p: bool = False
    reserved: int = 0
    router_lifetime: int = 0
    reachable_time: int = 0
    retrans_timer: int = 0
    options: tuple[NdOption, ...] = ()
    checksum_ok: bool | None = field(default=None, compare=False)

    @classmethod
    def read(cls, r: Reader) -> Self:
        start = r.pos
        t = r.u8("icmp_type")
        if t != ICMPV6_RA:
            raise Malformed(start, f"ICMPv6 type {t}, not a Router Advertisement")
        code = r.u8("code")
        checksum = r.u16("checksum")
        fields = read_layout(r, cls.LAYOUT)
        opts: list[NdOption] = []
        while r.remaining > 0:
            with r.scope(f"options[{len(opts)}]"):
                opts.append(read_nd_option(r))
        return cls(code=code, checksum=checksum, options=tuple(opts), **fields)

    @classmethod
    def parse(
        cls,
        buf: bytes | bytearray | memoryview,
        *,
        allow_trailing: bool = False,
        src: ipaddress.IPv6Address | str | None = None,
        dst: ipaddress.IPv6Address | str | None = None,
    ) -> Self:
        value = super(RouterAdvertisement, cls).parse(buf, allow_trailing=allow_trailing)
        if src is not None and dst is not None:
            want = expected_checksum(bytes(buf), 2, src, dst, IPPROTO_ICMPV6)
            ok = want == value.checksum
            object.__setattr__(value, "checksum_ok", ok)
            if not ok:
                object.__setattr__(
                    value,
                    "anomalies",
                    (*value.anomalies, Anomaly(ICMPV6_BAD_CHECKSUM, 2, f"expected {want:#06x}")),
                )
        return value

    def build(
        self,
        src: ipaddress.IPv6Address | str | None = None,
        dst: ipaddress.IPv6Address | str | None = None,
    ) -> bytes:
        body = build_layout(self, self.LAYOUT) + b"".join(o.build() for o in self.options)
        message = bytes([ICMPV6_RA, self.code, 0, 0]) + body
        checksum = checksum_to_send(self.checksum, message, 2, src, dst, IPPROTO_ICMPV6)
        return bytes([ICMPV6_RA, self.code]) + checksum.to_bytes(2, "big") + body

    @property
    def map_options(self) -> tuple[MapOption, ...]:
        return tuple(o for o in self.options if isinstance(o, MapOption))

    @property
    def prefixes(self) -> tuple[PrefixInformation, ...]:
        return tuple(o for o in self.options if isinstance(o, PrefixInformation))
