"""Map-Request (type 1): vectors from the RFC 6830 / 9301 / 9437 layouts, round trips,
robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Malformed, Truncated
from dissectors.lisp.afi import DistinguishedName, NoAddress, address
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.map_request import XTR_ID_WITHOUT_SITE_ID, MapRequest, RequestRecord
from dissectors.lisp.message import parse_control
from dissectors.lisp.records import EidRecord
from tests.dissectors.lisp.test_records import RECORD_V4
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import addresses, eid_records, u8, u64

# An SMR as RFC 6830 sec. 6.1.2 lays it out: two ITR-RLOCs (IPv4, IPv6), one record.
SMR_6830 = bytes.fromhex(
    "11000101"  # Type 1 | A M P S=1 p s = 000100 | Reserved 0 | IRC 1 | Record Count 1
    "0102030405060708"  # Nonce
    "00010a000001"  # Source-EID-AFI 1 | 10.0.0.1
    "0001c0000201"  # ITR-RLOC-AFI 1 | 192.0.2.1
    "000220010db8000000000000000000000001"  # ITR-RLOC-AFI 2 | 2001:db8::1
    "00180001"  # Reserved 0 | EID mask-len 24 | EID-Prefix-AFI 1
    "0a010000"  # EID-Prefix 10.1.0.0
)


def test_vector_smr_6830() -> None:
    msg = MapRequest.parse(SMR_6830)
    assert msg.type == 1 and msg.nonce == 0x0102030405060708
    assert msg.smr and msg.is_smr and msg.kind == "smr"
    assert not (msg.authoritative or msg.probe or msg.pitr or msg.smr_invoked)
    assert not (msg.map_data_present or msg.mobile_node or msg.xtr_id_present)
    assert not (msg.nat_xtr or msg.local_xtr or msg.dont_map_reply) and msg.reserved == 0
    assert msg.irc == 1 and msg.record_count == 1
    assert msg.source_eid == address("10.0.0.1")
    assert msg.itr_rlocs == (address("192.0.2.1"), address("2001:db8::1"))
    (rec,) = msg.records
    assert rec.eid_prefix == "10.1.0.0/24" and not rec.notify_requested and rec.reserved == 0
    assert msg.map_reply is None and msg.xtr_id is None and msg.site_id is None
    assert msg.anomalies == ()
    assert msg.spans["nonce"] == (4, 8)
    assert msg.spans["itr_rlocs[1].address"] == (26, 16)
    assert msg.spans["records[0].eid_mask_len"] == (43, 1)
    assert msg.build() == SMR_6830
    assert parse_control(SMR_6830) == msg


# Every bit any dialect names, the M-bit Map-Reply record and the RFC 9437 trailer.
ALL_FLAGS = (
    bytes.fromhex(
        "1ff0e001"  # Type 1 | A M P S p s m I = 11111111 | Rsvd 0000 | N L D = 111 | IRC 0 | RC 1
        "00000000000000ff"  # Nonce 255
        "0000"  # Source-EID-AFI 0 (no source EID)
        "0001c0000201"  # ITR-RLOC-AFI 1 | 192.0.2.1
        "80200001"  # N=1 Reserved 0 | EID mask-len 32 | EID-Prefix-AFI 1
        "0a000005"  # EID-Prefix 10.0.0.5
    )
    + RECORD_V4  # Map-Reply record (M): see test_records.RECORD_V4
    + bytes.fromhex(
        "000102030405060708090a0b0c0d0e0f"  # xTR-ID (128 bits)
        "1112131415161718"  # Site-ID (64 bits)
    )
)


def test_vector_all_flags_9301_9437() -> None:
    msg = MapRequest.parse(ALL_FLAGS)
    assert msg.authoritative and msg.map_data_present and msg.probe and msg.smr
    assert msg.pitr and msg.smr_invoked and msg.mobile_node and msg.xtr_id_present
    assert msg.nat_xtr and msg.local_xtr and msg.dont_map_reply and msg.reserved == 0
    assert msg.rloc_probe and msg.is_rloc_probe and msg.is_smr_invoked
    assert msg.irc == 0 and msg.source_eid == NoAddress()
    assert msg.records == (RequestRecord(address("10.0.0.5"), 32, notify_requested=True),)
    assert msg.records[0].reserved_byte == 0x80 and msg.notify_requested
    assert msg.records[0].subscribe
    assert msg.map_reply == EidRecord.parse(RECORD_V4)
    assert msg.xtr_id == bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    assert msg.site_id == bytes.fromhex("1112131415161718")
    assert msg.anomalies == ()
    assert msg.spans["map_reply.ttl"] == (28, 4)
    assert msg.build() == ALL_FLAGS


def test_vector_lispers_xtr_id_only() -> None:
    # lispers.net sets bit 11 and appends the 128-bit xTR-ID without a Site-ID.
    data = bytes.fromhex(
        "10100001"  # Type 1 | I (0x00100000) | IRC 0 | Record Count 1
        "0000000000000001"  # Nonce 1
        "0000"  # Source-EID-AFI 0
        "0001c0000201"  # ITR-RLOC 192.0.2.1
        "00000001"  # Reserved 0 | mask-len 0 | AFI 1
        "00000000"  # 0.0.0.0
        "ffeeddccbbaa99887766554433221100"  # xTR-ID
    )
    msg = MapRequest.parse(data)
    assert msg.xtr_id == bytes.fromhex("ffeeddccbbaa99887766554433221100")
    assert msg.site_id is None
    assert [a.code for a in msg.anomalies] == [XTR_ID_WITHOUT_SITE_ID]
    assert msg.build() == data
    with pytest.raises(Truncated):
        MapRequest.parse(data[:-1])  # I set but fewer than 16 bytes left


def test_vector_dn_source_and_lcaf_itr_rloc() -> None:
    # The two cases Wireshark aborts on: a Distinguished-Name Source-EID, an LCAF ITR-RLOC.
    data = bytes.fromhex(
        "10000001"  # Type 1 | no flags | IRC 0 | Record Count 1
        "0000000000000002"  # Nonce 2
        "00116d6e00"  # Source-EID-AFI 17 | "mn" NUL
        "4003"  # ITR-RLOC-AFI 16387 (LCAF)
        "00000200000a"  # Rsvd1 | Flags | Type 2 (IID) | IID mask-len 0 | Length 10
        "00000007"  # Instance ID 7
        "0001c0000201"  # AFI 1 | 192.0.2.1
        "00100001"  # Reserved 0 | mask-len 16 | AFI 1
        "0a010000"  # 10.1.0.0
    )
    msg = MapRequest.parse(data)
    assert msg.source_eid == DistinguishedName(b"mn")
    assert msg.itr_rlocs == (InstanceId(iid=7, address=address("192.0.2.1")),)
    assert str(msg.itr_rlocs[0]) == "[7]192.0.2.1"
    assert msg.kind == "request" and msg.anomalies == ()
    assert msg.build() == data


def test_reserved_bits_are_anomalies() -> None:
    data = bytes.fromhex(
        "100a0000"  # Type 1 | bits 12-15 = 1010 | IRC 0 | Record Count 0
        "0000000000000000"  # Nonce
        "0000"  # Source-EID-AFI 0
        "0001c0000201"  # ITR-RLOC 192.0.2.1
    )
    msg = MapRequest.parse(data)
    assert msg.reserved == 0x000A0000
    assert [a.code for a in msg.anomalies] == [RESERVED_BITS]
    assert msg.build() == data
    rec = RequestRecord.parse(bytes.fromhex("41080001") + bytes(4))  # N=0, reserved 0x41
    assert rec.reserved == 0x41 and not rec.notify_requested
    assert [a.code for a in rec.anomalies] == [RESERVED_BITS]


def test_errors() -> None:
    with pytest.raises(Malformed):  # ITR-RLOC with an unknown AFI
        MapRequest.parse(bytes.fromhex("10000000" + "00" * 8 + "0000" + "0099"))
    with pytest.raises(Malformed):  # not a Map-Request at all
        MapRequest.parse(bytes.fromhex("20000000" + "00" * 8))
    with pytest.raises(ValueError):
        MapRequest(itr_rlocs=()).build()  # IRC + 1 >= 1 by construction
    with pytest.raises(ValueError):
        MapRequest(itr_rlocs=(address("192.0.2.1"),), site_id=bytes(8)).build()
    with pytest.raises(ValueError):  # an xTR-ID is 16 bytes
        MapRequest(itr_rlocs=(address("192.0.2.1"),), xtr_id=bytes(15)).build()
    with pytest.raises(ValueError):  # a Site-ID is 8 bytes
        MapRequest(itr_rlocs=(address("192.0.2.1"),), xtr_id=bytes(16), site_id=bytes(7)).build()


# -- hypothesis ------------------------------------------------------------------------------

request_records = st.builds(RequestRecord, addresses, u8, st.booleans(), st.integers(0, 0x7F))
trailers = st.one_of(
    st.just((None, None)),
    st.tuples(
        st.binary(min_size=16, max_size=16),
        st.one_of(st.none(), st.binary(min_size=8, max_size=8)),
    ),
)


@st.composite
def map_requests(draw: st.DrawFn) -> MapRequest:
    xtr_id, site_id = draw(trailers)
    flags = draw(st.lists(st.booleans(), min_size=10, max_size=10))
    return MapRequest(
        nonce=draw(u64),
        source_eid=draw(addresses),
        itr_rlocs=tuple(draw(st.lists(addresses, min_size=1, max_size=4))),
        records=tuple(draw(st.lists(request_records, max_size=3))),
        map_reply=draw(st.one_of(st.none(), eid_records(2))),
        xtr_id=xtr_id,
        site_id=site_id,
        authoritative=flags[0],
        probe=flags[1],
        smr=flags[2],
        pitr=flags[3],
        smr_invoked=flags[4],
        mobile_node=flags[5],
        nat_xtr=flags[6],
        local_xtr=flags[7],
        dont_map_reply=flags[8],
        reserved=draw(st.integers(0, 0xF)) << 16 if flags[9] else 0,
    )


@settings(max_examples=200)
@given(map_requests())
def test_round_trip(msg: MapRequest) -> None:
    data = msg.build()
    again = MapRequest.parse(data)
    assert again == msg
    assert again.build() == data
    assert parse_control(data) == msg


@settings(max_examples=150)
@given(st.binary(min_size=1, max_size=120))
def test_random_bodies(body: bytes) -> None:
    data = bytes([0x10]) + body
    try:
        msg = MapRequest.parse(data, allow_trailing=True)
    except (Truncated, Malformed):
        return
    built = msg.build()
    assert data.startswith(built)


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [SMR_6830, ALL_FLAGS])
def test_prefixes(data: bytes) -> None:
    assert_prefixes_truncated(MapRequest.parse, data)


@pytest.mark.parametrize("data", [SMR_6830, ALL_FLAGS])
def test_mutations(data: bytes) -> None:
    assert_mutations_safe(MapRequest.parse, data)
    assert_mutations_safe(parse_control, data, count=1000, seed=2)
