"""Layer columns of a FrameBatch: link types, fallbacks, kinds, errors, fragments, dpkt
agreement and robustness (one row per frame, always)."""

from __future__ import annotations

import ipaddress
import random
import struct

import dpkt
import numpy as np
import pytest

from dissectors.inet import internet_checksum
from lisptrace.ingest.frames import FrameBatch
from lisptrace.ingest.layers import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_DLT12,
    LINKTYPE_RAW_DLT14,
    Fragmentation,
    Kind,
    Layers,
    Ports,
    decode_layers,
)
from lisptrace.ingest.reassembly import REASON_END, Reassembler
from tests.support.mutate import mutate

# -- frame builders (plain struct, independent of the code under test) ------------------------

MAC = bytes.fromhex("001122334455") + bytes.fromhex("66778899aabb")
V4S, V4D = "192.0.2.1", "198.51.100.7"
V6S, V6D = "2001:db8::1", "2001:db8:0:1::2"
HOA = "2001:db8:aaaa::99"


def a4(s: str) -> bytes:
    return ipaddress.IPv4Address(s).packed


def a6(s: str) -> bytes:
    return ipaddress.IPv6Address(s).packed


def udp(sport: int, dport: int, payload: bytes = b"", length: int | None = None) -> bytes:
    n = 8 + len(payload) if length is None else length
    return struct.pack("!HHHH", sport, dport, n, 0) + payload


def tcp(sport: int, dport: int, payload: bytes = b"", options: bytes = b"") -> bytes:
    doff = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, 0x18, 1024, 0, 0) + (
        options + payload
    )


def ipv4(
    proto: int,
    body: bytes,
    src: str = V4S,
    dst: str = V4D,
    *,
    options: bytes = b"",
    ident: int = 1,
    offset: int = 0,
    more: bool = False,
    tlen: int | None = None,
    ihl: int | None = None,
    good_checksum: bool = True,
) -> bytes:
    hl = ihl if ihl is not None else (20 + len(options)) // 4
    total = 20 + len(options) + len(body) if tlen is None else tlen
    frag = (0x2000 if more else 0) | offset // 8
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x40 | hl, 0, total, ident, frag, 64, proto, 0, a4(src), a4(dst)
    )
    hdr += options
    csum = internet_checksum(hdr) ^ (0 if good_checksum else 0x1111)
    return hdr[:10] + csum.to_bytes(2, "big") + hdr[12:] + body


def ipv6(nh: int, body: bytes, src: str = V6S, dst: str = V6D, plen: int | None = None) -> bytes:
    n = len(body) if plen is None else plen
    return struct.pack("!IHBB16s16s", 6 << 28, n, nh, 64, a6(src), a6(dst)) + body


def ext(nh: int, options: bytes) -> bytes:
    """A hop-by-hop / destination options header with ``options`` padded (PadN) to 8n."""
    pad = (-(len(options) + 2)) % 8
    if pad == 1:
        options += b"\x00"
    elif pad:
        options += bytes([1, pad - 2]) + bytes(pad - 2)
    return bytes([nh, (len(options) + 2) // 8 - 1]) + options


def hoa_dstopts(nh: int, home: str = HOA) -> bytes:
    return ext(nh, b"\x01\x02\x00\x00" + bytes([201, 16]) + a6(home))  # PadN(2) + HoA


def rh2(nh: int, home: str = HOA, segments_left: int = 1) -> bytes:
    return bytes([nh, 2, 2, segments_left]) + bytes(4) + a6(home)


def frag6(nh: int, offset: int, more: bool, ident: int) -> bytes:
    return struct.pack("!BBHI", nh, 0, offset | int(more), ident)


def ether(payload: bytes, ethertype: int = 0x0800, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    out = MAC
    for tpid, tci in tags:
        out += struct.pack("!HH", tpid, tci)
    return out + struct.pack("!H", ethertype) + payload


def sll(payload: bytes, proto: int = 0x0800) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, MAC[:6] + b"\x00\x00", proto) + payload


def sll2(payload: bytes, proto: int = 0x0800) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, MAC[:6] + b"\x00\x00") + payload


def mh(mh_type: int = 5, body: bytes = bytes(6)) -> bytes:
    """A Mobility Header (no checksum care here): payload proto 59, length, type, body."""
    return bytes([59, (len(body) + 6) // 8 - 1, mh_type, 0, 0, 0]) + body


LISP_DATA = bytes.fromhex("8800000100000001") + ipv4(17, udp(1000, 2000, b"inner"))
MAP_REQUEST = bytes.fromhex("10000001") + bytes(20)
ETH4 = ether(ipv4(17, udp(40000, 4341, LISP_DATA)))


def make_batch(
    frames: list[bytes], linktypes: int | list[int] = LINKTYPE_ETHERNET, first: int = 1
) -> FrameBatch:
    n = len(frames)
    lens = np.array([len(f) for f in frames], np.int32)
    off = np.zeros(n, np.int64)
    if n:
        off[1:] = np.cumsum(lens[:-1])
    lt = np.full(n, linktypes, np.int32) if isinstance(linktypes, int) else np.array(linktypes)
    zero = np.zeros(n, np.int32)
    return FrameBatch(
        b"".join(frames),
        np.arange(first, first + n, dtype=np.int64),
        np.arange(first, first + n, dtype=np.int64) * 1_000_000,
        off,
        lens,
        lens.copy(),
        lt.astype(np.int32),
        zero,
        zero.copy(),
    )


def one(frame: bytes, linktype: int = LINKTYPE_ETHERNET, **kw: object) -> tuple[Layers, FrameBatch]:
    b = make_batch([frame], linktype)
    return decode_layers(b, **kw), b  # type: ignore[arg-type]


def row(out: Layers, i: int = 0) -> dict[str, object]:
    return {
        "l3": int(out.l3_offset[i]),
        "v": int(out.ip_version[i]),
        "src": out.address(i, "src"),
        "dst": out.address(i, "dst"),
        "proto": int(out.ip_proto[i]),
        "l4": int(out.l4_offset[i]),
        "l4len": int(out.l4_length[i]),
        "sport": int(out.sport[i]),
        "dport": int(out.dport[i]),
        "kind": Kind(int(out.kind[i])),
    }


# -- link types -------------------------------------------------------------------------------

V4_UDP = ipv4(17, udp(40000, 4341, LISP_DATA))
V6_UDP = ipv6(17, udp(40000, 4341, LISP_DATA))


def null_le(p: bytes, af: int) -> bytes:
    return struct.pack("<I", af) + p


def null_be(p: bytes, af: int) -> bytes:
    return struct.pack(">I", af) + p


LINKS = [
    ("ethernet", LINKTYPE_ETHERNET, ether(V4_UDP), 14, 4),
    ("ethernet-v6", LINKTYPE_ETHERNET, ether(V6_UDP, 0x86DD), 14, 6),
    ("802.1q", LINKTYPE_ETHERNET, ether(V4_UDP, tags=((0x8100, 42),)), 18, 4),
    ("802.1q-v6", LINKTYPE_ETHERNET, ether(V6_UDP, 0x86DD, ((0x8100, 42),)), 18, 6),
    ("ethernet-padded", LINKTYPE_ETHERNET, ether(V4_UDP) + bytes(6), 14, 4),
    ("sll", LINKTYPE_LINUX_SLL, sll(V4_UDP), 16, 4),
    ("sll-v6", LINKTYPE_LINUX_SLL, sll(V6_UDP, 0x86DD), 16, 6),
    ("sll2", LINKTYPE_LINUX_SLL2, sll2(V4_UDP), 20, 4),
    ("sll2-v6", LINKTYPE_LINUX_SLL2, sll2(V6_UDP, 0x86DD), 20, 6),
    ("raw-v4", LINKTYPE_RAW, V4_UDP, 0, 4),
    ("raw-v6", LINKTYPE_RAW, V6_UDP, 0, 6),
    ("dlt12", LINKTYPE_RAW_DLT12, V4_UDP, 0, 4),
    ("dlt14", LINKTYPE_RAW_DLT14, V6_UDP, 0, 6),
    ("ipv4", LINKTYPE_IPV4, V4_UDP, 0, 4),
    ("ipv6", LINKTYPE_IPV6, V6_UDP, 0, 6),
    ("null-le-v4", LINKTYPE_NULL, null_le(V4_UDP, 2), 4, 4),
    ("null-be-v4", LINKTYPE_NULL, null_be(V4_UDP, 2), 4, 4),
    ("null-le-v6-bsd", LINKTYPE_NULL, null_le(V6_UDP, 24), 4, 6),
    ("null-le-v6-freebsd", LINKTYPE_NULL, null_le(V6_UDP, 28), 4, 6),
    ("null-be-v6-macos", LINKTYPE_NULL, null_be(V6_UDP, 30), 4, 6),
    ("loop-v4", LINKTYPE_LOOP, null_be(V4_UDP, 2), 4, 4),
    ("loop-v6", LINKTYPE_LOOP, null_be(V6_UDP, 30), 4, 6),
]


@pytest.mark.parametrize(("name", "linktype", "frame", "l3", "version"), LINKS)
def test_link_types_take_the_fast_path(
    name: str, linktype: int, frame: bytes, l3: int, version: int
) -> None:
    out, b = one(frame, linktype)
    hl = 20 if version == 4 else 40
    assert row(out) == {
        "l3": l3,
        "v": version,
        "src": V4S if version == 4 else V6S,
        "dst": V4D if version == 4 else V6D,
        "proto": 17,
        "l4": l3 + hl,
        "l4len": 8 + len(LISP_DATA),
        "sport": 40000,
        "dport": 4341,
        "kind": Kind.LISP_DATA,
    }
    assert out.fast[0], name
    assert out.payload_bytes(0, b) == LISP_DATA
    assert out.l4_bytes(0, b) == udp(40000, 4341, LISP_DATA)
    assert not out.error and not out.anomalies
    assert int(out.fragment[0]) == Fragmentation.NONE


@pytest.mark.parametrize(("name", "linktype", "frame", "l3", "version"), LINKS)
def test_link_types_slow_path_agrees(
    name: str, linktype: int, frame: bytes, l3: int, version: int
) -> None:
    """The same frames with an IPv4 option / a hop-by-hop header go the per-frame way."""
    if version == 4:
        slow = ipv4(17, udp(40000, 4341, LISP_DATA), options=b"\x94\x04\x00\x00")  # RA opt.
        hl = 24
    else:
        slow = ipv6(0, ext(17, b"\x05\x02\x00\x00") + udp(40000, 4341, LISP_DATA))
        hl = 48
    out, b = one(frame.replace(V4_UDP if version == 4 else V6_UDP, slow), linktype)
    assert not out.fast[0]
    assert row(out)["l4"] == l3 + hl
    assert row(out)["kind"] == Kind.LISP_DATA
    assert out.payload_bytes(0, b) == LISP_DATA
    assert not out.error and not out.anomalies


def test_address_rendering_and_mapped_form() -> None:
    out, _ = one(ETH4)
    assert out.src[0].tobytes() == bytes(10) + b"\xff\xff" + a4(V4S)
    assert out.addresses("dst") == [V4D]
    v6, _ = one(ether(ipv6(17, udp(1, 4342, MAP_REQUEST), src="::ffff:10.0.0.1"), 0x86DD))
    assert v6.address(0) == "::ffff:10.0.0.1"  # an IPv6 packet stays IPv6
    arp, _ = one(ether(bytes(28), 0x0806))
    assert arp.address(0) is None


# -- fallbacks --------------------------------------------------------------------------------


def test_qinq_and_vlan_stacks() -> None:
    frames = [
        ether(V4_UDP, tags=((0x88A8, 100), (0x8100, 42))),
        ether(V6_UDP, 0x86DD, ((0x8100, 1), (0x8100, 2), (0x8100, 3))),
        ether(V4_UDP, tags=((0x9100, 5),)),
    ]
    out = decode_layers(make_batch(frames))
    assert out.fast.tolist() == [False, False, False]
    assert out.l3_offset.tolist() == [22, 26, 18]
    assert [Kind(k) for k in out.kind] == [Kind.LISP_DATA] * 3
    assert out.addresses() == [V4S, V6S, V4S]


def test_ipv4_options() -> None:
    out, b = one(ether(ipv4(17, udp(4342, 5000, MAP_REQUEST), options=bytes([7, 7, 4]) + bytes(5))))
    assert not out.fast[0]
    assert row(out)["l4"] == 14 + 28 and row(out)["kind"] == Kind.LISP_CONTROL
    assert out.payload_bytes(0, b) == MAP_REQUEST


def test_ipv6_hop_by_hop_routing_dstopts_to_udp() -> None:
    routing0 = bytes([60, 0, 0, 0]) + bytes(4)  # routing type 0, no addresses
    chain = ext(43, b"\x05\x02\x00\x00") + routing0 + ext(17, b"\x01\x00")
    out, b = one(ether(ipv6(0, chain + udp(4342, 4342, MAP_REQUEST)), 0x86DD))
    assert row(out)["proto"] == 17 and row(out)["l4"] == 14 + 40 + len(chain)
    assert row(out)["kind"] == Kind.LISP_CONTROL
    assert out.payload_bytes(0, b) == MAP_REQUEST
    assert not out.home_address and not out.rh2_address


def test_mobility_header_with_home_address_option() -> None:
    msg = mh(5)
    out, b = one(ether(ipv6(60, hoa_dstopts(135) + msg, src="2001:db8:ffff::5"), 0x86DD))
    assert row(out)["kind"] == Kind.MIP6 and row(out)["proto"] == 135
    assert out.l4_bytes(0, b) == msg
    assert out.home_address == {0: a6(HOA)}
    assert out.checksum_addresses(0) == (a6(HOA), a6(V6D))
    assert out.address(0) == "2001:db8:ffff::5"  # the outer source stays the care-of address


def test_mobility_header_with_type2_routing_header() -> None:
    msg = mh(6)
    out, b = one(ether(ipv6(43, rh2(135) + msg), 0x86DD))
    assert row(out)["kind"] == Kind.MIP6
    assert out.l4_bytes(0, b) == msg
    assert out.rh2_address == {0: (a6(HOA), 1)}
    assert out.checksum_addresses(0) == (a6(V6S), a6(HOA))
    done, _ = one(ether(ipv6(43, rh2(135, segments_left=0) + msg), 0x86DD))
    assert done.checksum_addresses(0) == (a6(V6S), a6(V6D))


def test_mobility_header_fast_and_legacy_62() -> None:
    out = decode_layers(
        make_batch([ether(ipv6(135, mh(1)), 0x86DD), ether(ipv6(62, mh(1)), 0x86DD)])
    )
    assert out.fast.all() and [Kind(k) for k in out.kind] == [Kind.MIP6, Kind.MIP6]
    v4 = decode_layers(make_batch([ether(ipv4(135, mh(1)))]))
    assert Kind(int(v4.kind[0])) == Kind.OTHER  # a Mobility Header is IPv6 only


def test_router_advertisement() -> None:
    ra = bytes([134, 0, 0, 0, 64, 0, 0, 0]) + bytes(8)
    rs = bytes([133, 0, 0, 0]) + bytes(4)
    frames = [
        ether(ipv6(58, ra, dst="ff02::1"), 0x86DD),
        ether(ipv6(58, rs), 0x86DD),
        ether(ipv6(0, ext(58, b"\x05\x02\x00\x00") + ra), 0x86DD),
    ]
    out = decode_layers(make_batch(frames))
    assert [Kind(k) for k in out.kind] == [Kind.ICMPV6_RA, Kind.OTHER, Kind.ICMPV6_RA]
    assert out.fast.tolist() == [True, True, False]


def test_atomic_fragment_and_ah() -> None:
    atomic = frag6(17, 0, False, 77) + udp(4342, 1, MAP_REQUEST)
    ah = bytes([17, 4, 0, 0]) + bytes(20)  # AH: (4 + 2) * 4 = 24 bytes
    out = decode_layers(
        make_batch(
            [
                ether(ipv6(44, atomic), 0x86DD),
                ether(ipv6(51, ah + udp(4342, 1, MAP_REQUEST)), 0x86DD),
            ]
        )
    )
    assert [Kind(k) for k in out.kind] == [Kind.LISP_CONTROL, Kind.LISP_CONTROL]
    assert out.l4_offset.tolist() == [14 + 48, 14 + 64]
    assert out.anomalies[0][0].startswith("ipv6.atomic_fragment")
    assert out.fragment.tolist() == [0, 0]


# -- kinds and ports --------------------------------------------------------------------------


def test_kinds() -> None:
    frames = [
        ether(ipv4(17, udp(4342, 61000, MAP_REQUEST))),  # control, source port
        ether(ipv4(17, udp(61000, 4342, MAP_REQUEST))),  # control, destination port
        ether(ipv4(17, udp(61000, 4341, LISP_DATA))),  # data
        ether(ipv4(17, udp(4341, 61000, LISP_DATA))),  # data port as source: other
        ether(ipv4(17, udp(61000, 4790, LISP_DATA))),  # GPE
        ether(ipv4(17, udp(4342, 4341, MAP_REQUEST))),  # control wins
        ether(ipv4(6, tcp(50000, 4342, MAP_REQUEST))),  # LISP over TCP
        ether(ipv4(6, tcp(4342, 50000, MAP_REQUEST, options=bytes(12)))),
        ether(ipv4(6, tcp(50000, 80, b"GET /"))),
        ether(ipv4(1, bytes(8))),  # ICMP
        ether(bytes(28), 0x0806),  # ARP: not IP
        ether(ipv4(17, udp(53, 53, b"dns"))),
    ]
    out = decode_layers(make_batch(frames))
    assert [Kind(k) for k in out.kind] == [
        Kind.LISP_CONTROL,
        Kind.LISP_CONTROL,
        Kind.LISP_DATA,
        Kind.OTHER,
        Kind.LISP_GPE,
        Kind.LISP_CONTROL,
        Kind.LISP_TCP,
        Kind.LISP_TCP,
        Kind.OTHER,
        Kind.OTHER,
        Kind.OTHER,
        Kind.OTHER,
    ]
    b = make_batch(frames)
    assert out.payload_bytes(6, b) == MAP_REQUEST and out.payload_offset[6] == 14 + 20 + 20
    assert out.payload_bytes(7, b) == MAP_REQUEST and out.payload_offset[7] == 14 + 20 + 32
    assert out.sport[9] == -1 and out.l4_offset[9] == 34 and out.payload_offset[9] == 34
    assert out.l3_offset[10] == -1 and out.ip_version[10] == 0 and 10 not in out.error
    assert out.fast[:10].all()


def test_ports_are_configurable() -> None:
    frames = [
        ether(ipv4(17, udp(1, 14342, MAP_REQUEST))),
        ether(ipv4(17, udp(1, 14341, LISP_DATA))),
        ether(ipv4(17, udp(1, 4341, LISP_DATA))),
        ether(ipv4(17, udp(1, 6081, LISP_DATA))),
    ]
    out = decode_layers(make_batch(frames), Ports(control=14342, data=14341, gpe=6081))
    assert [Kind(k) for k in out.kind] == [
        Kind.LISP_CONTROL,
        Kind.LISP_DATA,
        Kind.OTHER,
        Kind.LISP_GPE,
    ]


# -- errors and anomalies ---------------------------------------------------------------------

ERRORS = [
    ("short ethernet", LINKTYPE_ETHERNET, MAC, "truncated Ethernet header"),
    ("short vlan", LINKTYPE_ETHERNET, MAC + b"\x81\x00\x00", "truncated VLAN tag"),
    ("short sll", LINKTYPE_LINUX_SLL, bytes(10), "truncated Linux cooked (SLL) header"),
    ("short sll2", LINKTYPE_LINUX_SLL2, bytes(10), "truncated Linux cooked v2 (SLL2) header"),
    ("short null", LINKTYPE_NULL, b"\x02\x00", "truncated null/loopback header"),
    ("no ip header", LINKTYPE_ETHERNET, ether(b""), "no IP header"),
    ("bad version", LINKTYPE_RAW, b"\x55" + bytes(30), "IP version 5"),
    ("family mismatch", LINKTYPE_ETHERNET, ether(V6_UDP), "link layer announces IPv4"),
    ("short ipv4", LINKTYPE_ETHERNET, ether(V4_UDP[:12]), "truncated IPv4 header"),
    ("ihl 4", LINKTYPE_ETHERNET, ether(ipv4(17, udp(1, 2), ihl=4)), "bad IPv4 header length 16"),
    ("ihl 15", LINKTYPE_ETHERNET, ether(ipv4(17, b"", ihl=15)), "truncated IPv4 options"),
    ("tlen", LINKTYPE_ETHERNET, ether(ipv4(17, udp(1, 2), tlen=12)), "bad IPv4 total length 12"),
    ("short ipv6", LINKTYPE_ETHERNET, ether(V6_UDP[:30], 0x86DD), "truncated IPv6 header"),
    (
        "ext past payload",
        LINKTYPE_ETHERNET,
        ether(ipv6(0, bytes([17, 5]) + bytes(6)), 0x86DD),
        "runs past the payload",
    ),
    ("unknown link", 147, V4_UDP, "unsupported link type 147"),
]


@pytest.mark.parametrize(("name", "linktype", "frame", "error"), ERRORS)
def test_errors(name: str, linktype: int, frame: bytes, error: str) -> None:
    out, _ = one(frame, linktype)
    assert Kind(int(out.kind[0])) == Kind.UNDECODABLE, name
    assert error in out.error[0]
    assert out.error_column() == [out.error[0]]


def test_anomalies_keep_what_decodes() -> None:
    snap = ETH4[:60]  # captured with a short snaplen
    frames = [
        ether(ipv4(17, udp(1, 4342, MAP_REQUEST), good_checksum=False)),
        snap,
        ether(ipv4(17, udp(1, 4341, LISP_DATA, length=20))),  # UDP shorter than IP says
        ether(ipv4(17, udp(1, 4341, LISP_DATA, length=4))),
        ether(ipv4(17, b"\x00\x01")),
        ether(ipv6(17, V6_UDP[40:50], plen=len(V6_UDP) - 40), 0x86DD),
    ]
    out = decode_layers(make_batch(frames))
    col = out.anomaly_column()
    assert col[0] == ["ip.checksum_bad: IPv4 header checksum is wrong"]
    assert Kind(int(out.kind[0])) == Kind.LISP_CONTROL
    assert col[1][0].startswith("ip.truncated") and col[1][1].startswith("udp.truncated")
    assert Kind(int(out.kind[1])) == Kind.LISP_DATA and out.payload_length[1] == 60 - 42
    assert col[2][0].startswith("udp.length_bad") and out.payload_length[2] == 12
    assert col[3][0].startswith("udp.length_bad")
    assert col[4][0].startswith("udp.truncated") and out.sport[4] == -1
    assert col[5][0].startswith("ipv6.truncated") and out.dport[5] == 4341
    assert not out.error and not out.fast.any()


# -- fragments --------------------------------------------------------------------------------

BIG = bytes(range(256)) * 10  # a 2560-byte "Map-Register"
BIG_UDP = udp(4342, 4342, BIG)


def v4_fragments(body: bytes = BIG_UDP, size: int = 1200, ident: int = 9) -> list[bytes]:
    out = []
    for off in range(0, len(body), size):
        part = body[off : off + size]
        more = off + size < len(body)
        out.append(ether(ipv4(17, part, ident=ident, offset=off, more=more)))
    return out


def v6_fragments(body: bytes, nh: int, size: int = 1200, ident: int = 9, pre: bytes = b""):
    out = []
    pre_nh = 60 if pre else 44
    for off in range(0, len(body), size):
        part = body[off : off + size]
        more = off + size < len(body)
        payload = pre + frag6(nh, off, more, ident) + part
        out.append(ether(ipv6(pre_nh, payload), 0x86DD))
    return out


def test_ipv4_fragments_in_order() -> None:
    frames = [ETH4, *v4_fragments(), ETH4]
    b = make_batch(frames)
    out = decode_layers(b)
    assert [Kind(k) for k in out.kind] == [
        Kind.LISP_DATA,
        Kind.FRAGMENT,
        Kind.FRAGMENT,
        Kind.LISP_CONTROL,
        Kind.LISP_DATA,
    ]
    assert out.fragment.tolist() == [0, 1, 1, 2, 0]
    done = out.reassembled[3]
    assert done.number == 4 and done.frames == (2, 3, 4) and done.data == BIG_UDP
    assert out.payload_bytes(3, b) == BIG and out.l4_bytes(3, b) == BIG_UDP
    assert out.sport[3] == 4342 and out.l4_offset[3] == 0 and out.l4_length[3] == len(BIG_UDP)
    assert out.fragment_of[1] == out.fragment_of[3] == (4, a4(V4S), a4(V4D), 9, 17)
    assert out.address(1) == V4S and out.ip_proto[1] == 17
    assert out.payload_bytes(1, b) == BIG_UDP[:1200]
    assert not out.evicted and not out.anomalies


def test_ipv4_fragments_out_of_order() -> None:
    f = v4_fragments()
    out = decode_layers(make_batch([f[2], f[0], f[1]]))
    assert [Kind(k) for k in out.kind] == [Kind.FRAGMENT, Kind.FRAGMENT, Kind.LISP_CONTROL]
    assert out.reassembled[2].frames == (1, 2, 3)


def test_fragments_across_batches_with_a_shared_reassembler() -> None:
    f = v4_fragments()
    reasm = Reassembler()
    first = decode_layers(make_batch(f[:2], first=1), reassembler=reasm)
    assert not first.reassembled and not first.evicted and reasm.pending_datagrams == 1
    second = decode_layers(make_batch([ETH4, f[2]], first=3), reassembler=reasm)
    assert second.reassembled[1].frames == (1, 2, 4)
    assert Kind(int(second.kind[1])) == Kind.LISP_CONTROL


def test_missing_fragment_is_reported_not_lost() -> None:
    f = v4_fragments()
    out = decode_layers(make_batch([f[0], f[2]]))  # local reassembler: flushed at the end
    assert [Kind(k) for k in out.kind] == [Kind.FRAGMENT, Kind.FRAGMENT]
    assert [(e.frames, e.reason) for e in out.evicted] == [((1, 2), REASON_END)]
    assert all("ip.fragment.evicted" in out.anomalies[i][0] for i in (0, 1))
    reasm = Reassembler()
    kept = decode_layers(make_batch([f[0], f[2]]), reassembler=reasm)
    assert not kept.evicted and reasm.pending_datagrams == 1


def test_overlapping_conflicting_fragment() -> None:
    f = v4_fragments()
    liar = ether(ipv4(17, bytes(1200), ident=9, offset=600, more=True))
    out = decode_layers(make_batch([f[0], liar, f[1], f[2]]))
    assert any(a.startswith("ip.fragment.overlap_conflict") for a in out.anomalies[1])
    assert out.evicted[0].frames == (1, 2)
    # the datagram was discarded: the later fragments start a new one that cannot complete
    assert not out.reassembled
    assert out.evicted[-1].frames == (3, 4)


def test_eviction_by_limits_is_noted_on_the_rows() -> None:
    frames = [ether(ipv4(17, BIG_UDP[:1200], ident=i, offset=0, more=True)) for i in range(1, 5)]
    reasm = Reassembler(max_datagrams=2)
    out = decode_layers(make_batch(frames), reassembler=reasm)
    assert [e.frames for e in out.evicted] == [(1,), (2,)]
    assert "datagrams pending" in out.anomalies[0][0]
    assert reasm.pending_datagrams == 2


def test_timeout_over_capture_time() -> None:
    f = v4_fragments()
    b = make_batch([f[0], ETH4, f[1], f[2]])
    times = np.array([0, 10, 40, 41], np.int64) * 1_000_000_000
    b = FrameBatch(b.buf, b.number, times, b.offset, b.caplen, b.origlen, b.linktype,
                   b.interface, b.source)  # fmt: skip
    out = decode_layers(b, reassembler=Reassembler(timeout_ns=30_000_000_000))
    assert out.evicted[0].frames == (1,) and out.evicted[0].reason == "timeout"
    assert not out.reassembled


def test_truncated_fragment_is_not_fed() -> None:
    f = v4_fragments()
    out = decode_layers(make_batch([f[0][:300], f[1], f[2]]))
    assert out.anomalies[0][0].startswith("ip.truncated")
    assert out.anomalies[0][1].startswith("ip.fragment.truncated")
    assert not out.reassembled


def test_ipv6_fragments_with_home_address_option() -> None:
    msg = mh(5, bytes(6) + bytes(2000))  # a big Binding Update, just for size
    frames = v6_fragments(msg, 135, pre=hoa_dstopts(44))
    b = make_batch(frames)
    out = decode_layers(b)
    assert [Kind(k) for k in out.kind] == [Kind.FRAGMENT, Kind.MIP6]
    assert out.l4_bytes(1, b) == msg and out.ip_proto[1] == 135
    assert out.home_address[1] == a6(HOA)
    assert out.fragment_of[0] == (6, a6(V6S), a6(V6D), 9, 135)


def test_ipv6_udp_fragments_out_of_order() -> None:
    f = v6_fragments(BIG_UDP, 17, size=1000)
    out = decode_layers(make_batch([f[1], f[2], f[0]]))
    assert Kind(int(out.kind[2])) == Kind.LISP_CONTROL
    assert out.reassembled[2].data == BIG_UDP and out.reassembled[2].frames == (1, 2, 3)


# -- agreement with dpkt ----------------------------------------------------------------------


def _random_frame(rng: random.Random) -> bytes:
    sport = rng.choice([4342, 4341, 4790, rng.randrange(1, 65536)])
    dport = rng.choice([4342, 4341, 4790, rng.randrange(1, 65536)])
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
    if rng.random() < 0.7:
        l4 = udp(sport, dport, body)
        proto = 17
    else:
        l4 = tcp(sport, dport, body, options=bytes(4 * rng.randrange(0, 4)))
        proto = 6
    tags = ((0x8100, rng.randrange(4096)),) if rng.random() < 0.3 else ()
    if rng.random() < 0.5:
        src = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        dst = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        options = b"\x01\x01\x01\x00" * rng.choice([0, 0, 0, 1, 2])  # NOPs + EOL
        return ether(
            ipv4(proto, l4, src, dst, options=options, ident=rng.randrange(65536)), tags=tags
        )
    src = str(ipaddress.IPv6Address(rng.getrandbits(128)))
    dst = str(ipaddress.IPv6Address(rng.getrandbits(128)))
    if rng.random() < 0.3:
        return ether(ipv6(0, ext(proto, b"\x05\x02\x00\x00") + l4, src, dst), 0x86DD, tags)
    return ether(ipv6(proto, l4, src, dst), 0x86DD, tags)


def test_agrees_with_dpkt_on_mixed_frames() -> None:
    rng = random.Random(7)
    frames = [_random_frame(rng) for _ in range(2000)]
    b = make_batch(frames)
    out = decode_layers(b)
    assert out.fast.sum() > 1000 and (~out.fast).sum() > 200
    assert not out.error
    for i, f in enumerate(frames):
        eth = dpkt.ethernet.Ethernet(f)
        ip = eth.data
        l4 = ip.data
        assert int(out.l3_offset[i]) == len(f) - len(ip), i
        assert int(out.ip_version[i]) == ip.v
        assert out.address(i, "src") == str(ipaddress.ip_address(ip.src))
        assert out.address(i, "dst") == str(ipaddress.ip_address(ip.dst))
        assert int(out.ip_proto[i]) == ip.p
        assert int(out.l4_offset[i]) == len(f) - len(l4)
        assert int(out.l4_length[i]) == len(l4)
        assert int(out.sport[i]) == l4.sport and int(out.dport[i]) == l4.dport
        assert out.payload_bytes(i, b) == bytes(l4.data)


# -- robustness -------------------------------------------------------------------------------


def _seeds() -> list[tuple[bytes, int]]:
    f4 = v4_fragments()
    f6 = v6_fragments(BIG_UDP, 17)
    seeds = [(frame, lt) for _, lt, frame, _, _ in LINKS]
    seeds += [(frame, lt) for _, lt, frame, _ in ERRORS]
    seeds += [
        (ether(ipv6(60, hoa_dstopts(135) + mh(5)), 0x86DD), LINKTYPE_ETHERNET),
        (ether(ipv6(43, rh2(135) + mh(6)), 0x86DD), LINKTYPE_ETHERNET),
        (ether(ipv4(6, tcp(1, 4342, MAP_REQUEST))), LINKTYPE_ETHERNET),
        (ether(ipv4(17, udp(1, 4342, MAP_REQUEST), options=bytes(8))), LINKTYPE_ETHERNET),
        (ether(V4_UDP, tags=((0x88A8, 1), (0x8100, 2))), LINKTYPE_ETHERNET),
        *[(f, LINKTYPE_ETHERNET) for f in f4 + f6],
    ]
    return seeds


def test_mutated_frames_one_row_each_and_no_exception() -> None:
    rng = random.Random(2026)
    seeds = _seeds()
    linktypes = [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, LINKTYPE_NULL, 0x7F]
    total = 0
    reasm = Reassembler(max_pending_bytes=1 << 20, max_datagrams=64)
    for batch_no in range(10):
        frames, lts = [], []
        for _ in range(10_000):
            frame, lt = rng.choice(seeds)
            frame = mutate(frame, rng)
            if rng.random() < 0.25:
                frame = mutate(frame, rng)
            if rng.random() < 0.02:
                lt = rng.choice(linktypes)
            frames.append(frame)
            lts.append(lt)
        b = make_batch(frames, lts, first=1 + total)
        out = decode_layers(b, reassembler=reasm)
        n = len(frames)
        total += n
        assert len(out) == n
        for col in (out.l3_offset, out.ip_version, out.kind, out.sport, out.fragment, out.fast):
            assert len(col) == n
        assert out.src.shape == out.dst.shape == (n, 16)
        assert not [e for e in out.error.values() if e.startswith("internal error")]
        assert set(out.error) == set(np.flatnonzero(out.kind == Kind.UNDECODABLE).tolist())
        caplen = b.caplen
        plain = np.array([i not in out.reassembled for i in range(n)])
        has = (out.payload_offset >= 0) & plain
        assert (out.payload_offset[has] + out.payload_length[has] <= caplen[has]).all()
        assert (out.payload_length[has] >= 0).all()
        assert (out.l3_offset <= caplen).all()
        out.addresses("src")
        out.anomaly_column()
        assert batch_no >= 0
    evicted = reasm.flush()
    assert reasm.pending_datagrams == 0 and all(e.frames for e in evicted)


def test_fast_and_per_frame_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every column the vectorised path fills, the per-frame path fills the same way."""
    import lisptrace.ingest.layers as layers

    rng = random.Random(11)
    frames = [_random_frame(rng) for _ in range(1000)]
    frames += [frame for _, lt, frame, _, _ in LINKS if lt == LINKTYPE_ETHERNET]
    frames += [ether(ipv6(135, mh(1)), 0x86DD), ether(ipv6(58, bytes([134]) + bytes(15)), 0x86DD)]
    b = make_batch(frames)
    fast = decode_layers(b)
    monkeypatch.setattr(layers, "_fast", lambda batch, out, p: None)
    slow = decode_layers(b)
    assert fast.fast.sum() > 500 and not slow.fast.any()
    for name in (
        "l3_offset",
        "ip_version",
        "src",
        "dst",
        "ip_proto",
        "l4_offset",
        "l4_length",
        "payload_offset",
        "payload_length",
        "sport",
        "dport",
        "kind",
        "fragment",
    ):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert fast.anomalies == slow.anomalies and fast.error == slow.error
