"""dissectors.inet: hand-written vectors, round-trips, robustness."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import Reader, Truncated
from dissectors.inet import (
    IGMP_V2_REPORT,
    PROTO_FRAGMENT,
    PROTO_HOPOPT,
    PROTO_UDP,
    EthernetFrame,
    Igmp,
    IgmpGroupRecord,
    IgmpV3Report,
    IpPacket,
    Ipv4Header,
    Ipv6Extension,
    Ipv6Header,
    UdpDatagram,
    internet_checksum,
)
from tests.support.robustness import assert_mutations_safe

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address

IPV4_UDP = (
    bytes.fromhex(
        "45000021"  # version 4, IHL 5, TOS 0, total length 33
        "00014000"  # identification 1, flags DF (010), fragment offset 0
        "40114e95"  # TTL 64, protocol 17 (UDP), header checksum 0x4e95
        "c0000201"  # source 192.0.2.1
        "c6336401"  # destination 198.51.100.1
        "13881770"  # UDP source port 5000, destination port 6000
        "000da4d3"  # UDP length 13, checksum 0xa4d3 (pseudo-header included)
    )
    + b"hello"
)

IPV6_EXT_UDP = bytes.fromhex(
    "60000000"  # version 6, traffic class 0, flow label 0
    "00180040"  # payload length 24, next header 0 (hop-by-hop), hop limit 64
    "20010db8000000000000000000000001"  # source 2001:db8::1
    "20010db8000000000000000000000002"  # destination 2001:db8::2
    "2c000104"  # HBH: next header 44 (fragment), hdr ext len 0, PadN type 1 len 4
    "00000000"  # PadN data
    "11000000"  # fragment: next header 17, reserved 0, offset 0, M 0
    "12345678"  # fragment identification
    "10e510e6"  # UDP source port 4325, destination port 4326
    "00080000"  # UDP length 8, checksum 0 (a note on IPv6)
)

IGMP_V2 = bytes.fromhex(
    "16000000"  # type 0x16 v2 report, max resp 0, checksum placeholder (patched below)
    "e1010203"  # group 225.1.2.3
)
IGMP_V2 = IGMP_V2[:2] + (0x06FB).to_bytes(2, "big") + IGMP_V2[4:]

IGMP_V3 = bytes.fromhex(
    "2200eff7"  # type 0x22, reserved 0, checksum 0xeff7
    "00000001"  # reserved 0, number of group records 1
    "01000001"  # record type 1 MODE_IS_INCLUDE, aux len 0, number of sources 1
    "e1010203"  # multicast address 225.1.2.3
    "0a000001"  # source 10.0.0.1 (the S-EID of the (S, G) join)
)

ETHERNET_VLAN = (
    bytes.fromhex(
        "020000000002"  # destination MAC
        "020000000001"  # source MAC
        "81000064"  # 802.1Q tag: TPID 0x8100, TCI 100
        "0800"  # ethertype IPv4
    )
    + IPV4_UDP
)


def test_ipv4_udp_vector() -> None:
    pkt = IpPacket.parse(IPV4_UDP)
    h = pkt.header
    assert isinstance(h, Ipv4Header)
    assert (h.src, h.dst) == (V4("192.0.2.1"), V4("198.51.100.1"))
    assert (h.ihl, h.total_length, h.identification, h.ttl, h.protocol) == (5, 33, 1, 64, 17)
    assert h.dont_fragment and not h.more_fragments and not h.reserved_flag
    assert (h.dscp, h.ecn, h.fragment_offset, h.checksum, h.options) == (0, 0, 0, 0x4E95, b"")
    udp = pkt.payload
    assert isinstance(udp, UdpDatagram)
    assert (udp.src_port, udp.dst_port, udp.length, udp.checksum) == (5000, 6000, 13, 0xA4D3)
    assert udp.payload == b"hello"
    assert pkt.anomalies == ()
    assert pkt.build() == IPV4_UDP
    assert pkt.spans["udp.dst_port"] == (22, 2)


def test_ipv4_computed_fields_match_vector() -> None:
    hdr = Ipv4Header(V4("192.0.2.1"), V4("198.51.100.1"), identification=1, flags=2)
    pkt = IpPacket(hdr, UdpDatagram(5000, 6000, b"hello", checksum=None))
    assert pkt.build() == IPV4_UDP


def test_ipv4_bad_checksums() -> None:
    bad = bytearray(IPV4_UDP)
    bad[11] ^= 1
    codes = [a.code for a in IpPacket.parse(bytes(bad)).anomalies]
    assert codes == ["ip.checksum_bad"]
    bad = bytearray(IPV4_UDP)
    bad[-1] ^= 1
    codes = [a.code for a in IpPacket.parse(bytes(bad)).anomalies]
    assert codes == ["udp.checksum_bad"]


def test_ipv4_options_kept_raw() -> None:
    hdr = Ipv4Header(V4("10.0.0.1"), V4("10.0.0.2"), options=b"\x94\x04\x00\x00")  # router alert
    pkt = IpPacket(hdr, UdpDatagram(1, 2, b"x"))
    b = pkt.build()
    back = IpPacket.parse(b)
    assert back.header.ihl == 6 and back.header.options == b"\x94\x04\x00\x00"
    assert back.anomalies == () and back.build() == b


def test_ipv6_extension_chain_vector() -> None:
    pkt = IpPacket.parse(IPV6_EXT_UDP)
    h = pkt.header
    assert isinstance(h, Ipv6Header)
    assert (h.src, h.dst, h.hop_limit, h.payload_length) == (
        V6("2001:db8::1"),
        V6("2001:db8::2"),
        64,
        24,
    )
    assert h.next_header == PROTO_HOPOPT and h.protocol == PROTO_UDP
    hbh, frag = h.extensions
    assert (hbh.header_type, hbh.next_header, hbh.data) == (0, 44, bytes.fromhex("00010400000000"))
    assert frag.header_type == PROTO_FRAGMENT and frag.next_header == 17
    assert (frag.fragment_offset, frag.more_fragments, frag.identification) == (
        0,
        False,
        0x12345678,
    )
    assert not h.is_fragment  # an atomic fragment still carries the whole UDP datagram
    udp = pkt.payload
    assert isinstance(udp, UdpDatagram) and (udp.src_port, udp.dst_port) == (4325, 4326)
    assert [a.code for a in pkt.anomalies] == ["udp.checksum_zero_ipv6"]
    assert pkt.build() == IPV6_EXT_UDP


def test_ipv6_built_from_helpers() -> None:
    hdr = Ipv6Header(
        V6("2001:db8::1"),
        V6("2001:db8::2"),
        next_header=0,
        extensions=(
            Ipv6Extension.options_header(0, 44, bytes.fromhex("01040000 0000")),
            Ipv6Extension.fragment_header(17, 0, False, 0x12345678),
        ),
    )
    assert IpPacket(hdr, UdpDatagram(4325, 4326)).build() == IPV6_EXT_UDP


def test_ipv6_fragment_kept_raw() -> None:
    hdr = Ipv6Header(
        V6("2001:db8::1"),
        V6("2001:db8::2"),
        next_header=44,
        extensions=(Ipv6Extension.fragment_header(17, 0, True, 9),),
    )
    b = IpPacket(hdr, b"\x00" * 16).build()
    pkt = IpPacket.parse(b)
    assert pkt.header.is_fragment and pkt.payload == b"\x00" * 16


def test_igmp_v2_report_vector() -> None:
    pkt = Igmp.parse(IGMP_V2)
    assert isinstance(pkt, Igmp)
    assert (pkt.type, pkt.max_resp, pkt.group, pkt.checksum) == (
        IGMP_V2_REPORT,
        0,
        V4("225.1.2.3"),
        0x06FB,
    )
    assert pkt.anomalies == () and pkt.build() == IGMP_V2
    assert Igmp(IGMP_V2_REPORT, V4("225.1.2.3")).build() == IGMP_V2


def test_igmp_v3_report_vector() -> None:
    rep = Igmp.parse(IGMP_V3)
    assert isinstance(rep, IgmpV3Report)
    (rec,) = rep.records
    assert (rec.record_type, rec.multicast_address, rec.sources) == (
        1,
        V4("225.1.2.3"),
        (V4("10.0.0.1"),),
    )
    assert rep.checksum == 0xEFF7 and rep.anomalies == () and rep.build() == IGMP_V3
    built = IgmpV3Report((IgmpGroupRecord(1, V4("225.1.2.3"), (V4("10.0.0.1"),)),)).build()
    assert built == IGMP_V3


def test_igmp_inside_ip_and_bad_checksum() -> None:
    hdr = Ipv4Header(V4("10.0.0.1"), V4("224.0.0.22"), protocol=2, ttl=1)
    b = IpPacket(hdr, IgmpV3Report.parse(IGMP_V3)).build()
    pkt = IpPacket.parse(b)
    assert isinstance(pkt.payload, IgmpV3Report) and pkt.anomalies == ()
    bad = bytearray(IGMP_V3)
    bad[-1] ^= 0xFF
    assert [a.code for a in Igmp.parse(bytes(bad)).anomalies] == ["igmp.checksum_bad"]


def test_ethernet_vlan_vector() -> None:
    frame = EthernetFrame.parse(ETHERNET_VLAN)
    assert frame.dst == bytes.fromhex("020000000002") and frame.src == bytes.fromhex("020000000001")
    assert frame.vlan_tags == ((0x8100, 100),) and frame.ethertype == 0x0800
    assert isinstance(frame.payload, IpPacket)
    assert frame.build() == ETHERNET_VLAN


def test_checksum_helper() -> None:
    assert internet_checksum(b"\x00\x01\xf2\x03\xf4\xf5\xf6\xf7") == 0x220D  # RFC 1071 example


# -- round trips ----------------------------------------------------------------------------

ports = st.integers(0, 0xFFFF)
v4addr = st.integers(0, 2**32 - 1).map(V4)
v6addr = st.integers(0, 2**128 - 1).map(V6)


@st.composite
def ip_packets(draw: st.DrawFn) -> IpPacket:
    udp = UdpDatagram(draw(ports), draw(ports), draw(st.binary(max_size=40)), checksum=None)
    if draw(st.booleans()):
        hdr: Ipv4Header | Ipv6Header = Ipv4Header(
            draw(v4addr),
            draw(v4addr),
            ttl=draw(st.integers(0, 255)),
            dscp=draw(st.integers(0, 63)),
            ecn=draw(st.integers(0, 3)),
            identification=draw(st.integers(0, 0xFFFF)),
            flags=draw(st.sampled_from([0, 2])),
            options=draw(st.sampled_from([b"", b"\x01\x01\x01\x00"])),
        )
    else:
        exts = draw(st.sampled_from([(), ("hbh",), ("dst",), ("hbh", "frag")]))
        chain: list[Ipv6Extension] = []
        types = {"hbh": 0, "dst": 60, "frag": 44}
        for i, name in enumerate(exts):
            nxt = types[exts[i + 1]] if i + 1 < len(exts) else PROTO_UDP
            if name == "frag":
                chain.append(Ipv6Extension.fragment_header(nxt, 0, False, draw(ports)))
            else:
                chain.append(Ipv6Extension.options_header(types[name], nxt, b"\x01\x00"))
        hdr = Ipv6Header(
            draw(v6addr),
            draw(v6addr),
            next_header=types[exts[0]] if exts else PROTO_UDP,
            hop_limit=draw(st.integers(0, 255)),
            traffic_class=draw(st.integers(0, 255)),
            flow_label=draw(st.integers(0, 0xFFFFF)),
            extensions=tuple(chain),
        )
    return IpPacket(hdr, udp)


@settings(max_examples=150)
@given(ip_packets())
def test_ip_round_trip(pkt: IpPacket) -> None:
    b = pkt.build()
    back = IpPacket.parse(b)
    assert back.anomalies == ()
    assert back.build() == b
    assert IpPacket.parse(back.build()) == back
    assert back.header.src == pkt.header.src and back.payload.payload == pkt.payload.payload


@settings(max_examples=100)
@given(
    st.lists(
        st.builds(
            IgmpGroupRecord,
            st.integers(1, 6),
            v4addr,
            st.lists(v4addr, max_size=3).map(tuple),
            st.sampled_from([b"", b"abcd"]),
        ),
        max_size=3,
    )
)
def test_igmp_v3_round_trip(records: list[IgmpGroupRecord]) -> None:
    b = IgmpV3Report(tuple(records)).build()
    back = Igmp.parse(b)
    assert back.anomalies == () and back.build() == b and back.records == tuple(records)


# -- robustness -----------------------------------------------------------------------------

VECTORS = [
    (IpPacket, IPV4_UDP),
    (IpPacket, IPV6_EXT_UDP),
    (Igmp, IGMP_V2),
    (Igmp, IGMP_V3),
    (EthernetFrame, ETHERNET_VLAN),
]


@pytest.mark.parametrize(("cls", "data"), VECTORS)
def test_prefixes_truncate(cls: type, data: bytes) -> None:
    for n in range(len(data)):
        try:
            value = cls.parse(data[:n])
        except Truncated:
            continue
        # only the raw tails (IGMP extra bytes, Ethernet payload) may shrink silently
        assert cls in (Igmp, EthernetFrame), (n, value)


@pytest.mark.parametrize(("cls", "data"), VECTORS)
def test_mutations_raise_only_decode_errors(cls: type, data: bytes) -> None:
    assert_mutations_safe(lambda b: cls.parse(b).build(), data, count=2000, seed=1234)


def test_reader_offsets_inside_larger_buffer() -> None:
    r = Reader(b"\xff" * 3 + IPV4_UDP, pos=3)
    pkt = IpPacket.read(r)
    assert r.pos == len(IPV4_UDP) + 3 and isinstance(pkt.payload, UdpDatagram)
