"""Map-Reply (type 2): vectors from the RFC 6830 / 9301 layout (+ lispers.net hop count),
round trips, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Malformed, Truncated
from dissectors.lisp.afi import address
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import Action, EidRecord
from tests.dissectors.lisp.test_records import RECORD_V4, RECORD_V6_NEGATIVE
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import eid_records, u64

# A positive reply (RFC 9301 sec. 5.4) with P, E and S set and a lispers.net hop count of 3.
REPLY = (
    bytes.fromhex(
        "2e000302"  # Type 2 | P E S = 111 | Reserved 0 | Hop Count 3 | Record Count 2
        "8877665544332211"  # Nonce
    )
    + RECORD_V4  # 10.0.0.0/24 -> 192.0.2.9 (see test_records)
    + RECORD_V6_NEGATIVE  # 2001:db8::/32, no locators
)

NEGATIVE = bytes.fromhex(
    "20000001"  # Type 2 | no flags | Record Count 1
    "0000000000000009"  # Nonce 9
    "0000000f"  # Record TTL 15
    "00102000"  # Locator Count 0 | mask-len 16 | ACT 1 Natively-Forward (001) | A 0
    "00000001"  # Rsvd 0 | Map-Version 0 | EID-Prefix-AFI 1
    "0a010000"  # 10.1.0.0
)


def test_vector_positive_with_flags() -> None:
    msg = MapReply.parse(REPLY)
    assert msg.type == 2 and msg.nonce == 0x8877665544332211
    assert msg.probe and msg.rloc_probe_reply
    assert msg.echo_nonce_capable and msg.security and msg.lisp_sec
    assert msg.hop_count == 3 and msg.reserved == 0 and msg.reserved_bits == 0x300
    assert msg.record_count == 2 and not msg.negative
    assert msg.records == (EidRecord.parse(RECORD_V4), EidRecord.parse(RECORD_V6_NEGATIVE))
    assert msg.anomalies == ()
    assert msg.spans["records[1].ttl"] == (12 + len(RECORD_V4), 4)
    assert msg.build() == REPLY
    assert parse_control(REPLY) == msg


def test_vector_negative() -> None:
    msg = MapReply.parse(NEGATIVE)
    assert not (msg.probe or msg.echo_nonce_capable or msg.security) and msg.hop_count == 0
    assert msg.negative
    (rec,) = msg.records
    assert rec.action == Action.NATIVELY_FORWARD and rec.ttl == 15
    assert rec.eid_prefix == "10.1.0.0/16"
    assert msg.build() == NEGATIVE


def test_reserved_bits() -> None:
    data = bytes.fromhex("21800000") + bytes(8)  # bits 7 and 8 set, no records
    msg = MapReply.parse(data)
    assert msg.reserved == 0x01800000 and msg.records == ()
    assert [a.code for a in msg.anomalies] == [RESERVED_BITS]
    assert msg.build() == data
    assert not MapReply().negative  # no records: not a negative reply


def test_errors() -> None:
    with pytest.raises(Truncated):
        MapReply.parse(bytes.fromhex("20000001") + bytes(8))  # record count 1, no record
    with pytest.raises(Malformed):
        MapReply.parse(bytes.fromhex("10000000") + bytes(8))
    with pytest.raises(ValueError):
        MapReply(hop_count=256).build()
    with pytest.raises(ValueError):
        MapReply(records=(EidRecord(address("10.0.0.0"), 8),) * 256).build()


@st.composite
def map_replies(draw: st.DrawFn) -> MapReply:
    return MapReply(
        nonce=draw(u64),
        records=tuple(draw(st.lists(eid_records(), max_size=3))),
        probe=draw(st.booleans()),
        echo_nonce_capable=draw(st.booleans()),
        security=draw(st.booleans()),
        hop_count=draw(st.integers(0, 255)),
        reserved=draw(st.integers(0, 0x1FF)) << 16,
    )


@settings(max_examples=200)
@given(map_replies())
def test_round_trip(msg: MapReply) -> None:
    data = msg.build()
    again = MapReply.parse(data)
    assert again == msg and again.build() == data
    assert parse_control(data) == msg


@pytest.mark.parametrize("data", [REPLY, NEGATIVE])
def test_prefixes(data: bytes) -> None:
    assert_prefixes_truncated(MapReply.parse, data)


@pytest.mark.parametrize("data", [REPLY, NEGATIVE])
def test_mutations(data: bytes) -> None:
    assert_mutations_safe(MapReply.parse, data)
    assert_mutations_safe(parse_control, data, count=1000, seed=3)
