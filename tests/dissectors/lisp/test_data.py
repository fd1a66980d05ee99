"""dissectors.lisp.data: the LISP data header and the packets it carries."""

from __future__ import annotations

import ipaddress

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import Malformed, Reader, Truncated
from dissectors.inet import (
    EthernetFrame,
    IgmpV3Report,
    IpPacket,
    Ipv4Header,
    Ipv6Header,
    UdpDatagram,
)
from dissectors.lisp.data import (
    MAX_NESTING,
    DataHeader,
    DataPacket,
    parse_data,
)
from dissectors.lisp.message import ControlMessage
from tests.dissectors.test_inet import IGMP_V3, IPV4_UDP, IPV6_EXT_UDP
from tests.support.robustness import assert_mutations_safe

V4 = ipaddress.IPv4Address

# N=1 L=1 I=1 (0xc8) | nonce 0x123456 ; IID 7 | LSBs 0x03 ; inner IPv4/UDP
DATA_NLI_V4 = bytes.fromhex("c812345600000703") + IPV4_UDP
# V=1 (0x10) | source map-version 0x001, destination 0x002 ; LSBs (32) 0x00000001 ; inner IPv6
DATA_V_V6 = bytes.fromhex("1000100200000001") + IPV6_EXT_UDP
# N=1, KK=01 (0x81) | nonce 0xabcdef ; LSBs 0 ; encrypted payload (raw)
DATA_KK = bytes.fromhex("81abcdef00000000") + bytes(range(32))
# E without N (0x20) ; LSBs 0 ; IPv4
DATA_E_NO_N = bytes.fromhex("2000000000000000") + IPV4_UDP
# N and V (0x90) ; LSBs 0 ; IPv4
DATA_N_V = bytes.fromhex("9000000100000000") + IPV4_UDP
# reserved bits 5-7 under RFC 6830 / R bit + KK=11 under RFC 9300, with P=1 (GPE) next protocol 4
DATA_GPE_NSH = bytes.fromhex("8412340400000000") + b"\x00" * 8
ETH = bytes.fromhex("0200000000020200000000010800") + IPV4_UDP
# N=1 I=1 P=1 (0x8c) | nonce 0x1234 | next protocol 3 (Ethernet) ; IID 100 | LSBs 0 ; Ethernet
DATA_GPE_ETH = bytes.fromhex("8c12340300006400") + ETH
# plain I=1 (0x08) ; IID 200 | LSBs 0 ; Ethernet (L2 LISP, told by l2_instance_ids)
DATA_L2 = bytes.fromhex("080000000000c800") + ETH


def ip_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    """An IPv4/IPv6 + UDP packet built by dpkt (independent of the code under test)."""
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        ip = dpkt.ip.IP(src=s.packed, dst=d.packed, p=17, ttl=64, data=udp)
        ip.len = 20 + len(bytes(udp))
        return bytes(ip)
    ip6 = dpkt.ip6.IP6(src=s.packed, dst=d.packed, nxt=17, hlim=64, data=udp)
    ip6.plen = len(bytes(udp))
    return bytes(ip6)


# outer header N=1 (0x80) nonce 1 ; LSBs 0 ; middle IPv4/UDP to 4341 ; inner header ; inner IPv4
DATA_NESTED = bytes.fromhex("8000000100000000") + ip_udp(
    "10.1.0.1", "10.2.0.1", 61000, 4341, bytes.fromhex("8800000200000501") + IPV4_UDP
)


def test_nli_ipv4_vector() -> None:
    pkt = parse_data(DATA_NLI_V4)
    h = pkt.header
    assert (h.nonce_present, h.lsb_enabled, h.echo_nonce_request) == (True, True, False)
    assert (h.map_version_present, h.instance_id_present, h.p, h.key_phase) == (
        False,
        True,
        False,
        0,
    )
    assert (h.nonce, h.instance_id, h.lsbs, h.flags) == (0x123456, 7, 3, 0xC8)
    assert h.source_map_version is None and h.next_protocol is None and not h.r
    assert isinstance(pkt.payload, IpPacket) and pkt.payload.build() == IPV4_UDP
    assert pkt.anomalies == () and pkt.build() == DATA_NLI_V4
    assert DataHeader.make(nonce=0x123456, instance_id=7, lsbs=3).build() == DATA_NLI_V4[:8]
    flow = pkt.innermost()
    assert (flow.src, flow.dst, flow.protocol, flow.src_port, flow.dst_port) == (
        "192.0.2.1",
        "198.51.100.1",
        17,
        5000,
        6000,
    )
    assert (flow.depth, flow.instance_id, flow.kind) == (1, 7, "ipv4")
    assert pkt.spans["flags"] == (0, 1) and pkt.spans["iid_lsbs"] == (4, 4)


def test_map_version_ipv6_vector() -> None:
    pkt = parse_data(DATA_V_V6)
    h = pkt.header
    assert h.map_version_present and not h.nonce_present and h.nonce is None
    assert (h.source_map_version, h.dest_map_version, h.lsbs, h.instance_id) == (1, 2, 1, None)
    assert isinstance(pkt.payload, IpPacket) and isinstance(pkt.payload.header, Ipv6Header)
    assert [a.code for a in pkt.anomalies] == ["udp.checksum_zero_ipv6"]
    assert pkt.build() == DATA_V_V6
    assert DataHeader.make(map_versions=(1, 2)).build()[:4] == DATA_V_V6[:4]
    assert pkt.innermost().kind == "ipv6"


def test_key_phase_keeps_payload_raw() -> None:
    pkt = parse_data(DATA_KK)
    assert pkt.header.key_phase == 1 and pkt.header.encrypted and pkt.header.nonce == 0xABCDEF
    assert pkt.payload == bytes(range(32)) and pkt.anomalies == ()
    assert pkt.innermost().kind == "encrypted" and pkt.build() == DATA_KK


@pytest.mark.parametrize(
    ("data", "code"),
    [(DATA_E_NO_N, "lisp-data.flags.en_invalid"), (DATA_N_V, "lisp-data.flags.nv_invalid")],
)
def test_invalid_flag_combinations(data: bytes, code: str) -> None:
    pkt = parse_data(data)
    assert [a.code for a in pkt.anomalies] == [code]
    assert pkt.build() == data


def test_gpe_next_protocols() -> None:
    nsh = parse_data(DATA_GPE_NSH)
    h = nsh.header
    assert h.p and h.r and h.next_protocol == 4 and h.nonce == 0x1234
    assert nsh.payload == b"\x00" * 8
    assert [a.code for a in nsh.anomalies] == ["lisp-data.payload_undecoded"]
    eth = parse_data(DATA_GPE_ETH)
    assert eth.header.next_protocol == 3 and eth.header.instance_id == 100
    assert isinstance(eth.payload, EthernetFrame) and eth.anomalies == ()
    assert eth.innermost().src == "192.0.2.1" and eth.build() == DATA_GPE_ETH
    made = DataHeader.make(nonce=0x1234, next_protocol=3, instance_id=100)
    assert made.build() == DATA_GPE_ETH[:8]


def test_l2_lisp_payload_kind() -> None:
    told = parse_data(DATA_L2, l2_instance_ids={200})
    assert isinstance(told.payload, EthernetFrame) and told.anomalies == ()
    forced = parse_data(DATA_L2, payload_kind="ethernet")
    assert forced == told
    untold = parse_data(DATA_L2)  # first nibble 0 (a MAC address): kept raw with a note
    assert untold.payload == ETH
    assert [a.code for a in untold.anomalies] == ["lisp-data.payload_undecoded"]
    assert parse_data(DATA_NLI_V4, payload_kind="raw").payload == IPV4_UDP


def test_nested_lisp_in_lisp() -> None:
    pkt = parse_data(DATA_NESTED)
    assert pkt.anomalies == () and pkt.build() == DATA_NESTED
    middle = pkt.payload
    assert isinstance(middle, IpPacket) and isinstance(middle.payload, UdpDatagram)
    inner = middle.payload.payload
    assert isinstance(inner, DataPacket) and inner.header.instance_id == 5
    flow = pkt.innermost()
    assert (flow.src, flow.dst, flow.depth, flow.instance_id) == (
        "192.0.2.1",
        "198.51.100.1",
        2,
        5,
    )


def nest(levels: int) -> bytes:
    data = bytes.fromhex("8000000100000000") + IPV4_UDP
    for _ in range(levels - 1):
        data = bytes.fromhex("8000000100000000") + ip_udp("10.0.0.1", "10.0.0.2", 1, 4341, data)
    return data


def test_nesting_limit() -> None:
    assert parse_data(nest(MAX_NESTING)).innermost().depth == MAX_NESTING
    with pytest.raises(Malformed):
        parse_data(nest(MAX_NESTING + 1))


def test_inner_igmp_report() -> None:
    hdr = Ipv4Header(V4("10.0.0.1"), V4("224.0.0.22"), protocol=2, ttl=1)
    data = DataHeader.make(nonce=5).build() + IpPacket(hdr, IgmpV3Report.parse(IGMP_V3)).build()
    pkt = parse_data(data)
    ip = pkt.payload
    assert isinstance(ip, IpPacket) and isinstance(ip.payload, IgmpV3Report)
    assert ip.payload.records[0].sources == (V4("10.0.0.1"),)
    flow = pkt.innermost()
    assert (flow.protocol, flow.src_port, flow.dst) == (2, None, "224.0.0.22")


def test_control_behind_iid_ffffff() -> None:
    ctrl = bytes.fromhex("e0000000") + bytes(4)  # unassigned type 14: kept as UnknownControl
    data = bytes.fromhex("08000000ffffff00") + ctrl  # I=1 ; IID 0xffffff | LSBs 0
    pkt = parse_data(data)
    assert isinstance(pkt.payload, ControlMessage) and pkt.payload.type == 14
    assert pkt.innermost().kind == "control" and pkt.build() == data
    bad = bytes.fromhex("08000000ffffff0080000000")  # an ECM with nothing inside
    pkt = parse_data(bad)
    assert pkt.payload == bytes.fromhex("80000000") and pkt.build() == bad
    assert [a.code for a in pkt.anomalies] == ["lisp-data.inner_control_undecodable"]


def test_inner_control_message() -> None:
    # lispers.net-style: a control message (here of unassigned type 14) inside a data packet
    ctrl = bytes.fromhex("e0000000") + bytes(12)
    data = DataHeader.make(instance_id=0xFFFFFF).build() + ip_udp(
        "10.0.0.1", "10.0.0.2", 4342, 4342, ctrl
    )
    pkt = parse_data(data)
    udp = pkt.payload.payload
    assert isinstance(udp, UdpDatagram) and isinstance(udp.payload, ControlMessage)
    assert udp.payload.type == 14 and pkt.build() == data
    assert [a.code for a in pkt.anomalies] == ["lisp.unknown_type"]
    garbage = bytes.fromhex("80000000") + bytes(8)  # an ECM whose inner packet is not IP
    data = DataHeader.make(instance_id=1).build() + ip_udp("10.0.0.1", "10.0.0.2", 9, 4342, garbage)
    pkt = parse_data(data)
    assert pkt.payload.payload.payload == garbage and pkt.build() == data
    assert [a.code for a in pkt.anomalies] == ["lisp-data.inner_control_undecodable"]
    broken = DataHeader.make(instance_id=1).build() + ip_udp("10.0.0.1", "10.0.0.2", 9, 4342, b"")
    assert parse_data(broken).payload.payload.payload == b""


# -- round trips ----------------------------------------------------------------------------

headers = st.builds(
    DataHeader,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.just(False),
    st.just(0),
    st.integers(0, 2**24 - 1),
    st.integers(0, 2**32 - 1),
)


@settings(max_examples=200)
@given(headers, st.sampled_from([IPV4_UDP, IPV6_EXT_UDP]))
def test_round_trip(header: DataHeader, inner: bytes) -> None:
    b = header.build() + inner
    pkt = parse_data(b)
    assert pkt.header == header and pkt.build() == b
    assert DataPacket.parse(pkt.build()) == pkt


@settings(max_examples=200)
@given(st.binary(min_size=8, max_size=8))
def test_any_header_round_trips(head: bytes) -> None:
    h = DataHeader.parse(head)
    assert h.build() == head and DataHeader.parse(h.build()) == h


# -- robustness -----------------------------------------------------------------------------

VECTORS = [DATA_NLI_V4, DATA_V_V6, DATA_GPE_ETH, DATA_NESTED, DATA_KK]


@pytest.mark.parametrize("data", VECTORS)
def test_prefixes(data: bytes) -> None:
    for n in range(len(data)):
        try:
            pkt = parse_data(data[:n])
        except Truncated:
            continue
        # a header alone, or an undecodable/encrypted tail, decodes with a raw payload
        header_only = n == 8 or (data is DATA_GPE_ETH and n == 8 + 14)
        assert header_only or data is DATA_KK or pkt.anomalies, n


@pytest.mark.parametrize("data", VECTORS)
def test_mutations_raise_only_decode_errors(data: bytes) -> None:
    assert_mutations_safe(lambda b: parse_data(b).build(), data, count=2000, seed=4341)


def test_read_at_offset() -> None:
    r = Reader(b"\x00" * 5 + DATA_NLI_V4, pos=5)
    assert DataPacket.read(r).header.instance_id == 7 and r.pos == r.end
