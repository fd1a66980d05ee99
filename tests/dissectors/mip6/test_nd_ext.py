"""Byte-exact vectors: RA with the HMIPv6 MAP option, Type 2 Routing Header, Home Address option."""

from __future__ import annotations

import ipaddress

import pytest

from dissectors.core import Malformed, Reader, Truncated
from dissectors.mip6.ext import (
    DestinationOptions,
    DestPadN,
    HomeAddressOption,
    RawDestOption,
    Type2RoutingHeader,
    checksum_addresses,
    walk_ipv6,
)
from dissectors.mip6.nd import MapOption, PrefixInformation, RawNdOption, RouterAdvertisement
from tests.support.hexvec import h

A = ipaddress.IPv6Address


MAP = h("""
    17 03 27 80   # Type 23 | Length 3 | Dist 2, Pref 7 | R + reserved 0
    00 00 02 58   # Valid Lifetime 600 s
    20 01 0d b8   # MAP address 2001:db8::a
    00 00 00 00
    00 00 00 00
    00 00 00 0a
""")

RA = (
    h("""
    86 00 00 00   # ICMPv6 type 134 | code 0 | checksum (0 here)
    40 c0 07 08   # Cur Hop Limit 64 | M O + 6 bits | Router Lifetime 1800
    00 00 00 00   # Reachable Time
    00 00 00 00   # Retrans Timer
    03 04 40 c0   # Prefix Information: type 3, len 4, prefix length 64, L A
    00 01 51 80   # Valid Lifetime 86400
    00 00 38 40   # Preferred Lifetime 14400
    00 00 00 00   # Reserved2
    20 01 0d b8   # Prefix 2001:db8:1::
    00 01 00 00
    00 00 00 00
    00 00 00 00
    01 01 02 00   # Source link-layer address option (type 1, len 1): kept raw
    00 00 00 01
""")
    + MAP
)


def test_map_option() -> None:
    m = MapOption.parse(MAP)
    assert (m.dist, m.pref, m.r, m.reserved, m.valid_lifetime, m.map_address, m.extra) == (
        2,
        7,
        True,
        0,
        600,
        A("2001:db8::a"),
        b"",
    )
    assert m.anomalies == () and m.build() == MAP


def test_router_advertisement_walks_to_the_map_option() -> None:
    ra = RouterAdvertisement.parse(RA)
    assert (ra.cur_hop_limit, ra.m, ra.o, ra.h, ra.prf, ra.router_lifetime) == (
        64,
        True,
        True,
        False,
        0,
        1800,
    )
    (pio,) = ra.prefixes
    assert pio == PrefixInformation(
        prefix_length=64,
        l=True,
        a=True,
        valid_lifetime=86400,
        preferred_lifetime=14400,
        prefix=A("2001:db8:1::"),
    )
    assert ra.options[1] == RawNdOption(type_value=1, data=bytes.fromhex("020000000001"))
    assert ra.map_options == (MapOption.parse(MAP),)
    assert ra.build() == RA and ra.anomalies == ()


def test_ra_checksum() -> None:
    src, dst = "fe80::1", "ff02::1"
    ra = RouterAdvertisement.parse(RA)
    good = ra.__class__(**{**_fields(ra), "checksum": None}).build(src, dst)
    assert RouterAdvertisement.parse(good, src=src, dst=dst).checksum_ok
    bad = RouterAdvertisement.parse(RA, src=src, dst=dst)
    assert bad.checksum_ok is False
    assert [a.code for a in bad.anomalies] == ["icmpv6.bad_checksum"]


def _fields(ra: RouterAdvertisement) -> dict[str, object]:
    return {k: getattr(ra, k) for k in ra.__dataclass_fields__ if k not in ("spans", "anomalies")}


def test_map_length_and_dist_checks() -> None:
    long_map = MAP[:1] + b"\x04" + MAP[2:] + bytes(8)  # Length 4: decoded, anomaly, extra kept
    m = MapOption.parse(long_map)
    assert m.extra == bytes(8) and [a.code for a in m.anomalies] == ["hmip.map.bad_length"]
    assert m.build() == long_map
    dist0 = MAP[:2] + b"\x07" + MAP[3:]
    m0 = MapOption.parse(dist0)
    assert m0.dist == 0 and [a.code for a in m0.anomalies] == ["hmip.map.dist_zero"]
    old = MAP[:3] + b"\xff" + MAP[4:]  # RFC 4140-era flag bits in the reserved field
    mo = MapOption.parse(old)
    assert (mo.r, mo.reserved) == (True, 0x7F) and mo.build() == old
    assert [a.code for a in mo.anomalies] == ["reserved_bits"]
    short = RA[:16] + bytes([23, 2]) + bytes(14)  # MAP with Length 2: raw + anomaly
    ra = RouterAdvertisement.parse(short)
    assert ra.options == (RawNdOption(type_value=23, data=bytes(14)),)
    assert [a.code for a in ra.anomalies] == ["hmip.map.bad_length"]
    with pytest.raises(Malformed):
        MapOption.parse(MAP[:1] + b"\x02" + MAP[2:16])
    with pytest.raises(Malformed):
        RouterAdvertisement.parse(RA[:16] + b"\x01\x00")  # ND option Length 0


RH2 = h("""
    3b 02 02 01   # Next Header 59 | Hdr Ext Len 2 | Routing Type 2 | Segments Left 1
    00 00 00 00   # Reserved
    20 01 0d b8   # Home Address 2001:db8::100
    00 00 00 00
    00 00 00 00
    00 00 01 00
""")


def test_type2_routing_header() -> None:
    rh = Type2RoutingHeader.parse(RH2)
    assert (rh.next_header, rh.segments_left, rh.reserved, rh.home_address, rh.extra) == (
        59,
        1,
        0,
        A("2001:db8::100"),
        b"",
    )
    assert rh.anomalies == () and rh.build() == RH2
    odd = RH2[:1] + b"\x03" + RH2[2:3] + b"\x00" + RH2[4:] + bytes(8)
    rh2 = Type2RoutingHeader.parse(odd)
    assert [a.code for a in rh2.anomalies] == ["mip6.rh2.bad_length", "mip6.rh2.bad_segments_left"]
    assert rh2.extra == bytes(8) and rh2.build() == odd
    with pytest.raises(Malformed):
        Type2RoutingHeader.parse(RH2[:1] + b"\x01" + RH2[2:16])
    with pytest.raises(Malformed):
        Type2RoutingHeader.parse(RH2[:2] + b"\x00" + RH2[3:])  # routing type 0


DSTOPTS = h("""
    87 02 01 02   # Next Header 135 (MH) | Hdr Ext Len 2 (24 bytes) | PadN, 2 bytes ...
    00 00 c9 10   # ... | Home Address option: type 201, length 16
    20 01 0d b8   # home address 2001:db8::100
    00 00 00 00
    00 00 00 00
    00 00 01 00
""")


def test_home_address_option() -> None:
    d = DestinationOptions.parse(DSTOPTS)
    assert d.next_header == 135
    assert d.options == (
        DestPadN(padding=b"\x00\x00"),
        HomeAddressOption(home_address=A("2001:db8::100")),
    )
    assert d.home_address == A("2001:db8::100") and d.build() == DSTOPTS
    bad = DSTOPTS[:6] + b"\xc9\x0e" + DSTOPTS[8:22] + b"\x01\x00"  # length 14 + PadN(0)
    bd = DestinationOptions.parse(bad)
    assert isinstance(bd.options[1], RawDestOption) and bd.home_address is None
    assert [a.code for a in bd.anomalies] == ["mip6.hoa.bad_length"]
    assert bd.build() == bad
    with pytest.raises(Truncated):
        DestinationOptions.read(Reader(DSTOPTS[:-1]))


def test_walk_and_checksum_addresses() -> None:
    src, dst = A("2001:db8::5"), A("2001:db8::6")
    mh = bytes.fromhex("3b0000000000" + "0000")  # BRR
    payload = DSTOPTS + mh
    pkt = (
        bytes.fromhex("60000000")
        + len(payload).to_bytes(2, "big")
        + bytes([60, 64])
        + src.packed
        + dst.packed
        + payload
    )
    chain = walk_ipv6(pkt)
    assert chain.upper_proto == 135 and chain.upper_offset == 40 + 24
    assert chain.home_address_option == A("2001:db8::100")
    assert chain.checksum_addresses() == (A("2001:db8::100"), dst)
    rh = Type2RoutingHeader.parse(RH2)
    assert checksum_addresses(src, dst, [rh]) == (src, A("2001:db8::100"))
    done = Type2RoutingHeader(segments_left=0, home_address=A("2001:db8::100"))
    assert checksum_addresses(src, dst, [done]) == (src, dst)
    with pytest.raises(Malformed):
        walk_ipv6(b"\x45" + bytes(39))
