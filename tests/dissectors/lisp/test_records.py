"""EID-records and locator records (dissectors/lisp/records.py); its vectors are reused by the
Map-Request / Map-Reply tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import DecodeError, Reader
from dissectors.lisp.afi import address
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.records import (
    BAD_MASK_LEN,
    TTL_UNLIMITED,
    WEIGHTS_NOT_100,
    Action,
    EidRecord,
    Locator,
    ReferralAction,
    read_records,
)
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import eid_records


def parse_record(data: bytes) -> EidRecord:
    return EidRecord.parse(data)


# -- byte-exact vectors ----------------------------------------------------------------------

# RFC 9301 sec. 5.4 record with one IPv4 locator.
RECORD_V4 = bytes.fromhex(
    "000005a0"  # Record TTL = 1440 minutes
    "01185000"  # Locator Count 1 | EID mask-len 24 | ACT 2 (101 = 010|1 A) | Reserved 0
    "00070001"  # Rsvd 0 | Map-Version 7 | EID-Prefix-AFI 1
    "0a000000"  # EID-Prefix 10.0.0.0
    "0164ff00"  # Priority 1 | Weight 100 | M Priority 255 | M Weight 0
    "00070001"  # Unused 0 | L p R = 111 | Loc-AFI 1
    "c0000209"  # Locator 192.0.2.9
)


def test_record_vector_ipv4() -> None:
    rec = EidRecord.parse(RECORD_V4)
    assert rec.ttl == 1440
    assert rec.eid == address("10.0.0.0") and rec.eid_mask_len == 24
    assert rec.eid_prefix == "10.0.0.0/24"
    assert rec.action == Action.SEND_MAP_REQUEST
    assert rec.authoritative is True
    assert rec.reserved == 0 and rec.rsvd == 0 and rec.map_version == 7
    assert not rec.negative and not rec.ttl_unlimited
    (loc,) = rec.locators
    assert loc.address == address("192.0.2.9")
    assert (loc.priority, loc.weight, loc.m_priority, loc.m_weight) == (1, 100, 255, 0)
    assert loc.local and loc.probed and loc.reachable and loc.unused_flags == 0
    assert rec.anomalies == ()
    assert rec.spans["locators[0].priority"] == (16, 1)
    assert rec.spans["eid.address"] == (12, 4)
    assert rec.build() == RECORD_V4


# Negative IPv6 record, TTL unlimited, Map-Referral style bits in the reserved fields.
RECORD_V6_NEGATIVE = bytes.fromhex(
    "ffffffff"  # Record TTL = 0xffffffff (unlimited)
    "0020"  # Locator Count 0 | EID mask-len 32
    "6800"  # ACT 3 (011) | A 0 | Reserved 0x800 (Map-Referral: Incomplete)
    "2fff"  # Rsvd 2 (Map-Referral: SigCnt) | Map-Version 0xfff
    "0002"  # EID-Prefix-AFI 2
    "20010db8000000000000000000000000"  # EID-Prefix 2001:db8::
)


def test_record_vector_negative_ipv6() -> None:
    rec = EidRecord.parse(RECORD_V6_NEGATIVE)
    assert rec.ttl_unlimited and rec.ttl == TTL_UNLIMITED
    assert rec.negative and rec.locators == ()
    assert rec.eid_prefix == "2001:db8::/32"
    assert rec.action == Action.DROP_NO_REASON and not rec.authoritative
    assert rec.reserved == 0x800 and rec.incomplete
    assert rec.rsvd == 2 and rec.sig_count == 2 and rec.map_version == 0xFFF
    assert rec.build() == RECORD_V6_NEGATIVE


def test_record_vector_instance_id_eid() -> None:
    data = bytes.fromhex(
        "0000000a"  # TTL 10
        "00180000"  # Locator Count 0 | mask-len 24 | ACT 0 | A 0 | Reserved 0
        "00004003"  # Rsvd 0 | Map-Version 0 | EID-Prefix-AFI 16387 (LCAF)
        "00000218000a"  # LCAF Rsvd1 0 | Flags 0 | Type 2 | IID mask-len 24 | Length 10
        "000003e8"  # Instance ID 1000
        "0001c0a80000"  # AFI 1 | 192.168.0.0
    )
    rec = EidRecord.parse(data)
    assert rec.eid_prefix == "[1000]192.168.0.0/24"
    assert isinstance(rec.eid, InstanceId) and rec.eid.iid_mask_len == 24
    assert rec.build() == data


def test_anomalies_mask_len_and_weights() -> None:
    rec = EidRecord(
        address("10.0.0.0"),
        40,
        (Locator(address("192.0.2.1"), weight=30), Locator(address("192.0.2.2"), weight=20)),
    )
    parsed = EidRecord.parse(rec.build())
    codes = {a.code for a in parsed.anomalies}
    assert codes == {BAD_MASK_LEN, WEIGHTS_NOT_100}
    ok = EidRecord(address("10.0.0.0"), 8, (Locator(address("192.0.2.1"), weight=0),))
    assert EidRecord.parse(ok.build()).anomalies == ()


def test_read_records_scopes() -> None:
    r = Reader(RECORD_V4 + RECORD_V6_NEGATIVE)
    recs = read_records(r, 2, "mapping")
    assert len(recs) == 2 and r.pos == r.end
    assert r.spans["mapping[1].ttl"] == (len(RECORD_V4), 4)


def test_referral_action_names() -> None:
    assert [a.value for a in ReferralAction] == [0, 1, 2, 3, 4, 5]
    assert ReferralAction(2).name == "MS_ACK"


# -- hypothesis round trips ------------------------------------------------------------------


@settings(max_examples=200)
@given(eid_records())
def test_record_round_trip(rec: EidRecord) -> None:
    data = rec.build()
    again = EidRecord.parse(data)
    assert again == rec
    assert again.build() == data


@settings(max_examples=100)
@given(st.binary(max_size=80))
def test_record_random_bytes(data: bytes) -> None:
    try:
        rec = EidRecord.parse(data, allow_trailing=True)
    except DecodeError:
        return
    assert rec.build() == data[: len(rec.build())]


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [RECORD_V4, RECORD_V6_NEGATIVE])
def test_record_prefixes(data: bytes) -> None:
    assert_prefixes_truncated(parse_record, data)


def test_record_mutations() -> None:
    assert_mutations_safe(parse_record, RECORD_V4 + RECORD_V6_NEGATIVE)
