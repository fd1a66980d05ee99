"""AFI-encoded addresses (``dissectors/lisp/afi.py``): vectors, strings, errors, round-trips."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dissectors.lisp  # noqa: F401  (registers every LCAF type)
from dissectors.core import TRAILING_BYTES, DecodeError, Malformed, Truncated
from dissectors.lisp.afi import (
    UNDECODED,
    Address,
    Afi,
    DistinguishedName,
    IPv4,
    IPv6,
    LcafUnknown,
    Mac,
    NoAddress,
    address,
)
from dissectors.lisp.lcaf import InstanceId, OpaqueKey
from tests.support.hexvec import h
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import simple_addresses

VECTORS: list[tuple[str, bytes, Address, str, int]] = [
    # name, wire, value, canonical, AFI
    ("none", h("0000  # AFI 0, no body"), NoAddress(), "no-address", 0),
    (
        "ipv4",
        h("0001 c0000201  # AFI 1 | 192.0.2.1"),
        IPv4.of("192.0.2.1"),
        "192.0.2.1",
        1,
    ),
    (
        "ipv6",
        h("""
        0002                                  # AFI 2
        2001 0db8 0000 0000 0000 0000 0000 0001  # 2001:db8::1
        """),
        IPv6.of("2001:db8::1"),
        "2001:db8::1",
        2,
    ),
    (
        "ieee802",
        h("0006 0200 0000 00aa  # AFI 6 | 02:00:00:00:00:aa"),
        Mac(bytes.fromhex("0200000000aa"), Afi.IEEE802),
        "02:00:00:00:00:aa",
        6,
    ),
    (
        "mac48",
        h("4005 0200 0000 00bb  # AFI 16389 | 02:00:00:00:00:bb"),
        Mac(bytes.fromhex("0200000000bb")),
        "02:00:00:00:00:bb",
        16389,
    ),
    (
        "distinguished_name",
        h("0011 7874 722d 3100  # AFI 17 | 'xtr-1' NUL"),
        DistinguishedName(b"xtr-1"),
        "xtr-1",
        17,
    ),
    (
        "distinguished_name_empty",
        h("0011 00  # AFI 17 | empty name, NUL"),
        DistinguishedName(b""),
        "",
        17,
    ),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(vector: tuple[str, bytes, Address, str, int]) -> None:
    _, wire, value, canonical, afi = vector
    got = Address.parse(wire)
    assert got == value
    assert got.afi == afi
    assert got.canonical() == str(got) == canonical
    assert got.build() == wire == value.build()
    assert got.anomalies == ()
    assert got.spans["afi"] == (0, 2)


def test_spans_of_the_body() -> None:
    assert Address.parse(h("0001 c0000201")).spans["address"] == (2, 4)
    assert Address.parse(h("0011 6100")).spans["name"] == (2, 2)


def test_ipv6_canonical_is_rfc5952() -> None:
    assert IPv6.of("2001:0DB8:0:0:1:0:0:1").canonical() == "2001:db8::1:0:0:1"
    assert IPv6.of("::ffff:192.0.2.1").canonical() == "::ffff:c000:201"


def test_prefix_strings() -> None:
    assert IPv4.of("10.0.0.0").prefix(24) == "10.0.0.0/24"
    assert IPv6.of("2001:db8::").prefix(32) == "2001:db8::/32"
    assert NoAddress().prefix(0) == "no-address"
    assert NoAddress().prefix(8) == "no-address/8"
    assert Mac(bytes(6)).prefix(48) == "00:00:00:00:00:00/48"
    assert DistinguishedName(b"site").prefix(0) == "site/0"
    iid = InstanceId(iid=1000, address=IPv4.of("10.0.0.0"))
    assert iid.prefix(24) == "[1000]10.0.0.0/24"


def test_distinguished_name_non_utf8_is_kept() -> None:
    got = Address.parse(h("0011 ff61 00"))
    assert isinstance(got, DistinguishedName) and got.name == b"\xffa"
    assert got.canonical() == "\\xffa"


def test_address_helper() -> None:
    assert address("192.0.2.1") == IPv4(ipaddress.IPv4Address("192.0.2.1"))
    assert address("2001:db8::1") == IPv6.of("2001:db8::1")


def test_invalid_values_refused_on_construction() -> None:
    with pytest.raises(ValueError):
        Mac(bytes(5))
    with pytest.raises(ValueError):
        Mac(bytes(6), afi_value=1)
    with pytest.raises(ValueError):
        DistinguishedName(b"a\x00b")
    with pytest.raises(ValueError):
        OpaqueKey(key=bytes(70000)).build()  # LCAF body longer than 65535


# -- errors -----------------------------------------------------------------------------------


def test_unknown_afi_is_malformed_with_offset() -> None:
    with pytest.raises(Malformed) as err:
        Address.parse(h("0003 c0000201"))
    assert err.value.offset == 0
    assert "unknown AFI 3" in err.value.reason
    # inside a container the offset points at the inner AFI
    wire = InstanceId(iid=1, address=IPv4.of("10.0.0.1")).build()
    bad = wire[:12] + b"\x00\x63" + wire[14:]
    with pytest.raises(Malformed) as err:
        Address.parse(bad)
    assert err.value.offset == 12
    assert "address.afi" in err.value.reason


def test_distinguished_name_without_nul_is_truncated() -> None:
    with pytest.raises(Truncated) as err:
        Address.parse(h("0011 7874 72"))
    assert err.value.offset == 2
    # the NUL must be inside the LCAF body, not after it
    wire = bytearray(InstanceId(iid=1, address=DistinguishedName(b"ab")).build())
    wire[7] -= 1  # Length one short: the NUL falls outside the body
    with pytest.raises(Truncated):
        Address.parse(bytes(wire))


@pytest.mark.parametrize("vector", VECTORS[1:], ids=[v[0] for v in VECTORS[1:]])
def test_every_proper_prefix_is_truncated(vector: tuple[str, bytes, Address, str, int]) -> None:
    assert_prefixes_truncated(Address.parse, vector[1], strict=True)


def test_trailing_bytes_are_an_anomaly() -> None:
    got = Address.parse(h("0001 c0000201 ff"))
    assert [a.code for a in got.anomalies] == [TRAILING_BYTES]
    assert Address.parse(h("0001 c0000201 ff"), allow_trailing=True).anomalies == ()


def test_unknown_lcaf_type_kept_raw() -> None:
    got = Address.parse(h("4003 01 02 c8 03 0002 beef"))
    assert got == LcafUnknown(rsvd1=1, flags=2, rsvd2=3, type_value=200, data=h("beef"))
    assert [(a.code, a.offset) for a in got.anomalies] == [(UNDECODED, 2)]
    assert got.build() == h("4003 01 02 c8 03 0002 beef")


# -- round-trips and robustness ----------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(simple_addresses)
def test_roundtrip_value(value: Address) -> None:
    wire = value.build()
    got = Address.parse(wire)
    assert got == value and got.build() == wire
    assert isinstance(got.canonical(), str)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([0, 1, 2, 6, 17, 16389]), st.binary(max_size=24))
def test_roundtrip_bytes(afi: int, body: bytes) -> None:
    wire = afi.to_bytes(2, "big") + body
    try:
        got = Address.parse(wire, allow_trailing=True)
    except DecodeError:
        return
    assert wire.startswith(got.build())


def test_mutations_raise_only_decode_errors() -> None:
    for i, (_, wire, *_) in enumerate(VECTORS):
        assert_mutations_safe(lambda b: Address.parse(b).canonical(), wire, count=2000, seed=i)
