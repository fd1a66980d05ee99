"""LCAF bodies (``dissectors/lisp/lcaf.py``): hand-written vectors, round-trips, robustness.

Each vector is written out word by word from the published layout (RFC 8060 sec. 3-5,
RFC 8061 sec. 6 for the Security Key, draft-ermagan-lisp-nsh for the Service Path) and is
checked field by field, by canonical string and by ``build()`` reproducing the bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dissectors.lisp  # noqa: F401  (registers every LCAF type)
from dissectors.core import RESERVED_BITS, TRAILING_BYTES, DecodeError, Malformed, Truncated
from dissectors.lisp.afi import (
    LCAF_TYPES,
    MAX_LCAF_DEPTH,
    UNDECODED,
    Address,
    DistinguishedName,
    IPv4,
    IPv6,
    Lcaf,
    LcafUnknown,
    Mac,
    NoAddress,
)
from dissectors.lisp.lcaf import (
    ALTITUDE_NONE,
    BAD_JSON,
    INVALID_FIELD,
    AfiList,
    ApplicationData,
    AsNumber,
    ElpHop,
    EncapsulationFormat,
    ExplicitLocatorPath,
    GeoCoordinates,
    InstanceId,
    JsonData,
    KeyValue,
    MulticastInfo,
    NatTraversal,
    NonceLocator,
    NullLcaf,
    OpaqueKey,
    ReplicationList,
    RleEntry,
    SecurityKey,
    ServicePath,
    SourceDest,
    VendorSpecific,
)
from tests.support.hexvec import h
from tests.support.robustness import assert_mutations_safe, assert_prefixes_truncated
from tests.support.strategies import simple_addresses, u8, u16, u24, u32


@dataclass(frozen=True)
class Vector:
    name: str
    wire: bytes
    value: Address
    canonical: str


V4 = IPv4.of("192.0.2.10")

VECTORS = [
    Vector(
        "null",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 0 | Flags 0
        00 00 0000   # Type 0 | Rsvd2 0 | Length 0
        """),
        NullLcaf(),
        "null",
    ),
    Vector(
        "afi_list",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        01 00 000e   # Type 1 | Rsvd2 | Length 14
        0001 0a00    # AFI 1 | 10.0.
        0001 4005    # .0.1  | AFI 16389 (MAC)
        0200 0000    # 02:00:00:00:
        0042         # :00:42
        """),
        AfiList(addresses=(IPv4.of("10.0.0.1"), Mac(bytes.fromhex("020000000042")))),
        "{10.0.0.1,02:00:00:00:00:42}",
    ),
    Vector(
        "instance_id",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        02 18 000a   # Type 2 | Rsvd2 = IID mask-len 24 | Length 10
        0000 03e8    # Instance ID 1000
        0001 0a00    # AFI 1 | 10.0.
        0000         # .0.0
        """),
        InstanceId(rsvd2=24, iid=1000, address=IPv4.of("10.0.0.0")),
        "[1000]10.0.0.0",
    ),
    Vector(
        "as_number",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        03 00 000a   # Type 3 | Rsvd2 | Length 10
        0000 fbf4    # AS Number 64500
        0001 c000    # AFI 1 | 192.0.
        020a         # .2.10
        """),
        AsNumber(asn=64500, address=V4),
        "as64500:192.0.2.10",
    ),
    Vector(
        "application_data",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        04 00 0012   # Type 4 | Rsvd2 | Length 18
        0000 2e 06   # IP TOS/TC/Flow Label 0x00002e | Protocol 6
        0050 0051    # Local Port low 80 | high 81
        0400 ffff    # Remote Port low 1024 | high 65535
        0001 c000    # AFI 1 | 192.0.
        020a         # .2.10
        """),
        ApplicationData(
            tos=0x2E,
            protocol=6,
            local_port_low=80,
            local_port_high=81,
            remote_port_low=1024,
            remote_port_high=65535,
            address=V4,
        ),
        "app[tos=0x2e,proto=6,lport=80-81,rport=1024-65535]192.0.2.10",
    ),
    Vector(
        "geo",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        05 00 0012   # Type 5 | Rsvd2 | Length 18
        8025 17 2e   # N=1, Latitude 37 deg | 23 min | 46 sec
        0079 37 24   # E=0 (west), Longitude 121 deg | 55 min | 36 sec
        0000 001e    # Altitude 30 m
        0001 c000    # AFI 1 | 192.0.
        020a         # .2.10
        """),
        GeoCoordinates(
            north=True,
            lat_degrees=37,
            lat_minutes=23,
            lat_seconds=46,
            east=False,
            lon_degrees=121,
            lon_minutes=55,
            lon_seconds=36,
            altitude=30,
            address=V4,
        ),
        "geo[37-23-46-N,121-55-36-W,alt=30]192.0.2.10",
    ),
    Vector(
        "geo_below_sea_no_address",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        05 00 000e   # Type 5 | Rsvd2 | Length 14
        0021 00 00   # N=0 (south), 33 deg | 0 | 0
        8097 00 05   # E=1, 151 deg | 0 min | 5 sec
        ffff fff6    # Altitude -10 m (two's complement)
        0000         # AFI 0: no address
        """),
        GeoCoordinates(
            north=False, lat_degrees=33, east=True, lon_degrees=151, lon_seconds=5, altitude=-10
        ),
        "geo[33-0-0-S,151-0-5-E,alt=-10]no-address",
    ),
    Vector(
        "opaque_key",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        06 00 0006   # Type 6 | Rsvd2 | Length 6
        01 68 656c   # Key Type 1 (ASCII) | "hel
        6c6f         # lo"
        """),
        OpaqueKey(key_type=1, key=b"hello"),
        "okey1:hello",
    ),
    Vector(
        "nat_traversal",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        07 00 001c   # Type 7 | Rsvd2 | Length 28
        10f6 ee48    # MS UDP Port 4342 | ETR UDP Port 61000
        0001 cb00    # AFI 1 | Global ETR RLOC 203.0.
        7105 0001    # .113.5 | AFI 1
        c633 6407    # MS RLOC 198.51.100.7
        0001 0a00    # AFI 1 | Private ETR RLOC 10.0.
        0005 0001    # .0.5 | AFI 1
        c633 6409    # RTR RLOC 1: 198.51.100.9
        """),
        NatTraversal(
            ms_udp_port=4342,
            etr_udp_port=61000,
            global_etr_rloc=IPv4.of("203.0.113.5"),
            ms_rloc=IPv4.of("198.51.100.7"),
            private_etr_rloc=IPv4.of("10.0.0.5"),
            rtr_rlocs=(IPv4.of("198.51.100.9"),),
        ),
        "nat[etr=203.0.113.5#61000,ms=198.51.100.7#4342,private=10.0.0.5,rtrs={198.51.100.9}]",
    ),
    Vector(
        "nonce_locator",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        08 00 000a   # Type 8 | Rsvd2 | Length 10
        00 abcdef    # Reserved | Nonce 0xabcdef
        0001 c000    # AFI 1 | 192.0.
        020a         # .2.10
        """),
        NonceLocator(nonce=0xABCDEF, address=V4),
        "nonce[0xabcdef]192.0.2.10",
    ),
    Vector(
        "multicast_info",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        09 05 0014   # Type 9 | Rsvd2: R=1 L=0 J=1 | Length 20
        0000 0007    # Instance ID 7
        0000 20 20   # Reserved | Source MaskLen 32 | Group MaskLen 32
        0001 0a00    # AFI 1 | source 10.0.
        0001 0001    # .0.1 | AFI 1
        e801 0101    # group 232.1.1.1
        """),
        MulticastInfo(
            rsvd2=0x05,
            iid=7,
            source_mask_len=32,
            group_mask_len=32,
            source=IPv4.of("10.0.0.1"),
            group=IPv4.of("232.1.1.1"),
        ),
        "mcast[7](10.0.0.1/32,232.1.1.1/32)",
    ),
    Vector(
        "elp",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0a 00 0010   # Type 10 | Rsvd2 | Length 16
        0004 0001    # hop 1: Rsvd L=1 P=0 S=0 | AFI 1
        0101 0101    # 1.1.1.1
        0003 0001    # hop 2: L=0 P=1 S=1 | AFI 1
        0202 0202    # 2.2.2.2
        """),
        ExplicitLocatorPath(
            hops=(
                ElpHop(IPv4.of("1.1.1.1"), lookup=True),
                ElpHop(IPv4.of("2.2.2.2"), rloc_probe=True, strict=True),
            )
        ),
        "elp(1.1.1.1(l)->2.2.2.2(ps))",
    ),
    Vector(
        "security_key",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0b 00 0010   # Type 11 | Rsvd2 | Length 16
        01 00 06 01  # Key Count 1 | Rsvd3 | Key Algorithm 6 | Rsvd4 0, R=1
        0004 a1a2    # Key Length 4 | Key Material a1a2
        a3a4 0001    # a3a4 | AFI 1
        c000 020a    # Locator 192.0.2.10
        """),
        SecurityKey(key_algorithm=6, keys=(h("a1a2a3a4"),), revoke=True, address=V4),
        "seckey[cs=6,keys=1,revoke]192.0.2.10",
    ),
    Vector(
        "source_dest",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0c 00 0010   # Type 12 | Rsvd2 | Length 16
        0000 10 18   # Reserved | Source-ML 16 | Dest-ML 24
        0001 0a01    # AFI 1 | source 10.1.
        0000 0001    # .0.0 | AFI 1
        0a02 0300    # dest 10.2.3.0
        """),
        SourceDest(
            source_mask_len=16,
            dest_mask_len=24,
            source=IPv4.of("10.1.0.0"),
            dest=IPv4.of("10.2.3.0"),
        ),
        "(10.1.0.0/16,10.2.3.0/24)",
    ),
    Vector(
        "replication_list",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0d 00 0014   # Type 13 | Rsvd2 | Length 20
        0000 00 01   # Rsvd3 | Level Value 1
        0001 0101    # AFI 1 | 1.1.
        0101 0000    # .1.1 | Rsvd3
        00 02 0001   # Rsvd3 | Level Value 2 | AFI 1
        0202 0202    # 2.2.2.2
        """),
        ReplicationList(entries=(RleEntry(IPv4.of("1.1.1.1"), 1), RleEntry(IPv4.of("2.2.2.2"), 2))),
        "rle{1.1.1.1@1,2.2.2.2@2}",
    ),
    Vector(
        "json",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0e 00 000f   # Type 14 | Rsvd2 (B=0) | Length 15
        0007 7b22    # JSON length 7 | {"
        6122 3a31    # a":1
        7d 0001 c0   # } | AFI 1 | 192.
        00 020a      # 0.2.10
        """),
        JsonData(json=b'{"a":1}', address=V4),
        'json[192.0.2.10]{"a":1}',
    ),
    Vector(
        "json_binary_no_address",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0e 01 0006   # Type 14 | Rsvd2: B=1 (binary JSON) | Length 6
        0002 a161    # JSON length 2 | binary bytes a1 61
        0000         # AFI 0: no address
        """),
        JsonData(rsvd2=1, json=h("a161")),
        "json-bina161",
    ),
    Vector(
        "key_value",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        0f 00 000c   # Type 15 | Rsvd2 | Length 12
        0011 6b65    # AFI 17 (name) | "ke
        7900 0001    # y" NUL | AFI 1
        0909 0909    # value 9.9.9.9
        """),
        KeyValue(key=DistinguishedName(b"key"), value=IPv4.of("9.9.9.9")),
        "key=>9.9.9.9",
    ),
    Vector(
        "encapsulation_format",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        10 00 000a   # Type 16 | Rsvd2 | Length 10
        0000 0005    # Reserved (25) | U=0 G=0 N=0 v=0 V=1 l=0 L=1
        0001 c000    # AFI 1 | 192.0.
        020a         # .2.10
        """),
        EncapsulationFormat(lisp_l3=True, vxlan=True, address=V4),
        "encap[lisp_l3+vxlan]192.0.2.10",
    ),
    Vector(
        "service_path",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        11 00 0004   # Type 17 | Rsvd2 | Length 4
        0000 64 ff   # Service Path ID 100 | Service Index 255
        """),
        ServicePath(service_path_id=100, service_index=255),
        "sp100.255",
    ),
    Vector(
        "vendor",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        ff 00 0006   # Type 255 | Rsvd2 | Length 6
        00 00000c    # Rsvd3 | OUI 00-00-0c (Cisco)
        dead         # vendor data
        """),
        VendorSpecific(oui=0x00000C, data=h("dead")),
        "vendor00000c:dead",
    ),
    Vector(
        "unknown_type_200",
        h("""
        4003 00 00   # AFI 16387 | Rsvd1 | Flags
        c8 00 0002   # Type 200 (unassigned) | Rsvd2 | Length 2
        beef         # body kept raw
        """),
        LcafUnknown(type_value=200, data=h("beef")),
        "lcaf200:beef",
    ),
]


@pytest.mark.parametrize("v", VECTORS, ids=[v.name for v in VECTORS])
def test_vector(v: Vector) -> None:
    got = Address.parse(v.wire)
    assert got == v.value
    assert got.canonical() == v.canonical
    assert str(got) == v.canonical
    assert got.build() == v.wire
    assert v.value.build() == v.wire
    codes = {a.code for a in got.anomalies}
    assert codes <= {UNDECODED}
    assert (UNDECODED in codes) == isinstance(got, LcafUnknown)


def test_vector_fields_spelled_out() -> None:
    """A few decoded fields by name, beyond equality with the expected value."""
    by = {v.name: Address.parse(v.wire) for v in VECTORS}
    geo = by["geo"]
    assert isinstance(geo, GeoCoordinates)
    assert geo.altitude_present and geo.latitude == pytest.approx(37.396111, abs=1e-5)
    assert geo.longitude == pytest.approx(-121.926667, abs=1e-5)
    south = by["geo_below_sea_no_address"]
    assert isinstance(south, GeoCoordinates) and south.altitude == -10
    mc = by["multicast_info"]
    assert isinstance(mc, MulticastInfo) and (mc.rp, mc.leave, mc.join) == (True, False, True)
    js = by["json_binary_no_address"]
    assert isinstance(js, JsonData) and js.binary and isinstance(js.address, NoAddress)
    enc = by["encapsulation_format"]
    assert isinstance(enc, EncapsulationFormat)
    assert enc.encapsulations == ("lisp_l3", "vxlan")
    sk = by["security_key"]
    assert isinstance(sk, SecurityKey) and sk.revoke and sk.keys == (h("a1a2a3a4"),)
    spans = by["nat_traversal"].spans
    assert spans["ms_udp_port"] == (8, 2)
    assert spans["rtr_rlocs[0].address"] == (32, 4)
    assert by["elp"].spans["hops[1].strict"] == (16, 2)


def test_every_registered_type_has_a_vector() -> None:
    covered = {v.value.lcaf_type for v in VECTORS if isinstance(v.value, Lcaf)}
    assert set(LCAF_TYPES) <= covered
    assert set(LCAF_TYPES) == set(range(18)) | {255}


def test_prefix_strings() -> None:
    sd = SourceDest(
        source_mask_len=16, dest_mask_len=16, source=IPv4.of("10.1.0.0"), dest=IPv4.of("10.2.0.0")
    )
    assert sd.prefix(0) == sd.prefix(32) == "(10.1.0.0/16,10.2.0.0/16)"
    assert InstanceId(iid=7, address=IPv4.of("10.0.0.0")).prefix(8) == "[7]10.0.0.0/8"
    assert AsNumber(asn=1, address=IPv4.of("10.0.0.0")).prefix(8) == "as1:10.0.0.0/8"
    assert NonceLocator(nonce=1, address=V4).prefix(32) == "nonce[0x000001]192.0.2.10/32"
    geo = GeoCoordinates(lat_degrees=1, lon_degrees=2, address=IPv4.of("10.0.0.0"))
    assert geo.prefix(8) == "geo[1-0-0-N,2-0-0-E]10.0.0.0/8"
    assert not geo.altitude_present and geo.altitude == ALTITUDE_NONE
    mc = MulticastInfo(
        iid=0, source_mask_len=0, group_mask_len=8, source=NoAddress(), group=IPv4.of("232.0.0.0")
    )
    assert mc.prefix(24) == "mcast[0](no-address,232.0.0.0/8)"
    app = ApplicationData(protocol=17, address=IPv6.of("2001:db8::"))
    assert app.prefix(32) == "app[tos=0x0,proto=17,lport=0-0,rport=0-0]2001:db8::/32"


def test_other_canonical_forms() -> None:
    assert OpaqueKey(key_type=2, key=b"\x00\x01").canonical() == "okey2:0001"
    assert OpaqueKey(key_type=1, key=b"a b").canonical() == "okey1:612062"
    nat = NatTraversal(global_etr_rloc=IPv6.of("2001:db8::1"), etr_udp_port=5, ms_rloc=NoAddress())
    assert nat.canonical() == "nat[etr=2001:db8::1#5,ms=no-address#0,private=no-address,rtrs={}]"
    assert JsonData(json=b"[1]").canonical() == "json[1]"
    assert ExplicitLocatorPath().canonical() == "elp()"
    assert ElpHop(IPv6.of("::1")).canonical() == "::1"
    assert EncapsulationFormat().canonical() == "encap[]no-address"
    nested = InstanceId(iid=3, address=SourceDest(source=V4, dest=V4))
    assert nested.canonical() == "[3](192.0.2.10/0,192.0.2.10/0)"


# -- anomalies ------------------------------------------------------------------------------


def codes_of(wire: bytes) -> list[str]:
    return [a.code for a in Address.parse(wire).anomalies]


def test_geo_range_anomalies() -> None:
    bad = GeoCoordinates(
        lat_degrees=91, lat_minutes=60, lat_seconds=59, lon_degrees=181, lon_seconds=60
    )
    got = Address.parse(bad.build())
    details = [a.detail for a in got.anomalies if a.code == INVALID_FIELD]
    assert details == [
        "lat degrees 91 > 90",
        "lat minutes 60 > 59",
        "lon degrees 181 > 180",
        "lon seconds 60 > 59",
    ]
    offsets = [a.offset for a in got.anomalies]
    assert offsets == [8, 10, 12, 15]
    ok = GeoCoordinates(lat_degrees=90, lat_minutes=59, lat_seconds=59, lon_degrees=180)
    assert codes_of(ok.build()) == []


def test_reserved_bit_anomalies() -> None:
    cases = [
        NonceLocator(reserved=1, address=V4),
        MulticastInfo(rsvd2=0x08, source=V4, group=V4),
        MulticastInfo(reserved=1, source=V4, group=V4),
        ExplicitLocatorPath(hops=(ElpHop(V4, reserved=0x0008),)),
        SecurityKey(rsvd3=1, address=V4),
        SecurityKey(rsvd4=0x80, address=V4),
        SourceDest(reserved=0x8000, source=V4, dest=V4),
        ReplicationList(entries=(RleEntry(V4, 1, reserved=0x800000),)),
        JsonData(rsvd2=0x02),
        EncapsulationFormat(reserved=0x80000000, address=V4),
        VendorSpecific(reserved=0xFF),
    ]
    for value in cases:
        got = Address.parse(value.build())
        assert got == value
        assert [a.code for a in got.anomalies] == [RESERVED_BITS], value


def test_json_anomaly() -> None:
    assert codes_of(JsonData(json=b"{not json").build()) == [BAD_JSON]
    assert codes_of(JsonData(json=b"\xff\xfe").build()) == [BAD_JSON]
    deep = b"[" * 5000 + b"]" * 5000
    assert codes_of(JsonData(json=deep).build()) in ([], [BAD_JSON])
    assert codes_of(JsonData(rsvd2=1, json=b"\xff").build()) == []  # binary: not checked


def test_body_shorter_than_length_is_trailing() -> None:
    wire = bytearray(ServicePath(service_path_id=1, service_index=2).build())
    wire[7] = 6  # Length 6: two unread bytes inside the LCAF
    got = Address.parse(bytes(wire) + b"\x00\x00")
    assert [a.code for a in got.anomalies] == [TRAILING_BYTES]


def test_security_key_count_beyond_body_is_truncated() -> None:
    wire = bytearray(SecurityKey(keys=(b"ab",), address=V4).build())
    wire[8] = 3  # Key Count 3, one key present
    with pytest.raises(Truncated):
        Address.parse(bytes(wire))


# -- nesting depth ---------------------------------------------------------------------------


def nest(depth: int) -> Address:
    a: Address = V4
    for i in range(depth):
        a = InstanceId(iid=i, address=a)
    return a


def test_nesting_depth_limit() -> None:
    ok = nest(MAX_LCAF_DEPTH)
    assert Address.parse(ok.build()) == ok
    with pytest.raises(Malformed) as err:
        Address.parse(nest(MAX_LCAF_DEPTH + 1).build())
    assert "nested deeper" in err.value.reason
    assert Address.parse(ok.build()) == ok  # the depth counter was reset


def test_pathological_nesting_raises_malformed_not_recursion_error() -> None:
    # 8000 AFI-list LCAFs each holding the next one, lengths consistent: no RecursionError
    wire = b""
    for _ in range(8000):
        wire = h("4003 0000 0100") + len(wire).to_bytes(2, "big") + wire
    with pytest.raises(Malformed):
        Address.parse(wire)


# -- hypothesis round-trips ------------------------------------------------------------------


def header() -> dict[str, st.SearchStrategy[int]]:
    return {"rsvd1": u8, "flags": u8}


def lcaf_of(inner: st.SearchStrategy[Address]) -> st.SearchStrategy[Address]:
    hops = st.builds(ElpHop, inner, st.booleans(), st.booleans(), st.booleans(), st.just(0))
    entries = st.builds(RleEntry, inner, u8, st.just(0))
    return st.one_of(
        st.builds(NullLcaf, rsvd2=u8, **header()),
        st.builds(AfiList, rsvd2=u8, addresses=st.tuples(inner, inner), **header()),
        st.builds(InstanceId, rsvd2=u8, iid=u32, address=inner, **header()),
        st.builds(AsNumber, rsvd2=u8, asn=u32, address=inner, **header()),
        st.builds(
            ApplicationData,
            rsvd2=u8,
            tos=u24,
            protocol=u8,
            local_port_low=u16,
            local_port_high=u16,
            remote_port_low=u16,
            remote_port_high=u16,
            address=inner,
            **header(),
        ),
        st.builds(
            GeoCoordinates,
            rsvd2=u8,
            north=st.booleans(),
            lat_degrees=st.integers(0, 0x7FFF),
            lat_minutes=u8,
            lat_seconds=u8,
            east=st.booleans(),
            lon_degrees=st.integers(0, 0x7FFF),
            lon_minutes=u8,
            lon_seconds=u8,
            altitude=st.integers(-(2**31), 2**31 - 1),
            address=inner,
            **header(),
        ),
        st.builds(OpaqueKey, rsvd2=u8, key_type=u8, key=st.binary(max_size=16), **header()),
        st.builds(
            NatTraversal,
            rsvd2=u8,
            ms_udp_port=u16,
            etr_udp_port=u16,
            global_etr_rloc=inner,
            ms_rloc=inner,
            private_etr_rloc=inner,
            rtr_rlocs=st.lists(inner, max_size=3).map(tuple),
            **header(),
        ),
        st.builds(NonceLocator, rsvd2=u8, reserved=u8, nonce=u24, address=inner, **header()),
        st.builds(
            MulticastInfo,
            rsvd2=u8,
            iid=u32,
            reserved=u16,
            source_mask_len=u8,
            group_mask_len=u8,
            source=inner,
            group=inner,
            **header(),
        ),
        st.builds(
            ExplicitLocatorPath, rsvd2=u8, hops=st.lists(hops, max_size=3).map(tuple), **header()
        ),
        st.builds(
            SecurityKey,
            rsvd2=u8,
            key_algorithm=u8,
            keys=st.lists(st.binary(max_size=40), max_size=3).map(tuple),
            revoke=st.booleans(),
            rsvd3=u8,
            rsvd4=u8.map(lambda v: v & 0xFE),
            address=inner,
            **header(),
        ),
        st.builds(
            SourceDest,
            rsvd2=u8,
            reserved=u16,
            source_mask_len=u8,
            dest_mask_len=u8,
            source=inner,
            dest=inner,
            **header(),
        ),
        st.builds(
            ReplicationList,
            rsvd2=u8,
            entries=st.lists(entries, max_size=3).map(tuple),
            **header(),
        ),
        st.builds(JsonData, rsvd2=u8, json=st.binary(max_size=30), address=inner, **header()),
        st.builds(KeyValue, rsvd2=u8, key=inner, value=inner, **header()),
        st.builds(
            EncapsulationFormat,
            rsvd2=u8,
            lisp_l3=st.booleans(),
            lisp_l2=st.booleans(),
            vxlan=st.booleans(),
            vxlan_gpe=st.booleans(),
            nvgre=st.booleans(),
            geneve=st.booleans(),
            gue=st.booleans(),
            reserved=u32.map(lambda v: v & 0xFFFFFF80),
            address=inner,
            **header(),
        ),
        st.builds(ServicePath, rsvd2=u8, service_path_id=u24, service_index=u8, **header()),
        st.builds(
            VendorSpecific, rsvd2=u8, reserved=u8, oui=u24, data=st.binary(max_size=16), **header()
        ),
        st.builds(
            LcafUnknown,
            rsvd2=u8,
            type_value=st.integers(18, 254),
            data=st.binary(max_size=16),
            **header(),
        ),
    )


addresses: st.SearchStrategy[Address] = st.recursive(simple_addresses, lcaf_of, max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(addresses)
def test_roundtrip_value(value: Address) -> None:
    wire = value.build()
    got = Address.parse(wire)
    assert got == value
    assert got.build() == wire
    assert isinstance(got.canonical(), str)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=2, max_size=80))
def test_roundtrip_bytes(body: bytes) -> None:
    wire = h("4003 0000") + bytes([random.Random(body).choice(sorted(LCAF_TYPES))]) + b"\x00"
    wire += len(body).to_bytes(2, "big") + body
    try:
        got = Address.parse(wire)
    except DecodeError:
        return
    if not any(a.code == TRAILING_BYTES for a in got.anomalies):
        assert got.build() == wire
    str(got)


# -- robustness ------------------------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=[v.name for v in VECTORS])
def test_every_proper_prefix_is_truncated(v: Vector) -> None:
    assert_prefixes_truncated(Address.parse, v.wire, strict=True)


def test_mutations_raise_only_decode_errors() -> None:
    nested = InstanceId(
        iid=1,
        address=AfiList(
            addresses=(
                SourceDest(source=V4, dest=IPv6.of("2001:db8::1")),
                KeyValue(key=DistinguishedName(b"k"), value=nest(2)),
            )
        ),
    )
    seeds = [v.wire for v in VECTORS] + [nested.build()]

    def check(mutant: bytes) -> None:
        got = Address.parse(mutant)
        got.canonical()
        assert Address.parse(got.build()) == got

    for i, wire in enumerate(seeds):
        assert_mutations_safe(check, wire, count=400, seed=8060 + i)
