"""Differential test of the LISP data plane and the ECM against tshark (``lisp-data.*``,
``lisp.ecm.*``, ``lisp.type`` and the inner ip/ipv6/udp fields).

Data: every N/L/E/V/I combination (invalid E-without-N and N-with-V included) with IPv4 and
IPv6 inner packets, every KK value, the R/P bit, LISP-GPE next protocols, L2 LISP and nested
LISP-in-LISP. ECM: every S/D/E/M combination with IPv4 and IPv6 inner headers carrying a
Map-Request, reserved bits, ECM-in-ECM; plus a type-15 Shared Extension. All are built with our
codecs, wrapped in Ethernet/IPv4/UDP frames by dpkt, decoded by tshark in ONE run (a module
fixture) and compared field by field (occurrences in packet order).
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import dataclass, field

import pytest

from dissectors.inet import EthernetFrame, IpPacket, Ipv4Header, Ipv6Header, UdpDatagram
from dissectors.lisp.data import DataHeader, DataPacket, parse_data
from dissectors.lisp.ecm import EncapsulatedControlMessage, SharedExtension
from dissectors.lisp.message import parse_control
from tests.dissectors.lisp.test_ecm import MAP_REQUEST
from tests.dissectors.test_inet import IPV4_UDP, IPV6_EXT_UDP
from tests.support.tshark import decode, requires_tshark, tshark_fields_of, udp_frame

pytestmark = [pytest.mark.tshark, requires_tshark]

IP_FIELDS = ["ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.id", "ip.checksum", "ip.len"]
IPV6_FIELDS = ["ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.hlim"]
UDP_FIELDS = ["udp.srcport", "udp.dstport", "udp.length", "udp.checksum"]
EXTRA = ["udp.checksum.zero", "vxlan.next_proto", "vxlan.p_bit", "eth.type"]

# Known differences: (field, ours, tshark's, reason). Each is asserted to show up below.
KNOWN_DIFFERENCES = [
    (
        "lisp-data.flags.res",
        "bit 5 = R (RFC 9300) / P (RFC 9305), bits 6-7 = KK key phase (RFC 8061)",
        "one 3-bit 'Reserved' value",
        "tshark 4.0 predates RFC 8061/9300/9305 names for bits 5-7",
    ),
    (
        "lisp-data.nonce",
        "16-bit nonce + 8-bit Next Protocol when P=1 (LISP-GPE)",
        "24-bit nonce",
        "no LISP-GPE support in packet-lisp-data.c",
    ),
    (
        "payload (KK != 0)",
        "kept raw (encrypted, RFC 8061)",
        "dissected as IPv4/IPv6 by the version nibble",
        "tshark ignores KK",
    ),
    (
        "payload (L2 LISP / GPE next protocol 3)",
        "Ethernet frame + inner IP decoded",
        "not dissected (data)",
        "packet-lisp-data.c only knows IPv4/IPv6 payloads",
    ),
    (
        "LISP-GPE header on UDP 4790",
        "LISP-GPE layout (N L E V I P K K | nonce | next protocol)",
        "VXLAN-GPE layout (vxlan.* fields)",
        "4790 is the VXLAN-GPE port; LISP-GPE itself runs on 4341 with the P bit",
    ),
    (
        "udp.checksum 0 over IPv6",
        "note udp.checksum_zero_ipv6 (RFC 6935/6936 allow it for tunnels)",
        "error expert udp.checksum.zero 'Illegal checksum value (0)'",
        "tshark applies RFC 8200's general rule",
    ),
]


@dataclass
class Case:
    name: str
    data: bytes
    dport: int = 4341
    kind: str = "normal"  # normal | encrypted_ip | l2 | vxlan_gpe
    expect: dict[str, list[str]] = field(default_factory=dict)


def inner(v: int) -> IpPacket:
    return IpPacket.parse(IPV4_UDP if v == 4 else IPV6_EXT_UDP)


def cases() -> list[Case]:
    out: list[Case] = []
    for n, lb, e, v, i in itertools.product([False, True], repeat=5):
        for ipv in (4, 6):
            h = DataHeader(n, lb, e, v, i, False, 0, 0xA5B6C7, 0x12345678)
            out.append(Case(f"NLEVI{n:d}{lb:d}{e:d}{v:d}{i:d}/v{ipv}", h.build() + IPV4_UDP))
            out[-1].data = DataPacket(h, inner(ipv)).build()
    for kk in (1, 2, 3):
        h = DataHeader(True, True, False, False, True, False, kk, 0x010203, 0x00006401)
        out.append(Case(f"KK{kk}", DataPacket(h, bytes(24)).build()))
    h = DataHeader(True, False, False, False, False, False, 2, 0x777777, 0)
    out.append(Case("KK2 with IP-looking payload", h.build() + IPV4_UDP, kind="encrypted_ip"))
    h = DataHeader(True, False, False, False, False, True, 0, 0x123401, 0)
    out.append(Case("GPE next protocol 1 (IPv4)", DataPacket(h, inner(4)).build()))
    h = DataHeader(True, False, False, False, True, True, 0, 0x123402, 0x00000A00)
    out.append(Case("GPE next protocol 2 (IPv6)", DataPacket(h, inner(6)).build()))
    eth = EthernetFrame(b"\x02" * 6, b"\x04" * 6, 0x0800, inner(4))
    h = DataHeader(True, False, False, False, True, True, 0, 0x123403, 0x00006400)
    out.append(Case("GPE next protocol 3 (Ethernet)", DataPacket(h, eth).build(), kind="l2"))
    h = DataHeader(False, False, False, False, True, False, 0, 0, 0x0000C800)
    out.append(Case("L2 LISP", DataPacket(h, eth).build(), kind="l2"))
    h = DataHeader(True, False, False, False, True, True, 0, 0x123401, 0x00006400)
    out.append(Case("GPE on 4790", DataPacket(h, inner(4)).build(), 4790, "vxlan_gpe"))
    # nested LISP-in-LISP: outer (v4 RLOCs), middle (v6 or v4), inner
    for mid_v, depth in ((4, 2), (6, 2), (4, 3)):
        pkt = DataPacket(DataHeader.make(nonce=0x10, instance_id=9), inner(4))
        for level in range(depth - 1):
            if mid_v == 4:
                hdr: Ipv4Header | Ipv6Header = Ipv4Header(
                    Ipv4Header.parse(IPV4_UDP[:20]).src, Ipv4Header.parse(IPV4_UDP[:20]).dst
                )
            else:
                hdr = Ipv6Header(inner(6).header.src, inner(6).header.dst)
            udp = UdpDatagram(60000 + level, 4341, pkt, checksum=None)
            pkt = DataPacket(DataHeader.make(nonce=level + 1, lsbs=1), IpPacket(hdr, udp))
        out.append(Case(f"nested depth {depth} middle v{mid_v}", pkt.build()))
    return out


def expected_lisp(pkt: DataPacket) -> dict[str, list[str]]:
    """What tshark should show for our decode (every LISP header, outer to inner)."""
    exp: dict[str, list[str]] = {}

    def add(name: str, value: str) -> None:
        exp.setdefault(name, []).append(value)

    level: DataPacket | None = pkt
    while level is not None:
        h = level.header
        add("lisp-data.flags", f"0x{h.flags:02x}")
        add("lisp-data.flags.nonce", str(int(h.nonce_present)))
        add("lisp-data.flags.lsb", str(int(h.lsb_enabled)))
        add("lisp-data.flags.enr", str(int(h.echo_nonce_request)))
        add("lisp-data.flags.mv", str(int(h.map_version_present)))
        add("lisp-data.flags.iid", str(int(h.instance_id_present)))
        add("lisp-data.flags.res", f"0x{h.p << 2 | h.key_phase:02x}")  # known difference
        if h.nonce_present:
            add("lisp-data.nonce", str(h.nonce_map_version))  # = h.nonce unless P (GPE)
        elif h.map_version_present:
            add("lisp-data.mapver", f"0x{h.nonce_map_version:06x}")
            add("lisp-data.srcmapver", str(h.source_map_version))
            add("lisp-data.dstmapver", str(h.dest_map_version))
        if h.instance_id_present:
            add("lisp-data.iid", str(h.instance_id))
            if h.lsb_enabled:
                add("lisp-data.lsb8", f"0x{h.lsbs:02x}")
        elif h.lsb_enabled:
            add("lisp-data.lsb", f"0x{h.lsbs:08x}")
        if h.echo_nonce_request and not h.nonce_present:
            add("lisp-data.flags.en_invalid", "1")
        if h.nonce_present and h.map_version_present:
            add("lisp-data.flags.nv_invalid", "1")
        nxt = None
        if isinstance(level.payload, IpPacket):
            udp = level.payload.payload
            if isinstance(udp, UdpDatagram) and isinstance(udp.payload, DataPacket):
                nxt = udp.payload
        level = nxt
    return exp


def expected_inner_ip(pkt: DataPacket) -> dict[str, list[str]]:
    """ip/ipv6/udp occurrences after the outer (dpkt-built IPv4/UDP) ones."""
    exp: dict[str, list[str]] = {}

    def add(name: str, value: str) -> None:
        exp.setdefault(name, []).append(value)

    level: DataPacket | None = pkt
    while level is not None:
        ip = level.payload
        level = None
        if not isinstance(ip, IpPacket):
            break
        h = ip.header
        if isinstance(h, Ipv4Header):
            add("ip.src", str(h.src))
            add("ip.dst", str(h.dst))
            add("ip.proto", str(h.protocol))
            add("ip.ttl", str(h.ttl))
            add("ip.id", f"0x{h.identification:04x}")
            add("ip.checksum", f"0x{h.checksum:04x}")
            add("ip.len", str(h.total_length))
        else:
            add("ipv6.src", str(h.src))
            add("ipv6.dst", str(h.dst))
            add("ipv6.nxt", str(h.next_header))
            add("ipv6.plen", str(h.payload_length))
            add("ipv6.hlim", str(h.hop_limit))
        udp = ip.payload
        if isinstance(udp, UdpDatagram):
            add("udp.srcport", str(udp.src_port))
            add("udp.dstport", str(udp.dst_port))
            add("udp.length", str(udp.length))
            add("udp.checksum", f"0x{udp.checksum:04x}")
            if isinstance(udp.payload, DataPacket):
                level = udp.payload
    return exp


OUTER_COUNTS = {"ip.": 1, "udp.": 1}


ECM_FIELDS = [
    "lisp.ecm.flags.sec",
    "lisp.ecm.flags.ddt",
    "lisp.ecm.res",
    "lisp.type",
    "lisp.nonce",
    "lisp.irc",
    "lisp.records",
]

ECM_KNOWN_DIFFERENCES = [
    (
        "lisp.ecm.res",
        "E to-ETR (bit 6) and M to-MS (bit 7) of RFC 9301 = R / N of the NAT-traversal draft",
        "folded into the 26-bit lisp.ecm.res",
        "tshark 4.0 names S and D only",
    ),
    (
        "lisp.type 15",
        "Shared Extension: sub-type + raw body (RFC 9304)",
        "type only, no sub-type field",
        "tshark 4.0 has no type-15 dissector",
    ),
]

V4A, V4B = ipaddress.IPv4Address("10.0.0.1"), ipaddress.IPv4Address("10.0.0.2")
V6A, V6B = ipaddress.IPv6Address("2001:db8::1"), ipaddress.IPv6Address("2001:db8::2")


def ecm_cases() -> list[tuple[str, bytes]]:
    request = parse_control(MAP_REQUEST)
    out = []
    for s, d, e, m in itertools.product([False, True], repeat=4):
        for v in (4, 6):
            hdr = Ipv4Header(V4A, V4B) if v == 4 else Ipv6Header(V6A, V6B)
            udp = UdpDatagram(61000, 4342, request, checksum=None)
            ecm = EncapsulatedControlMessage(IpPacket(hdr, udp), s, d, e, m)
            out.append((f"ECM S{s:d}D{d:d}E{e:d}M{m:d}/v{v}", ecm.build()))
    udp = UdpDatagram(4342, 4342, request, checksum=None)
    reserved = EncapsulatedControlMessage(IpPacket(Ipv4Header(V4A, V4B), udp), reserved=0x800001)
    out.append(("ECM reserved bits", reserved.build()))
    inner = EncapsulatedControlMessage(IpPacket(Ipv6Header(V6A, V6B), udp), security=True)
    outer_udp = UdpDatagram(4342, 4342, inner, checksum=None)
    outer = EncapsulatedControlMessage(IpPacket(Ipv4Header(V4A, V4B), outer_udp), to_ms=True)
    out.append(("ECM in ECM", outer.build()))
    out.append(("Shared Extension", SharedExtension(sub_type=7, data=b"\x01\x02").build()))
    return out


@pytest.fixture(scope="module")
def tshark_run() -> tuple[list[Case], list[tuple[str, bytes]], list[dict[str, list[str]]]]:
    """One tshark run for every frame of this module."""
    data_cases, ecms = cases(), ecm_cases()
    frames = [udp_frame(c.data, sport=61234, dport=c.dport) for c in data_cases]
    frames += [udp_frame(b, sport=4342, dport=4342) for _, b in ecms]
    fields = [
        *tshark_fields_of(["lisp-data"]),
        *ECM_FIELDS,
        *IP_FIELDS,
        *IPV6_FIELDS,
        *UDP_FIELDS,
        *EXTRA,
    ]
    return data_cases, ecms, decode(frames, fields)


def test_ecm_against_tshark(
    tshark_run: tuple[list[Case], list[tuple[str, bytes]], list[dict[str, list[str]]]],
) -> None:
    data_cases, ecms, decoded = tshark_run
    seen = set()
    for (name, data), got in zip(ecms, decoded[len(data_cases) :], strict=True):
        msg = parse_control(data)
        assert msg.build() == data, name
        if isinstance(msg, SharedExtension):
            assert got["lisp.type"] == ["15"] and msg.sub_type == 7
            assert not any(k.startswith("lisp.") and k != "lisp.type" for k in got), name
            seen.add("lisp.type 15")
            continue
        exp: dict[str, list[str]] = {}
        ip_exp: dict[str, list[str]] = {}
        level = msg
        while isinstance(level, EncapsulatedControlMessage):
            res = level.to_etr << 25 | level.to_ms << 24 | level.reserved
            exp.setdefault("lisp.ecm.flags.sec", []).append(str(int(level.security)))
            exp.setdefault("lisp.ecm.flags.ddt", []).append(str(int(level.ddt_originated)))
            exp.setdefault("lisp.ecm.res", []).append(f"0x{res:08x}")
            exp.setdefault("lisp.type", []).append("8")
            if level.to_etr or level.to_ms:
                seen.add("lisp.ecm.res")
            h = level.inner.header
            if isinstance(h, Ipv4Header):
                ip_exp.setdefault("ip.src", []).append(str(h.src))
                ip_exp.setdefault("ip.dst", []).append(str(h.dst))
                ip_exp.setdefault("ip.len", []).append(str(h.total_length))
                ip_exp.setdefault("ip.checksum", []).append(f"0x{h.checksum:04x}")
            else:
                ip_exp.setdefault("ipv6.src", []).append(str(h.src))
                ip_exp.setdefault("ipv6.dst", []).append(str(h.dst))
                ip_exp.setdefault("ipv6.plen", []).append(str(h.payload_length))
            udp = level.udp
            assert udp is not None
            ip_exp.setdefault("udp.srcport", []).append(str(udp.src_port))
            ip_exp.setdefault("udp.dstport", []).append(str(udp.dst_port))
            ip_exp.setdefault("udp.length", []).append(str(udp.length))
            ip_exp.setdefault("udp.checksum", []).append(f"0x{udp.checksum:04x}")
            level = level.message
        assert level is not None and level.type == 1
        exp["lisp.type"].append("1")
        exp["lisp.nonce"] = [f"0x{level.nonce:016x}"]  # type: ignore[attr-defined]
        exp["lisp.irc"] = [str(len(level.itr_rlocs) - 1)]  # type: ignore[attr-defined]
        exp["lisp.records"] = [str(len(level.records))]  # type: ignore[attr-defined]
        for f in ECM_FIELDS:
            assert got.get(f, []) == exp.get(f, []), (name, f)
        for f in ["ip.src", "ip.dst", "ip.len", "ip.checksum", *UDP_FIELDS]:
            assert got.get(f, [])[1:] == ip_exp.get(f, []), (name, f)
        for f in ["ipv6.src", "ipv6.dst", "ipv6.plen"]:
            assert got.get(f, []) == ip_exp.get(f, []), (name, f)
    assert seen == {d[0] for d in ECM_KNOWN_DIFFERENCES}


def test_data_plane_against_tshark(
    tshark_run: tuple[list[Case], list[tuple[str, bytes]], list[dict[str, list[str]]]],
) -> None:
    all_cases, _, decoded = tshark_run
    lisp_fields = tshark_fields_of(["lisp-data"])
    seen = set()
    for case, got in zip(all_cases, decoded[: len(all_cases)], strict=True):
        pkt = parse_data(case.data)
        assert pkt.build() == case.data, case.name
        if case.kind == "vxlan_gpe":
            # tshark: VXLAN-GPE, no lisp-data at all
            assert not any(k.startswith("lisp-data") for k in got), case.name
            assert got["vxlan.p_bit"] == ["1"] and got["vxlan.next_proto"] == ["1"], case.name
            seen.add("LISP-GPE header on UDP 4790")
            continue
        exp = expected_lisp(pkt)
        for name in lisp_fields:
            assert got.get(name, []) == exp.get(name, []), (case.name, name)
        h = pkt.header
        if h.p or h.key_phase:
            seen.add("lisp-data.flags.res")
        if h.p and h.nonce_present:
            assert got["lisp-data.nonce"][0] != str(h.nonce)
            seen.add("lisp-data.nonce")
        inner_exp = expected_inner_ip(pkt)
        for name in [*IP_FIELDS, *UDP_FIELDS]:
            tail = got.get(name, [])[1:]  # skip the outer IPv4/UDP occurrence
            if case.kind == "encrypted_ip":
                assert isinstance(pkt.payload, bytes)
                assert tail, (case.name, name)  # tshark dissected the "encrypted" payload
                seen.add("payload (KK != 0)")
                continue
            assert tail == inner_exp.get(name, []), (case.name, name)
        for name in IPV6_FIELDS:
            assert got.get(name, []) == inner_exp.get(name, []), (case.name, name)
        if case.kind == "l2":
            assert isinstance(pkt.payload, EthernetFrame) or not h.p
            assert got.get("ip.src", []) == [got["ip.src"][0]], case.name  # only the outer
            seen.add("payload (L2 LISP / GPE next protocol 3)")
        zero_v6 = any(a.code == "udp.checksum_zero_ipv6" for a in pkt.anomalies)
        assert zero_v6 == ("udp.checksum.zero" in got), case.name
        if zero_v6:
            seen.add("udp.checksum 0 over IPv6")
    assert seen == {d[0] for d in KNOWN_DIFFERENCES}


def test_l2_case_decodes_when_told() -> None:
    (l2,) = [c for c in cases() if c.name == "L2 LISP"]
    assert isinstance(parse_data(l2.data, l2_instance_ids={200}).payload, EthernetFrame)
