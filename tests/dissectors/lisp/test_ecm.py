"""dissectors.lisp.ecm: Encapsulated Control Message (type 8) and Shared Extension (type 15)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import Malformed, Truncated
from dissectors.inet import IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.ecm import (
    MAX_ECM_DEPTH,
    EncapsulatedControlMessage,
    SharedExtension,
)
from dissectors.lisp.message import ControlMessage, UnknownControl, parse_control
from tests.support.robustness import assert_mutations_safe

# A Map-Request written out by hand (RFC 9301 sec. 5.2)
MAP_REQUEST = bytes.fromhex(
    "10000001"  # type 1, no flags, IRC 0, record count 1
    "0102030405060708"  # nonce
    "0000"  # source-EID AFI 0 (none)
    "0001c0000201"  # ITR-RLOC AFI 1, 192.0.2.1
    "0020"  # record: reserved 0, EID mask-len 32
    "00010a000000"  # EID-prefix AFI 1, 10.0.0.0
)

ECM_V4 = (
    bytes.fromhex(
        "80000000"  # type 8, S=0 D=0 E=0 M=0, reserved 0
        "45000038"  # inner IPv4: IHL 5, total length 56
        "00000000"  # identification 0, no flags
        "401166b3"  # TTL 64, UDP, header checksum 0x66b3
        "0a000001"  # source 10.0.0.1 (ITR RLOC)
        "0a000002"  # destination 10.0.0.2 (the queried EID)
        "e1e610f6"  # inner UDP: source port 57830, destination port 4342
        "00240000"  # UDP length 36, checksum 0 (none, fine over IPv4)
    )
    + MAP_REQUEST
)

ECM_V6_ALL_FLAGS = (
    bytes.fromhex(
        "8f000000"  # type 8, S=1 D=1 E(R)=1 M(N)=1, reserved 0
        "60000000"  # inner IPv6: traffic class 0, flow label 0
        "00241140"  # payload length 36, next header UDP, hop limit 64
        "20010db8000000000000000000000001"  # source 2001:db8::1
        "20010db8000000000000000000000002"  # destination 2001:db8::2
        "10f610f6"  # UDP: 4342 -> 4342
        "0024960c"  # UDP length 36, checksum 0x960c
    )
    + MAP_REQUEST
)

SHARED_EXTENSION = bytes.fromhex(
    "f005abcd"  # type 15, sub-type 5, extension-specific 0xabcd
    "deadbeef"  # extension body, kept raw
)


def test_ecm_ipv4_vector() -> None:
    msg = parse_control(ECM_V4)
    assert isinstance(msg, EncapsulatedControlMessage) and msg.type == 8
    assert (msg.security, msg.ddt_originated, msg.to_etr, msg.to_ms, msg.reserved) == (
        False,
        False,
        False,
        False,
        0,
    )
    h = msg.inner.header
    assert isinstance(h, Ipv4Header)
    assert (str(h.src), str(h.dst), h.total_length, h.checksum) == (
        "10.0.0.1",
        "10.0.0.2",
        56,
        0x66B3,
    )
    udp = msg.udp
    assert udp is not None and (udp.src_port, udp.dst_port, udp.length) == (57830, 4342, 36)
    inner = msg.message
    assert inner is not None and inner.type == 1 and inner.build() == MAP_REQUEST
    assert msg.depth == 0 and msg.anomalies == ()
    assert msg.build() == ECM_V4
    assert msg.spans["type_flags"] == (0, 4)


def test_ecm_ipv6_all_flags_vector() -> None:
    msg = parse_control(ECM_V6_ALL_FLAGS)
    assert isinstance(msg, EncapsulatedControlMessage)
    assert msg.security and msg.ddt_originated and msg.to_etr and msg.to_ms
    assert msg.rtr_process and msg.rtr_relayed  # NAT-traversal draft names, same bits
    assert isinstance(msg.inner.header, Ipv6Header)
    assert msg.udp is not None and msg.udp.checksum == 0x960C
    assert msg.message is not None and msg.message.build() == MAP_REQUEST
    assert msg.anomalies == () and msg.build() == ECM_V6_ALL_FLAGS


def wrap(message: ControlMessage | bytes, flags: int = 0, sport: int = 4342) -> bytes:
    hdr = Ipv4Header(ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2"))
    payload = message if isinstance(message, bytes) else message.build()
    udp = UdpDatagram(sport, 4342, payload, checksum=None)
    return (0x80000000 | flags).to_bytes(4, "big") + IpPacket(hdr, udp).build()


def test_ecm_built_from_fields_matches_vector() -> None:
    inner_msg = parse_control(MAP_REQUEST)
    hdr = Ipv4Header(ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2"))
    ecm = EncapsulatedControlMessage(IpPacket(hdr, UdpDatagram(57830, 4342, inner_msg)))
    assert ecm.build() == ECM_V4


def test_nested_ecm_and_limit() -> None:
    data = MAP_REQUEST
    for _ in range(MAX_ECM_DEPTH):
        data = wrap(data)
    msg = parse_control(data)
    assert isinstance(msg, EncapsulatedControlMessage) and msg.depth == MAX_ECM_DEPTH - 1
    assert msg.build() == data
    with pytest.raises(Malformed):
        parse_control(wrap(data))


def test_inner_not_control_port_kept_raw() -> None:
    hdr = Ipv4Header(ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2"))
    data = b"\x80\x00\x00\x00" + IpPacket(hdr, UdpDatagram(1, 2, MAP_REQUEST)).build()
    msg = parse_control(data)
    assert isinstance(msg, EncapsulatedControlMessage)
    assert msg.message is None and msg.udp is not None and msg.udp.payload == MAP_REQUEST


def test_reserved_bits_anomaly() -> None:
    data = wrap(MAP_REQUEST, flags=0x00000100)
    msg = parse_control(data)
    assert isinstance(msg, EncapsulatedControlMessage) and msg.reserved == 0x100
    assert [a.code for a in msg.anomalies] == ["reserved_bits"]
    assert msg.build() == data


def test_shared_extension_vector() -> None:
    msg = parse_control(SHARED_EXTENSION)
    assert isinstance(msg, SharedExtension) and msg.type == 15
    assert (msg.sub_type, msg.extension_specific, msg.data) == (5, 0xABCD, b"\xde\xad\xbe\xef")
    assert msg.anomalies == () and msg.build() == SHARED_EXTENSION
    assert not isinstance(msg, UnknownControl)


# -- round trips ----------------------------------------------------------------------------


@settings(max_examples=150)
@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 0xFFFF),
)
def test_ecm_round_trip(s: bool, d: bool, e: bool, m: bool, v6: bool, sport: int) -> None:
    if v6:
        hdr: Ipv4Header | Ipv6Header = Ipv6Header(
            ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::2")
        )
    else:
        hdr = Ipv4Header(ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2"))
    ecm = EncapsulatedControlMessage(
        IpPacket(hdr, UdpDatagram(sport, 4342, parse_control(MAP_REQUEST), checksum=None)),
        security=s,
        ddt_originated=d,
        to_etr=e,
        to_ms=m,
    )
    b = ecm.build()
    back = parse_control(b)
    assert isinstance(back, EncapsulatedControlMessage) and back.anomalies == ()
    assert (back.security, back.ddt_originated, back.to_etr, back.to_ms) == (s, d, e, m)
    assert back.build() == b and parse_control(back.build()) == back


@settings(max_examples=100)
@given(st.integers(0, 0xFFF), st.integers(0, 0xFFFF), st.binary(max_size=20))
def test_shared_extension_round_trip(sub: int, ext: int, body: bytes) -> None:
    b = SharedExtension(sub_type=sub, extension_specific=ext, data=body).build()
    back = parse_control(b)
    assert back == SharedExtension(sub_type=sub, extension_specific=ext, data=body)
    assert back.build() == b


# -- robustness -----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [ECM_V4, ECM_V6_ALL_FLAGS, SHARED_EXTENSION])
def test_prefixes(data: bytes) -> None:
    for n in range(len(data)):
        try:
            parse_control(data[:n])
        except Truncated:
            continue
        assert data is SHARED_EXTENSION and n >= 4, n  # the raw body may be shorter


@pytest.mark.parametrize("data", [ECM_V4, ECM_V6_ALL_FLAGS, wrap(wrap(MAP_REQUEST))])
def test_mutations_raise_only_decode_errors(data: bytes) -> None:
    assert_mutations_safe(lambda b: parse_control(b).build(), data, count=2000, seed=4342)
