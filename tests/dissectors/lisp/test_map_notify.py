"""Map-Notify (type 4) and Map-Notify-Ack (type 5): vectors, round trips, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Malformed, Truncated
from dissectors.lisp import parse_control
from dissectors.lisp.afi import IPv4
from dissectors.lisp.map_notify import MapNotify, MapNotifyAck, MsRtrAuth
from dissectors.lisp.records import EidRecord, Locator
from tests.support.hexvec import h
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import auth_data, ip_record_tuples, u16, u64, xtr_ids

# NAT-draft Map-Notify: I=1 and R=1, one IPv4 record, xTR-ID/Site-ID, MS-RTR block.
N1 = h(
    """
    4c 00 00 01  # Type=4, I=1 (0x08000000), R=1 (0x04000000), Record Count 1
    de ad be ef 00 00 00 01  # Nonce
    00 01 00 14  # Key ID 1, Authentication Data Length 20
    11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11  # Authentication Data
    00 00 00 0a  # Record TTL 10
    01 20 10 00  # Locator Count 1, EID mask-len 32, ACT 0, A=1
    00 00 00 01  # Rsvd 0, Map-Version 0, EID-Prefix-AFI 1
    0a 00 00 01  # EID 10.0.0.1
    01 64 01 64  # Priority 1, Weight 100, M Priority 1, M Weight 100
    00 01 00 01  # R=1, Loc-AFI 1
    cb 00 71 07  # Locator 203.0.113.7
    f0 f1 f2 f3 f4 f5 f6 f7 f8 f9 fa fb fc fd fe ff  # xTR-ID
    00 00 00 00 00 00 00 07  # Site-ID 7
    00 02 00 20  # MS-RTR Key ID 2, MS-RTR Authentication Data Length 32
    22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22
    22 22 22 22 22 22 22 22 22 22 22 22 22 22 22 22  # MS-RTR Authentication Data
    """
)

# RFC 9301 Map-Notify-Ack: no flags, no records, Key ID 1 / Algorithm ID 1, truncated 12 bytes.
N2 = h(
    """
    50 00 00 00  # Type=5, Record Count 0
    00 00 00 00 00 00 00 09  # Nonce 9
    01 01 00 0c  # Key ID 1, Algorithm ID 1 (HMAC-SHA-1-96), Authentication Data Length 12
    33 33 33 33 33 33 33 33 33 33 33 33  # Authentication Data
    """
)

# Map-Notify, R only, empty MS-RTR block; and a reserved bit (bit 23, as in tcpdump's captures).
N3 = h("44 00 00 00  00 00 00 00 00 00 00 00  00 00 00 00  00 00 00 00")
N_RESERVED = h("40 00 01 00  00 00 00 00 00 00 00 00  00 00 00 00")


def test_vector_notify_i_r() -> None:
    m = MapNotify.parse(N1)
    assert isinstance(m, MapNotify) and m.type == 4
    assert m.xtr_id_present and m.built_for_rtr and m.reserved == 0
    assert m.nonce == 0xDEADBEEF00000001
    assert m.key_id == 1 and m.algorithm_id == 1 and m.key_id_9301 == 0
    assert m.auth_data == b"\x11" * 20
    assert m.records == (
        EidRecord(
            IPv4.of("10.0.0.1"),
            32,
            (Locator(IPv4.of("203.0.113.7"), 1, 100, 1, 100, False, False, True),),
            ttl=10,
            authoritative=True,
        ),
    )
    assert m.xtr_id == bytes(range(0xF0, 0x100)) and m.site_id == bytes(7) + b"\x07"
    assert m.ms_rtr == MsRtrAuth(2, b"\x22" * 32)
    assert m.ms_rtr.algorithm_id == 2
    assert m.spans["ms_rtr.key_id"] == (len(N1) - 36, 2)
    assert m.spans["ms_rtr.auth_data"] == (len(N1) - 32, 32)
    assert m.anomalies == ()
    assert m.build() == N1
    assert parse_control(N1) == m


def test_vector_notify_ack() -> None:
    m = MapNotifyAck.parse(N2)
    assert isinstance(parse_control(N2), MapNotifyAck)
    assert m.type == 5 and m.flags == 0
    assert m.nonce == 9 and m.key_id == 0x0101 and m.key_id_9301 == 1 and m.algorithm_id == 1
    assert m.auth_data == b"\x33" * 12
    assert m.records == () and m.xtr_id is None and m.ms_rtr is None
    assert m.anomalies == ()
    assert m.build() == N2


def test_vector_r_only_and_reserved() -> None:
    m = MapNotify.parse(N3)
    assert m.built_for_rtr and not m.xtr_id_present and m.ms_rtr == MsRtrAuth()
    assert m.build() == N3
    r = MapNotify.parse(N_RESERVED)
    assert r.reserved == 0x100 and [a.code for a in r.anomalies] == [RESERVED_BITS]
    assert r.build() == N_RESERVED


def test_types_are_checked() -> None:
    with pytest.raises(Malformed):
        MapNotify.parse(N2)
    with pytest.raises(Malformed):
        MapNotifyAck.parse(N1)


def test_i_bit_without_trailer_is_truncated() -> None:
    with pytest.raises(Truncated):
        MapNotify.parse(h("48 00 00 00") + bytes(12))


@st.composite
def notifies(draw: st.DrawFn) -> MapNotify | MapNotifyAck:
    cls = draw(st.sampled_from([MapNotify, MapNotifyAck]))
    x = draw(xtr_ids)
    ms = draw(st.one_of(st.none(), st.builds(MsRtrAuth, u16, auth_data)))
    return cls(
        nonce=draw(u64),
        key_id=draw(u16),
        auth_data=draw(auth_data),
        records=draw(ip_record_tuples),
        reserved=draw(st.integers(0, 0x3FFFF)) << 8,
        xtr_id=None if x is None else x[0],
        site_id=None if x is None else x[1],
        ms_rtr=ms,
    )


@settings(max_examples=150)
@given(notifies())
def test_roundtrip(m: MapNotify | MapNotifyAck) -> None:
    raw = m.build()
    back = type(m).parse(raw)
    assert back == m and back.build() == raw
    assert parse_control(raw) == m


def test_prefixes_truncate() -> None:
    for raw, cls in ((N1, MapNotify), (N2, MapNotifyAck), (N3, MapNotify)):
        assert_prefixes_truncated(cls.parse, raw)


def test_mutations() -> None:
    assert_mutations_safe(parse_control, N1, seed=5)
    assert_mutations_safe(parse_control, N2, seed=6)
