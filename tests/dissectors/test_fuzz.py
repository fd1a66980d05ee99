"""Fuzzing every parser with mutated valid messages: only DecodeError may ever escape.

At least 200,000 mutants in all (bit flips, truncations, lying length and count fields,
insertions, deletions), spread over the parsers by the size of their input space. Seeds are
real messages: the public captures' payloads and messages built with our codecs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dpkt
import pytest

from dissectors.lisp import parse_control
from dissectors.lisp.afi import Address, IPv4, IPv6, Mac, address
from dissectors.lisp.data import parse_data
from dissectors.lisp.lcaf import (
    AfiList,
    ElpHop,
    ExplicitLocatorPath,
    GeoCoordinates,
    InstanceId,
    JsonData,
    KeyValue,
    NatTraversal,
    SourceDest,
)
from dissectors.lisp.map_notify import MapNotify, MapNotifyAck
from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_reply import MapReply
from dissectors.lisp.map_request import MapRequest, RequestRecord
from dissectors.lisp.records import EidRecord, Locator
from dissectors.mip6.ext import walk_ipv6
from dissectors.mip6.mh import parse_mh
from dissectors.mip6.nd import RouterAdvertisement
from tests.support.mutate import fuzz
from tests.support.tshark import ip_packet

SHARED = Path(__file__).resolve().parents[3] / "shared" / "captures"


def udp_payloads(pcap: Path) -> list[bytes]:
    """The UDP payloads of a capture (Ethernet or raw IP link)."""
    out = []
    with open(pcap, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        for _, buf in reader:
            try:
                ip = dpkt.ethernet.Ethernet(buf).data
            except dpkt.dpkt.UnpackError:
                continue
            udp = getattr(ip, "data", None)
            if isinstance(udp, dpkt.udp.UDP):
                out.append(bytes(udp.data))
    return out


def lcaf_eids() -> list[Address]:
    v4, v6 = address("10.1.0.0"), address("2001:db8::")
    return [
        v4,
        v6,
        Mac(bytes.fromhex("020000000001")),
        InstanceId(iid=1000, address=v4, rsvd2=24),
        SourceDest(source=v4, dest=address("10.2.0.0"), source_mask_len=16, dest_mask_len=16),
        AfiList(addresses=(v4, v6, InstanceId(iid=7, address=v6))),
        KeyValue(key=v4, value=InstanceId(iid=1, address=v6)),
    ]


def control_seeds() -> list[bytes]:
    rloc4, rloc6 = address("192.0.2.1"), address("2001:db8:1::1")
    locators = (Locator(rloc4, weight=50), Locator(rloc6, weight=50, local=True))
    records = tuple(EidRecord(eid, 24, locators, ttl=1) for eid in lcaf_eids())
    seeds = [
        MapRequest(
            nonce=7,
            source_eid=address("10.1.0.1"),
            itr_rlocs=(rloc4, rloc6),
            records=(RequestRecord(address("10.2.0.1"), 32),),
            smr=True,
        ).build(),
        MapRequest(
            nonce=8,
            itr_rlocs=(rloc4,),
            records=(RequestRecord(InstanceId(iid=5, address=address("10.3.0.0")), 16),),
            map_reply=records[0],
            xtr_id=(1).to_bytes(16, "big"),
            site_id=(2).to_bytes(8, "big"),
        ).build(),
        MapReply(nonce=9, records=records).build(),
        MapReply(nonce=10, records=(EidRecord(address("10.9.0.0"), 16, (), ttl=15),)).build(),
        MapRegister(
            nonce=11, key_id=1, records=records[:3], want_map_notify=True, proxy_map_reply=True
        )
        .sign(b"secret")
        .build(),
        MapRegister(
            nonce=12,
            key_id=2,
            records=records[3:],
            xtr_id=bytes(range(16)),
            site_id=bytes(8),
        )
        .sign(b"secret")
        .build(),
        MapNotify(nonce=13, key_id=1, auth_data=bytes(20), records=records[:2]).build(),
        MapNotifyAck(nonce=14, key_id=2, auth_data=bytes(32), records=records[2:4]).build(),
    ]
    nat = NatTraversal(
        ms_udp_port=4342,
        etr_udp_port=61000,
        global_etr_rloc=IPv4.of("203.0.113.7"),
        ms_rloc=IPv4.of("198.51.100.1"),
        private_etr_rloc=IPv4.of("192.168.1.10"),
        rtr_rlocs=(IPv6.of("2001:db8::9"),),
    )
    geo = GeoCoordinates(
        north=True,
        lat_degrees=37,
        lat_minutes=23,
        lat_seconds=46,
        east=False,
        lon_degrees=121,
        lon_minutes=55,
        lon_seconds=36,
        altitude=30,
        address=address("10.0.0.1"),
    )
    elp = ExplicitLocatorPath(hops=(ElpHop(address("192.0.2.9"), lookup=True), ElpHop(rloc6)))
    json = JsonData(json=b'{"a": 1}', address=address("10.0.0.2"))
    for extra in (nat, geo, elp, json):
        seeds.append(MapReply(nonce=15, records=(EidRecord(extra, 32, locators),)).build())
    for name in ("lisp_eid_register", "lisp_eid_notify", "lisp_ipv6", "lisp_invalid"):
        seeds += udp_payloads(SHARED / "tcpdump" / f"{name}.pcap")
    # an ECM around a Map-Request, over IPv4 and IPv6
    inner = seeds[0]
    for src, dst in (("10.1.0.1", "10.2.0.1"), ("2001:db8::1", "2001:db8::2")):
        udp = dpkt.udp.UDP(sport=61000, dport=4342, data=inner, ulen=8 + len(inner))
        seeds.append(bytes.fromhex("80000000") + bytes(ip_packet(src, dst, 17, udp)))
    return seeds


def data_seeds() -> list[bytes]:
    seeds = []
    for header in (
        "c0123456 00000003",
        "08000000 00123401",
        "90abcdef 00000001",
        "84000401 00000000",
    ):
        for src, dst in (("10.1.0.1", "10.2.0.1"), ("2001:db8::1", "2001:db8::2")):
            udp = dpkt.udp.UDP(sport=1234, dport=5678, data=b"payload", ulen=15)
            seeds.append(bytes.fromhex(header) + bytes(ip_packet(src, dst, 17, udp)))
    # LISP-in-LISP: outer data header, IPv4, UDP/4341, inner data packet
    inner = seeds[0]
    udp = dpkt.udp.UDP(sport=4341, dport=4341, data=inner, ulen=8 + len(inner))
    seeds.append(
        bytes.fromhex("80000001 00000000") + bytes(ip_packet("192.0.2.1", "192.0.2.2", 17, udp))
    )
    return seeds


def ipv6_packets(pcap: Path) -> list[bytes]:
    """The IPv6 packets of a capture (Ethernet or raw IPv6 link)."""
    with open(pcap, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        raw = reader.datalink() & 0x0FFFFFFF in (101, 229)
        return [buf if raw else buf[14:] for _, buf in reader]


def mip6_packets() -> list[bytes]:
    """Whole IPv6 packets carrying Mobility Headers, HoA options and Type 2 Routing Headers."""
    return [p for pcap in sorted((SHARED / "zeek").glob("*.pcap")) for p in ipv6_packets(pcap)]


def mobility_headers() -> list[bytes]:
    out = []
    for pkt in mip6_packets():
        chain = walk_ipv6(pkt)
        if chain.upper_proto == 135:
            out.append(pkt[chain.upper_offset : chain.payload_end])
    return out


def parse_mh_with_checksum(buf: bytes) -> object:
    return parse_mh(buf, src="2001:db8::1", dst="2001:db8::2")


def router_advertisements() -> list[bytes]:
    # RA: hop limit 64, lifetime 1800; Prefix Information 2001:db8:1::/64; MAP option
    # (dist 1, pref 15, R, lifetime 600, MAP 2001:db8::1) - written out from RFC 4861/5380
    return [
        bytes.fromhex(
            "86000000 40000708 00000000 00000000"
            "0304 40c0 00278d00 00093a80 00000000 20010db8000100000000000000000000"
            "1703 1f80 00000258 20010db8000000000000000000000001"
        )
    ]


PARSERS: dict[str, tuple[Callable[[bytes], object], Callable[[], list[bytes]], int]] = {
    "control": (parse_control, control_seeds, 120_000),
    "data": (parse_data, data_seeds, 40_000),
    "address": (Address.parse, lambda: [a.build() for a in lcaf_eids()], 20_000),
    "mobility-header": (parse_mh_with_checksum, mobility_headers, 30_000),
    "ipv6-chain": (walk_ipv6, mip6_packets, 10_000),
    "router-advertisement": (RouterAdvertisement.parse, router_advertisements, 10_000),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_only_decode_errors_escape(name: str) -> None:
    parse, seeds, runs = PARSERS[name]
    stats = fuzz(parse, seeds(), runs, seed=hash(name) & 0xFFFF)
    assert stats.runs == runs
    # the mutants must exercise both outcomes, or the fuzzer is not reaching the decoders
    assert stats.decoded > runs // 20 and stats.errors > runs // 20


def test_fuzzing_totals_at_least_200k_mutants() -> None:
    assert sum(runs for _, _, runs in PARSERS.values()) >= 200_000
