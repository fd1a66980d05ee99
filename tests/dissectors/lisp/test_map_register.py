"""Map-Register (type 3): hand-written vectors, round trips, robustness."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Truncated
from dissectors.lisp import parse_control
from dissectors.lisp.afi import IPv4, IPv6
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.records import EidRecord, Locator
from tests.support.hexvec import h
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import auth_data, ip_record_tuples, u16, u64, xtr_ids

# RFC 6830 style: P and M, one IPv4 record, key id 1 with a full 20-byte SHA-1 digest field.
V1 = h(
    """
    38 00 01 01  # Type=3, P=1 (0x08000000), M=1 (0x100), Record Count 1
    01 02 03 04 05 06 07 08  # Nonce
    00 01 00 14  # Key ID 1 (HMAC-SHA-1-96), Authentication Data Length 20
    aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa aa  # Authentication Data
    00 00 05 a0  # Record TTL 1440 minutes
    01 18 10 00  # Locator Count 1, EID mask-len 24, ACT 0, A=1, Reserved 0
    00 00 00 01  # Rsvd 0, Map-Version 0, EID-Prefix-AFI 1
    0a 01 02 00  # EID-Prefix 10.1.2.0
    01 64 ff 00  # Priority 1, Weight 100, M Priority 255, M Weight 0
    00 05 00 01  # Unused flags 0, L=1, p=0, R=1, Loc-AFI 1
    c0 00 02 01  # Locator 192.0.2.1
    """
)

# Every named bit: S, I, R, encryption key-id 5, e, F, T, a, m, M; 9301 key 3 / algorithm 2
# with a 32-byte digest field; an IPv6 record; the xTR-ID / Site-ID trailer.
V2 = h(
    """
    37 01 7f 01  # Type=3 S I R | key-id 5 (0x14000) e F T a m M (0x3f00) | Record Count 1
    00 00 00 00 00 00 00 00  # Nonce 0
    03 02 00 20  # Key ID 3, Algorithm ID 2, Authentication Data Length 32
    55 55 55 55 55 55 55 55 55 55 55 55 55 55 55 55
    55 55 55 55 55 55 55 55 55 55 55 55 55 55 55 55  # Authentication Data
    ff ff ff ff  # Record TTL unlimited
    01 40 00 00  # Locator Count 1, EID mask-len 64, ACT 0, A=0
    00 05 00 02  # Rsvd 0, Map-Version 5, EID-Prefix-AFI 2
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 00  # EID-Prefix 2001:db8::
    01 64 ff 00  # Priority 1, Weight 100, M Priority 255, M Weight 0
    00 01 00 02  # R=1, Loc-AFI 2
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01  # Locator 2001:db8::1
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  # xTR-ID
    00 00 00 00 00 00 00 01  # Site-ID
    """
)

# Minimal: no flags, no auth, no records; and one with reserved bits 8-14 set.
V3 = h("30 00 00 00  00 00 00 00 00 00 00 2a  00 00 00 00")
V_RESERVED = h("30 fe 00 00  00 00 00 00 00 00 00 00  00 00 00 00")


def test_vector_6830_p_m() -> None:
    m = MapRegister.parse(V1)
    assert isinstance(m, MapRegister) and m.type == 3
    assert m.proxy_map_reply and m.want_map_notify
    assert not (m.lisp_sec or m.xtr_id_present or m.built_for_rtr or m.encrypt or m.refresh)
    assert not (m.ttl_as_timeout or m.merge or m.mobile_node)
    assert m.encryption_key_id == 0 and m.reserved == 0
    assert m.nonce == 0x0102030405060708
    assert m.key_id == 1 and m.key_id_9301 == 0 and m.algorithm_id == 1
    assert m.auth_data == b"\xaa" * 20 and m.auth_len == 20
    assert m.xtr_id is None and m.site_id is None
    (rec,) = m.records
    assert rec == EidRecord(
        IPv4.of("10.1.2.0"),
        24,
        (Locator(IPv4.of("192.0.2.1"), 1, 100, 255, 0, True, False, True),),
        ttl=1440,
        authoritative=True,
    )
    assert m.anomalies == ()
    assert m.spans["nonce"] == (4, 8)
    assert m.spans["auth_data"] == (16, 20)
    assert m.spans["records[0].locators[0].address.address"] == (60, 4)
    assert m.build() == V1
    assert parse_control(V1) == m


def test_vector_all_bits_xtr_id() -> None:
    m = MapRegister.parse(V2)
    assert m.lisp_sec and m.xtr_id_present and m.built_for_rtr and not m.proxy_map_reply
    assert m.encryption_key_id == 5
    assert m.encrypt and m.refresh and m.ttl_as_timeout and m.merge and m.mobile_node
    assert m.want_map_notify and m.reserved == 0
    assert m.nonce == 0
    assert m.key_id == 0x0302 and m.key_id_9301 == 3 and m.algorithm_id == 2
    assert m.auth_data == b"\x55" * 32
    (rec,) = m.records
    assert rec.eid == IPv6.of("2001:db8::") and rec.eid_mask_len == 64
    assert rec.ttl_unlimited and rec.map_version == 5 and not rec.authoritative
    assert rec.locators[0].address == IPv6.of("2001:db8::1") and rec.locators[0].reachable
    assert m.xtr_id == bytes(range(16))
    assert m.site_id == b"\x00" * 7 + b"\x01"
    assert m.spans["xtr_id"] == (len(V2) - 24, 16)
    assert m.spans["site_id"] == (len(V2) - 8, 8)
    assert m.anomalies == ()  # the lispers.net bits are never flagged
    assert m.build() == V2


def test_vector_minimal_and_reserved() -> None:
    m = MapRegister.parse(V3)
    assert m == MapRegister(nonce=42)
    assert m.flags == 0 and m.build() == V3
    r = MapRegister.parse(V_RESERVED)
    assert r.reserved == 0x00FE0000
    assert [a.code for a in r.anomalies] == [RESERVED_BITS]
    assert r.build() == V_RESERVED


FLAGS = [
    ("proxy_map_reply", 0x08000000),
    ("lisp_sec", 0x04000000),
    ("built_for_rtr", 0x01000000),
    ("encrypt", 0x00002000),
    ("refresh", 0x00001000),
    ("ttl_as_timeout", 0x00000800),
    ("merge", 0x00000400),
    ("mobile_node", 0x00000200),
    ("want_map_notify", 0x00000100),
]


@pytest.mark.parametrize(("name", "mask"), FLAGS)
def test_each_flag_alone(name: str, mask: int) -> None:
    raw = (0x30000000 | mask).to_bytes(4, "big") + bytes(12)
    m = MapRegister.parse(raw)
    assert getattr(m, name) is True
    assert [n for n, _ in FLAGS if getattr(m, n)] == [name]
    assert m.anomalies == ()
    assert MapRegister(**{name: True}).build() == raw


@pytest.mark.parametrize("kid", range(8))
def test_encryption_key_id(kid: int) -> None:
    raw = (0x30000000 | (kid << 14)).to_bytes(4, "big") + bytes(12)
    m = MapRegister.parse(raw)
    assert m.encryption_key_id == kid and m.anomalies == ()
    assert MapRegister(encryption_key_id=kid).build() == raw


def test_i_bit_needs_trailer() -> None:
    raw = (0x32000000).to_bytes(4, "big") + bytes(12)
    with pytest.raises(Truncated):
        MapRegister.parse(raw)
    m = MapRegister.parse(raw + bytes(24))
    assert m.xtr_id == bytes(16) and m.site_id == bytes(8)
    with pytest.raises(ValueError):
        MapRegister(xtr_id=bytes(16)).build()


def test_any_auth_length_decodes() -> None:
    raw = h("30 00 00 00  00 00 00 00 00 00 00 00  00 01 00 07  01 02 03 04 05 06 07")
    m = MapRegister.parse(raw)
    assert m.auth_data == bytes(range(1, 8))
    assert [a.code for a in m.anomalies] == ["lisp.auth.bad_length"]
    assert m.build() == raw


@st.composite
def map_registers(draw: st.DrawFn) -> MapRegister:
    x = draw(xtr_ids)
    return MapRegister(
        nonce=draw(u64),
        key_id=draw(u16),
        auth_data=draw(auth_data),
        records=draw(ip_record_tuples),
        proxy_map_reply=draw(st.booleans()),
        lisp_sec=draw(st.booleans()),
        built_for_rtr=draw(st.booleans()),
        want_map_notify=draw(st.booleans()),
        encryption_key_id=draw(st.integers(0, 7)),
        encrypt=draw(st.booleans()),
        refresh=draw(st.booleans()),
        ttl_as_timeout=draw(st.booleans()),
        merge=draw(st.booleans()),
        mobile_node=draw(st.booleans()),
        reserved=draw(st.integers(0, 0x7F)) << 17,
        xtr_id=None if x is None else x[0],
        site_id=None if x is None else x[1],
    )


@settings(max_examples=150)
@given(map_registers())
def test_roundtrip(m: MapRegister) -> None:
    raw = m.build()
    back = MapRegister.parse(raw)
    assert back == m
    assert back.build() == raw
    assert parse_control(raw) == m


def test_prefixes_truncate() -> None:
    for raw in (V1, V2, V3):
        assert_prefixes_truncated(MapRegister.parse, raw)


def test_mutations() -> None:
    assert_mutations_safe(parse_control, V1, seed=3)
    assert_mutations_safe(parse_control, V2, seed=4)


def test_wrong_type_is_malformed() -> None:
    from dissectors.core import Malformed

    with pytest.raises(Malformed):
        MapRegister.parse(b"\x40" + V1[1:])


def test_ipaddress_sanity() -> None:
    assert ipaddress.ip_address("10.1.2.0").packed == V1[48:52]
