"""Byte-exact vectors for every Mobility Header type, written from the RFC bit layouts."""

from __future__ import annotations

import ipaddress

import pytest

from dissectors.core import Malformed, Truncated
from dissectors.mip6 import mh
from dissectors.mip6.mh import parse_mh, status_name, verify_checksum
from dissectors.mip6.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    Pad1,
    PadN,
    Timestamp,
)
from tests.support.hexvec import h

A = ipaddress.IPv6Address


def check(raw: bytes, cls: type[mh.MobilityMessage], **fields: object) -> mh.MobilityMessage:
    m = parse_mh(raw)
    assert type(m) is cls
    for name, value in fields.items():
        assert getattr(m, name) == value, name
    assert m.build() == raw
    assert m.anomalies == ()
    return m


def test_brr() -> None:
    raw = h("""
        3b 00 00 00   # Payload Proto 59 | Header Len 0 | MH Type 0 | Reserved
        12 34 00 00   # Checksum 0x1234 | Reserved (16)
    """)
    m = check(raw, mh.BindingRefreshRequest, checksum=0x1234, reserved=0, options=())
    assert m.label == "BRR" and m.mh_type == 0


def test_hoti_and_coti() -> None:
    raw = h("""
        3b 01 01 00   # proto 59 | hlen 1 (16 bytes) | type 1 HoTI | reserved
        ab cd 00 00   # checksum | Reserved (16)
        01 02 03 04   # Home Init Cookie, high word
        05 06 07 08   # Home Init Cookie, low word
    """)
    check(raw, mh.HomeTestInit, home_init_cookie=0x0102030405060708, reserved=0)
    raw2 = raw[:2] + b"\x02" + raw[3:]  # type 2 CoTI, same layout
    check(raw2, mh.CareOfTestInit, care_of_init_cookie=0x0102030405060708)


def test_hot_and_cot() -> None:
    raw = h("""
        3b 02 03 00   # proto | hlen 2 (24 bytes) | type 3 HoT | reserved
        00 00 00 07   # checksum 0 | Home Nonce Index 7
        11 11 11 11   # Home Init Cookie
        22 22 22 22
        33 33 33 33   # Home Keygen Token
        44 44 44 44
    """)
    check(
        raw,
        mh.HomeTest,
        home_nonce_index=7,
        home_init_cookie=0x1111111122222222,
        home_keygen_token=0x3333333344444444,
    )
    raw2 = raw[:2] + b"\x04" + raw[3:]
    m = check(raw2, mh.CareOfTest, care_of_nonce_index=7, care_of_keygen_token=0x3333333344444444)
    assert m.label == "CoT"


BU = h("""
    3b 01 05 00   # proto | hlen 1 (16 bytes) | type 5 BU | reserved
    00 00 00 2a   # checksum | Sequence 42
    d0 00 00 96   # A H . K flags (0xd000) | Lifetime 150 (x4 = 600 s)
    01 02 00 00   # PadN, 2 bytes
""")


def test_bu() -> None:
    m = check(
        BU,
        mh.BindingUpdate,
        sequence=42,
        a=True,
        h=True,
        l=False,
        k=True,
        m=False,
        r=False,
        p=False,
        f=False,
        t=False,
        b=False,
        reserved=0,
        lifetime=150,
        options=(PadN(padding=b"\x00\x00"),),
    )
    assert isinstance(m, mh.BindingUpdate)
    assert m.lifetime_seconds == 600 and m.label == "BU"


@pytest.mark.parametrize(
    ("flag", "mask"),
    [
        ("a", 0x8000),
        ("h", 0x4000),
        ("l", 0x2000),
        ("k", 0x1000),
        ("m", 0x0800),
        ("r", 0x0400),
        ("p", 0x0200),
        ("f", 0x0100),
        ("t", 0x0080),
        ("b", 0x0040),
    ],
)
def test_bu_flag_masks(flag: str, mask: int) -> None:
    raw = BU[:8] + mask.to_bytes(2, "big") + BU[10:]
    m = parse_mh(raw)
    assert isinstance(m, mh.BindingUpdate)
    on = {f for f in "ahlkmrpftb" if getattr(m, f)}
    assert on == {flag} and m.build() == raw


def test_bu_reserved_bits_and_labels() -> None:
    raw = BU[:8] + b"\x0a\x3f" + BU[10:]  # M, P, all 6 reserved bits
    m = parse_mh(raw)
    assert isinstance(m, mh.BindingUpdate)
    assert m.m and m.p and m.reserved == 0x3F and m.build() == raw
    assert [a.code for a in m.anomalies] == ["reserved_bits"]
    assert m.label == "PBU"
    lbu = parse_mh(BU[:8] + b"\x88\x00" + BU[10:])  # A + M: HMIPv6 local BU
    assert lbu.label == "LBU"


BA = h("""
    3b 01 06 00   # proto | hlen 1 | type 6 BA | reserved
    00 00 98 a0   # checksum | Status 152 | K . P . . flags 0xa0
    00 2a 00 00   # Sequence 42 | Lifetime 0
    00 01 00 00   # Pad1 | PadN with 0 data bytes (01 00) | Pad1
""")


def test_ba() -> None:
    m = check(
        BA,
        mh.BindingAck,
        status=152,
        k=True,
        r=False,
        p=True,
        t=False,
        b=False,
        reserved=0,
        sequence=42,
        lifetime=0,
        options=(Pad1(), PadN(padding=b""), Pad1()),
    )
    assert isinstance(m, mh.BindingAck)
    assert m.label == "PBA" and not m.accepted
    assert m.status_name() == "Proxy registration not enabled"


@pytest.mark.parametrize(
    ("flag", "mask"), [("k", 0x80), ("r", 0x40), ("p", 0x20), ("t", 0x10), ("b", 0x08)]
)
def test_ba_flag_masks(flag: str, mask: int) -> None:
    raw = BA[:7] + bytes([mask]) + BA[8:]
    m = parse_mh(raw)
    assert {f for f in "krptb" if getattr(m, f)} == {flag} and m.build() == raw


def test_be() -> None:
    raw = h("""
        3b 02 07 00   # proto | hlen 2 (24) | type 7 BE | reserved
        00 00 02 00   # checksum | Status 2 | Reserved
        20 01 0d b8   # Home Address 2001:db8::1
        00 00 00 00
        00 00 00 00
        00 00 00 01
    """)
    check(raw, mh.BindingError, status=2, reserved=0, home_address=A("2001:db8::1"))


def test_fbu_fback_fna() -> None:
    fbu = h("""
        3b 01 08 00   # type 8 FBU
        00 00 00 05   # checksum | Sequence 5
        f0 00 00 01   # A H L K | Lifetime 1
        01 02 00 00   # PadN 2
    """)
    check(fbu, mh.FastBindingUpdate, sequence=5, a=True, h=True, l=True, k=True, lifetime=1)
    fback = h("""
        3b 01 09 00   # type 9 FBack
        00 00 01 80   # checksum | Status 1 | K
        00 05 00 01   # Sequence 5 | Lifetime 1
        01 02 00 00   # PadN 2
    """)
    check(fback, mh.FastBindingAck, status=1, k=True, sequence=5, lifetime=1)
    fna = h("""
        3b 00 0a 00   # type 10 FNA
        00 00 00 00   # checksum | Reserved
    """)
    check(fna, mh.FastNeighborAdvertisement, reserved=0)


def test_experimental_and_has() -> None:
    emh = h("""
        3b 01 0b 00   # type 11 Experimental, hlen 1
        00 00 de ad   # checksum | message data ...
        be ef 00 01
        02 03 04 05
    """)
    check(emh, mh.ExperimentalMessage, data=bytes.fromhex("deadbeef000102030405"), options=())
    has = h("""
        3b 02 0c 00   # type 12 HAS, hlen 2 (24)
        00 00 01 00   # checksum | # Addresses 1 | Reserved
        20 01 0d b8   # Home Agent Address 2001:db8::a
        00 00 00 00
        00 00 00 00
        00 00 00 0a
    """)
    m = check(has, mh.HomeAgentSwitch, reserved=0, home_agent_addresses=(A("2001:db8::a"),))
    assert m.label == "HAS"


def test_heartbeat_hi_hack() -> None:
    hb = h("""
        3b 01 0d 00   # type 13 Heartbeat
        00 00 00 03   # checksum | Reserved | . . . . . . U R
        00 01 11 70   # Sequence 70000
        01 02 00 00   # PadN 2
    """)
    check(hb, mh.Heartbeat, u=True, r=True, reserved=0, sequence=70000)
    hi = h("""
        3b 01 0e 00   # type 14 HI
        00 00 00 09   # checksum | Sequence 9
        c0 01 01 02   # S U | Code 1 | PadN 2 ...
        00 00 00 00   # ... PadN data, Pad1 Pad1
    """)
    check(hi, mh.HandoverInitiate, sequence=9, s=True, u=True, code=1)
    hack = h("""
        3b 01 0f 00   # type 15 HAck
        00 00 00 09   # checksum | Sequence 9
        00 80 01 02   # Reserved | Code 128 | PadN 2 ...
        00 00 00 00
    """)
    check(hack, mh.HandoverAck, sequence=9, code=128)


def test_binding_revocation() -> None:
    bri = h("""
        3b 01 10 00   # type 16 Binding Revocation
        00 00 01 02   # checksum | B.R. Type 1 (Indication) | R. Trigger 2
        00 0b a0 00   # Sequence 11 | P . G
        01 02 00 00   # PadN 2
    """)
    m = check(bri, mh.BindingRevocation, br_type=1, trigger_or_status=2, p=True, g=True)
    assert isinstance(m, mh.BindingRevocation)
    assert m.label == "BRI" and m.revocation_trigger == 2 and m.status is None
    bra = bri[:6] + b"\x02\x01" + bri[8:10] + b"\x40\x00" + bri[12:]
    m2 = check(bra, mh.BindingRevocation, br_type=2, v=True, p=False)
    assert m2.label == "BRA" and m2.status == 1


def test_lri_lra() -> None:
    lri = h("""
        3b 01 11 00   # type 17 LRI
        00 00 00 0c   # checksum | Sequence 12
        00 00 01 2c   # Reserved | Lifetime 300 s
        01 02 00 00   # PadN 2
    """)
    check(lri, mh.LocalizedRoutingInitiation, sequence=12, lifetime=300)
    lra = h("""
        3b 01 12 00   # type 18 LRA
        00 00 00 0c   # checksum | Sequence 12
        80 80 01 2c   # U | Status 128 | Lifetime 300 s
        01 02 00 00   # PadN 2
    """)
    check(lra, mh.LocalizedRoutingAck, sequence=12, u=True, status=128, lifetime=300)


def test_unknown_type() -> None:
    raw = h("3b 00 13 00  00 00 aa bb")  # type 19: data kept raw
    m = parse_mh(raw)
    assert isinstance(m, mh.UnknownMessage)
    assert (m.mh_type, m.data, m.label) == (19, b"\xaa\xbb", "MH19")
    assert [a.code for a in m.anomalies] == ["mip6.unknown_type"]
    assert m.build() == raw


def test_pbu_with_pmip_options() -> None:
    raw = h("""
        3b 07 05 00   # type 5, hlen 7 (64 bytes)
        00 00 00 01   # checksum | Sequence 1
        c2 00 00 64   # A H P | Lifetime 100
        08 05 01 6d   # MN-ID: type 8, len 5, subtype 1 (NAI), "m"
        6e 40 78 16   # "n@x" | HNP: type 22
        12 00 40 20   # len 18 | reserved | prefix length 64 | prefix 2001:db8:1:: ...
        01 0d b8 00
        01 00 00 00
        00 00 00 00
        00 00 00 17   # ... end of prefix | HI: type 23
        02 00 01 18   # len 2 | reserved | HI 1 (new interface) | ATT: type 24
        02 00 04 1b   # len 2 | reserved | ATT 4 (802.11a/b/g) | Timestamp: type 27
        08 00 00 65   # len 8 | 48-bit seconds 0x00006553f100 ...
        53 f1 00 80   # ... | 16-bit fraction 0x8000 (half a second) ...
        00 01 05 00   # ... | PadN: type 1, len 5, data ...
        00 00 00 00
    """)
    m = parse_mh(raw)
    assert isinstance(m, mh.BindingUpdate) and m.label == "PBU"
    assert m.options[:4] == (
        MobileNodeIdentifier(subtype=1, identifier=b"mn@x"),
        HomeNetworkPrefix(prefix_length=64, prefix=A("2001:db8:1::")),
        HandoffIndicator(handoff_indicator=1),
        AccessTechnologyType(access_technology_type=4),
    )
    ts = m.options[4]
    assert isinstance(ts, Timestamp)
    assert (ts.timestamp, ts.seconds, ts.fraction) == (0x00006553F1008000, 0x6553F100, 0x8000)
    assert ts.unix_time == 0x6553F100 + 0.5
    assert m.build() == raw


def test_checksum_build_and_verify() -> None:
    src, dst = "2001:db8::1", "2001:db8::2"
    msg = mh.BindingUpdate(sequence=1, a=True, lifetime=1).padded()
    raw = msg.build(src, dst)
    assert verify_checksum(raw, src, dst)
    assert not verify_checksum(raw, src, "2001:db8::3")
    m = parse_mh(raw, src=src, dst=dst)
    assert m.checksum_ok and m == msg.with_checksum(src, dst)
    assert msg.build() != raw  # without addresses the checksum is 0


def test_bogus_header_length() -> None:
    raw = h("""
        3b 00 05 00   # type 5 BU with Header Len 0 (8 bytes < 12)
        00 00 00 05   # checksum | Sequence 5
        00 00 00 00   # flags | Lifetime
    """)
    m = parse_mh(raw)
    assert isinstance(m, mh.BindingUpdate) and m.sequence == 5 and m.header_len == 0
    assert [a.code for a in m.anomalies] == ["mip6.bogus_header_length"]
    assert m.build() == raw


def test_payload_proto_and_header_reserved() -> None:
    raw = h("06 00 00 ff  00 00 00 00")
    m = parse_mh(raw)
    assert [a.code for a in m.anomalies] == ["mip6.payload_proto", "reserved_bits"]
    assert m.build() == raw


def test_type_mismatch_and_truncation() -> None:
    with pytest.raises(Malformed):
        mh.BindingAck.parse(BU)
    with pytest.raises(Truncated):
        parse_mh(BU[:-1])
    with pytest.raises(ValueError, match="multiple of 8"):
        mh.BindingUpdate().build()


def test_status_dialects() -> None:
    assert status_name(135) == "Sequence number out of window"
    assert status_name(140) == "Mobile Router Operation not permitted"
    assert status_name(141, "pd-2005") == "Binding Cache Entry missing"
    assert status_name(148, "draft-2007") == "Invalid Time Stamp Option"
    assert status_name(160) == "Missing MN identifier option"
    assert status_name(200).startswith("Unassigned")
    with pytest.raises(ValueError):
        status_name(0, "rfc9999")
