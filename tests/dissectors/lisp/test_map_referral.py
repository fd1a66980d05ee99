"""Map-Referral (type 6, RFC 8111): vectors, round trips, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Malformed, Truncated
from dissectors.lisp.afi import address
from dissectors.lisp.map_referral import (
    UNKNOWN_REFERRAL_ACTION,
    MapReferral,
    ReferralRecord,
    Signature,
)
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import EidRecord, Locator, ReferralAction
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import addresses, locators, u8, u16, u32, u64

REFERRAL = bytes.fromhex(
    "60000002"  # Type 6 | Reserved 0 | Record Count 2
    "0000000000000abc"  # Nonce
    # record 0: MS-referral, incomplete, one referral, one signature
    "000005a0"  # Record TTL 1440
    "01083800"  # Referral Count 1 | mask-len 8 | ACT 1 (001) | A 1 | I 1 | Reserved 0
    "10000001"  # SigCnt 1 | Map Version 0 | EID-AFI 1
    "0a000000"  # EID-prefix 10.0.0.0
    "0164ff00"  # Priority 1 | Weight 100 | M Priority 255 | M Weight 0
    "00010001"  # Unused 0 | L p R = 001 | Loc-AFI 1
    "c0000207"  # Locator 192.0.2.7
    "00000e10"  # Signature: Original Record TTL 3600
    "65000000"  # Signature Expiration
    "64000000"  # Signature Inception
    "12340004"  # Key Tag 0x1234 | Sig Length 4
    "08000000"  # Sig-Algorithm 8 | Reserved 0 | Reserved 0
    "deadbeef"  # Signature
    # record 1: delegation hole, no referrals, no signatures
    "0000000f"  # Record TTL 15
    "00108000"  # Referral Count 0 | mask-len 16 | ACT 4 (100) | A 0 | I 0
    "00000001"  # SigCnt 0 | Map Version 0 | EID-AFI 1
    "0a010000"  # 10.1.0.0
)


def test_vector_referral_with_signature() -> None:
    msg = MapReferral.parse(REFERRAL)
    assert msg.type == 6 and msg.nonce == 0xABC and msg.reserved == 0
    assert msg.record_count == 2
    first, second = msg.records
    assert first.referral_action == ReferralAction.MS_REFERRAL and first.action == 1
    assert first.authoritative and first.incomplete
    assert first.eid_prefix == "10.0.0.0/8" and first.ttl == 1440
    assert first.referrals == (Locator(address("192.0.2.7")),) and first.referral_count == 1
    assert first.sig_count == 1 and first.mapping.sig_count == 1
    (sig,) = first.signatures
    assert sig == Signature(3600, 0x65000000, 0x64000000, 0x1234, 8, bytes.fromhex("deadbeef"))
    assert sig.sig_length == 4
    assert second.referral_action == ReferralAction.DELEGATION_HOLE
    assert not second.incomplete and second.sig_count == 0 and second.referrals == ()
    assert msg.anomalies == ()
    assert msg.spans["records[0].mapping.ttl"] == (12, 4)
    assert msg.spans["records[0].signatures[0].signature"] == (60, 4)
    assert msg.build() == REFERRAL
    assert parse_control(REFERRAL) == msg


def test_sig_count_is_derived() -> None:
    rec = ReferralRecord(EidRecord(address("10.0.0.0"), 8, rsvd=5), (Signature(),))
    assert rec.mapping.rsvd == 1 and rec.sig_count == 1
    with pytest.raises(ValueError):
        ReferralRecord(EidRecord(address("10.0.0.0"), 8), (Signature(),) * 16)


def test_anomalies() -> None:
    data = bytes.fromhex(
        "60000101"  # Type 6 | Reserved 0x000001 (bit 23) | Record Count 1
        "0000000000000000"  # Nonce
        "00000001"  # TTL 1
        "0000e001"  # Referral Count 0 | mask-len 0 | ACT 7 | A 0 | I 0 | Reserved 1
        "00000000"  # SigCnt 0 | Map Version 0 | EID-AFI 0
    )
    msg = MapReferral.parse(data)
    assert msg.reserved == 0x100
    codes = sorted(a.code for a in msg.anomalies)
    assert codes == sorted([RESERVED_BITS, UNKNOWN_REFERRAL_ACTION, RESERVED_BITS])
    assert msg.records[0].referral_action is None
    assert msg.build() == data
    sig = Signature(reserved1=1, signature=b"x")
    assert [a.code for a in Signature.parse(sig.build()).anomalies] == [RESERVED_BITS]


def test_errors() -> None:
    with pytest.raises(Truncated):  # SigCnt 1 but no signature section
        MapReferral.parse(bytes.fromhex("60000001" + "00" * 8 + "00000001000000001000" + "0000"))
    with pytest.raises(Truncated):  # Sig Length beyond the end
        Signature.parse(bytes.fromhex("00" * 14 + "0010" + "00" * 4 + "aa"))
    with pytest.raises(Malformed):
        MapReferral.parse(bytes.fromhex("20000000") + bytes(8))


signatures = st.builds(Signature, u32, u32, u32, u16, u8, st.binary(max_size=40), u8, u16)
referral_records = st.builds(
    ReferralRecord,
    st.builds(
        EidRecord,
        addresses,
        u8,
        st.lists(locators, max_size=2).map(tuple),
        u32,
        st.integers(0, 7),
        st.booleans(),
        st.integers(0, 0xFFF),
        st.just(0),
        st.integers(0, 0xFFF),
    ),
    st.lists(signatures, max_size=2).map(tuple),
)
map_referrals = st.builds(
    MapReferral,
    nonce=u64,
    records=st.lists(referral_records, max_size=3).map(tuple),
    reserved=st.integers(0, 0xFFFFF).map(lambda v: v << 8),
)


@settings(max_examples=200)
@given(map_referrals)
def test_round_trip(msg: MapReferral) -> None:
    data = msg.build()
    again = MapReferral.parse(data)
    assert again == msg and again.build() == data
    assert parse_control(data) == msg


def test_prefixes() -> None:
    assert_prefixes_truncated(MapReferral.parse, REFERRAL)


def test_mutations() -> None:
    assert_mutations_safe(MapReferral.parse, REFERRAL)
    assert_mutations_safe(parse_control, REFERRAL, count=1000, seed=4)
