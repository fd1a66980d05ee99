"""Info-Request / Info-Reply (type 7): vectors, round trips, anomalies, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.core import RESERVED_BITS, Malformed
from dissectors.lisp import parse_control
from dissectors.lisp.afi import DistinguishedName, IPv4, NoAddress
from dissectors.lisp.info import EXPECTED_FIELD, NOT_NAT_LCAF, Info
from dissectors.lisp.lcaf import InstanceId, NatTraversal
from tests.support.hexvec import h
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import auth_data, ips, u8, u16, u32, u64

# NAT-Traversal LCAF (type 7) built by hand, independent of dissectors.lisp.lcaf.
NAT_LCAF = h(
    """
    40 03  # AFI 16387 (LCAF)
    00 00 07 00  # Rsvd1 0, Flags 0, Type 7 (NAT traversal), Rsvd2 0
    00 1c  # Length 28
    10 f6 ee 48  # MS UDP Port 4342, ETR UDP Port 61000
    00 01 c6 33 64 0a  # Global ETR RLOC 198.51.100.10
    00 01 c0 00 02 32  # MS RLOC 192.0.2.50
    00 01 0a 00 00 02  # Private ETR RLOC 10.0.0.2
    00 01 c0 00 02 63  # RTR RLOC 192.0.2.99
    """
)

INFO_REQUEST = h(
    """
    70 00 00 00  # Type=7, R=0
    12 34 56 78 9a bc de f0  # Nonce
    00 01 00 14  # Key ID 1, Authentication Data Length 20
    44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44 44  # Authentication Data
    00 00 00 00  # TTL 0
    00 20 00 01  # Reserved 0, EID mask-len 32, EID-Prefix-AFI 1
    0a 00 00 02  # EID-Prefix 10.0.0.2
    00 00  # AFI 0 (nothing follows)
    """
)

INFO_REPLY = (
    h(
        """
        78 00 00 00  # Type=7, R=1
        12 34 56 78 9a bc de f0  # Nonce (the request's)
        00 00 00 00  # Key ID 0, Authentication Data Length 0
        00 00 03 84  # TTL 900
        00 20 00 01  # Reserved 0, EID mask-len 32, EID-Prefix-AFI 1
        0a 00 00 02  # EID-Prefix 10.0.0.2
        """
    )
    + NAT_LCAF
)

# lispers.net: no auth, AFI 0 EID, last address AFI 17 with a NUL-terminated hostname.
INFO_REQUEST_HOSTNAME = h(
    """
    70 00 00 00  00 00 00 00 00 00 00 01  # Type=7 R=0, Nonce 1
    00 00 00 00  # Key ID 0, Auth length 0
    00 00 00 00  # TTL 0
    00 00 00 00  # Reserved 0, EID mask-len 0, EID-Prefix-AFI 0
    00 11 72 74 72 2d 68 6f 73 74 00  # AFI 17, "rtr-host" NUL
    """
)


def test_vector_request() -> None:
    m = Info.parse(INFO_REQUEST)
    assert m.type == 7 and not m.reply and m.reserved == 0 and m.reserved2 == 0
    assert m.nonce == 0x123456789ABCDEF0
    assert m.key_id == 1 and m.algorithm_id == 1 and m.auth_data == b"\x44" * 20
    assert m.ttl == 0 and m.eid_mask_len == 32 and m.eid == IPv4.of("10.0.0.2")
    assert m.eid_prefix == "10.0.0.2/32"
    assert m.body == NoAddress() and m.nat_traversal is None and m.hostname is None
    assert m.anomalies == ()
    assert m.spans["ttl"] == (36, 4) and m.spans["body.afi"] == (len(INFO_REQUEST) - 2, 2)
    assert m.build() == INFO_REQUEST
    assert parse_control(INFO_REQUEST) == m


def test_vector_reply_nat_lcaf() -> None:
    m = Info.parse(INFO_REPLY)
    assert m.reply and m.nonce == 0x123456789ABCDEF0
    assert m.key_id == 0 and m.auth_data == b""
    assert m.ttl == 900 and m.eid_mask_len == 32 and m.eid == IPv4.of("10.0.0.2")
    assert m.body.afi == 16387 and m.body.lcaf_type == 7  # type: ignore[attr-defined]
    assert m.nat_traversal is m.body
    assert m.body.build() == NAT_LCAF
    assert m.anomalies == ()
    nat = m.nat_traversal
    assert isinstance(nat, NatTraversal)  # decoded by dissectors.lisp.lcaf via Address.read
    assert nat.ms_udp_port == 4342 and nat.etr_udp_port == 61000
    assert nat.global_etr_rloc == IPv4.of("198.51.100.10") and nat.ms_rloc == IPv4.of("192.0.2.50")
    assert nat.private_etr_rloc == IPv4.of("10.0.0.2")
    assert nat.rtr_rlocs == (IPv4.of("192.0.2.99"),)
    assert m.build() == INFO_REPLY


def test_vector_request_hostname() -> None:
    m = Info.parse(INFO_REQUEST_HOSTNAME)
    assert not m.reply and m.eid == NoAddress() and m.eid_mask_len == 0
    assert m.body == DistinguishedName(b"rtr-host") and m.hostname == b"rtr-host"
    assert m.anomalies == ()
    assert m.build() == INFO_REQUEST_HOSTNAME


def test_expected_field_anomalies() -> None:
    bad_request = Info(eid=IPv4.of("10.0.0.1"), eid_mask_len=32, body=IPv4.of("192.0.2.1"))
    assert [a.code for a in Info.parse(bad_request.build()).anomalies] == [EXPECTED_FIELD]
    bad_reply = Info(reply=True, body=NoAddress())
    assert [a.code for a in Info.parse(bad_reply.build()).anomalies] == [EXPECTED_FIELD]
    iid_reply = Info(reply=True, body=InstanceId(iid=5, address=IPv4.of("10.0.0.1")))
    assert [a.code for a in Info.parse(iid_reply.build()).anomalies] == [NOT_NAT_LCAF]


def test_reserved_bits() -> None:
    m = Info(reserved=0x00000001, reserved2=0x80)
    back = Info.parse(m.build())
    assert back == m and [a.code for a in back.anomalies] == [RESERVED_BITS, RESERVED_BITS]


def test_wrong_type() -> None:
    with pytest.raises(Malformed):
        Info.parse(b"\x30" + INFO_REQUEST[1:])


@st.composite
def infos(draw: st.DrawFn) -> Info:
    reply = draw(st.booleans())
    body = draw(
        st.one_of(
            st.just(NoAddress()),
            st.builds(
                DistinguishedName, st.binary(max_size=12).map(lambda b: b.replace(b"\0", b"x"))
            ),
            ips,
            st.just(NAT_LCAF).map(lambda _: Info.parse(INFO_REPLY).body),
        )
    )
    return Info(
        reply=reply,
        nonce=draw(u64),
        key_id=draw(u16),
        auth_data=draw(auth_data),
        ttl=draw(u32),
        eid_mask_len=draw(u8),
        eid=draw(st.one_of(st.just(NoAddress()), ips)),
        body=body,
        reserved=draw(st.integers(0, 0x07FFFFFF)),
        reserved2=draw(u8),
    )


@settings(max_examples=150)
@given(infos())
def test_roundtrip(m: Info) -> None:
    raw = m.build()
    back = Info.parse(raw)
    assert back == m and back.build() == raw
    assert parse_control(raw) == m


def test_prefixes_truncate() -> None:
    for raw in (INFO_REQUEST, INFO_REPLY, INFO_REQUEST_HOSTNAME):
        assert_prefixes_truncated(Info.parse, raw)


def test_mutations() -> None:
    assert_mutations_safe(parse_control, INFO_REQUEST, seed=7)
    assert_mutations_safe(parse_control, INFO_REPLY, seed=8)
