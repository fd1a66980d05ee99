"""Public captures (see /work/shared/captures/README.md): zeek's MIPv6 traces decoded field by
field, tcpdump's Mobility Header fuzz cases must end in DecodeError or anomalies only."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

import dpkt
import pytest

from dissectors.core import DecodeError, Reader
from dissectors.mip6 import mh
from dissectors.mip6.ext import DestinationOptions, HomeAddressOption, Type2RoutingHeader, walk_ipv6
from dissectors.mip6.mh import parse_mh
from dissectors.mip6.nd import RouterAdvertisement
from dissectors.mip6.options import PadN, read_options

CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "captures"
ZEEK = CAPTURES / "zeek"
TCPDUMP = CAPTURES / "tcpdump"

pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(), reason="shared captures not present")

HOA = ipaddress.IPv6Address("2001:78:1:32::1")
MH_PROTOS = (135, 62)  # 62: the pre-RFC number, still used by tcpdump's test files
DLT_IPV6 = 229


def packets(path: Path) -> list[bytes]:
    """The IPv6 packets of a capture (Ethernet or raw IPv6 link type)."""
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        raw_ipv6 = reader.datalink() & 0x0FFFFFFF == DLT_IPV6
        return [buf if raw_ipv6 else buf[14:] for _, buf in reader]


def only_mh(name: str) -> mh.MobilityMessage:
    (pkt,) = packets(ZEEK / name)
    chain = walk_ipv6(pkt)
    assert chain.upper_proto == 135
    src, dst = chain.checksum_addresses()
    return parse_mh(pkt[chain.upper_offset : chain.payload_end], src=src, dst=dst)


def test_brr() -> None:
    m = only_mh("mip6_brr.pcap")
    assert isinstance(m, mh.BindingRefreshRequest)
    assert (m.payload_proto, m.header_reserved, m.reserved, m.options) == (59, 0, 0, ())
    assert m.checksum == 55703 and m.checksum_ok and m.anomalies == ()


def test_hoti_coti() -> None:
    hoti = only_mh("mip6_hoti.pcap")
    assert isinstance(hoti, mh.HomeTestInit)
    assert (hoti.reserved, hoti.home_init_cookie, hoti.checksum_ok) == (0, 1, True)
    coti = only_mh("mip6_coti.pcap")
    assert isinstance(coti, mh.CareOfTestInit)
    assert (coti.reserved, coti.care_of_init_cookie, coti.checksum_ok) == (0, 1, True)


def test_hot_cot() -> None:
    hot = only_mh("mip6_hot.pcap")
    assert isinstance(hot, mh.HomeTest)
    assert (hot.home_nonce_index, hot.home_init_cookie, hot.home_keygen_token) == (13, 15, 255)
    assert hot.checksum_ok
    cot = only_mh("mip6_cot.pcap")
    assert isinstance(cot, mh.CareOfTest)
    assert (cot.care_of_nonce_index, cot.care_of_init_cookie, cot.care_of_keygen_token) == (
        13,
        15,
        255,
    )
    assert cot.checksum_ok


def test_bu() -> None:
    m = only_mh("mip6_bu.pcap")
    assert isinstance(m, mh.BindingUpdate)
    assert m.sequence == 37 and m.lifetime == 3 and m.lifetime_seconds == 12
    assert (m.a, m.h, m.l, m.k, m.m, m.r, m.p, m.f, m.t, m.b, m.reserved) == (
        True,
        True,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        0,
    )
    assert m.options == (PadN(padding=b"\x00\x00"),)
    assert m.label == "BU" and m.checksum_ok and m.anomalies == ()


def test_ba() -> None:
    m = only_mh("mip6_back.pcap")
    assert isinstance(m, mh.BindingAck)
    assert (m.status, m.k, m.r, m.p, m.t, m.b, m.sequence, m.lifetime) == (
        0,
        True,
        False,
        False,
        False,
        False,
        42,
        8,
    )
    assert m.label == "BA" and m.accepted and m.checksum_ok
    assert m.status_name() == "Binding Update accepted"


def test_be_and_checksums() -> None:
    for name in ("mip6_be.pcap", "mip6-good-mh-chksum.pcap"):
        m = only_mh(name)
        assert isinstance(m, mh.BindingError)
        assert (m.status, m.home_address, m.checksum) == (1, HOA, 0xB0D8)
        assert m.checksum_ok and m.anomalies == ()
    bad = only_mh("mip6-bad-mh-chksum.pcap")
    assert isinstance(bad, mh.BindingError)
    assert bad.checksum == 1 and bad.checksum_ok is False
    assert [a.code for a in bad.anomalies] == ["mip6.bad_checksum"]


def _udp_checksum_ok(pkt: bytes) -> tuple[bool, bool]:
    """(ok with the addresses checksum_addresses picks, ok with the plain IPv6 addresses)."""
    from dissectors.mip6._fields import ipv6_pseudo_header_checksum

    chain = walk_ipv6(pkt)
    udp = bytearray(pkt[chain.upper_offset : chain.payload_end])
    sent = int.from_bytes(udp[6:8], "big")
    udp[6:8] = b"\x00\x00"
    s, d = chain.checksum_addresses()
    return (
        ipv6_pseudo_header_checksum(bytes(udp), s, d, 17) == sent,
        ipv6_pseudo_header_checksum(bytes(udp), chain.src, chain.dst, 17) == sent,
    )


def test_home_address_option() -> None:
    (pkt,) = packets(ZEEK / "ipv6-mobile-hoa.pcap")
    chain = walk_ipv6(pkt)
    (hdr,) = chain.headers
    assert hdr.proto == 60 and chain.upper_proto == 17
    dest = hdr.decoded
    assert isinstance(dest, DestinationOptions)
    assert dest.options[1] == HomeAddressOption(home_address=HOA)
    assert dest.build() == hdr.data
    assert chain.home_address_option == HOA
    # the upper-layer checksum uses the home address as source (RFC 6275 sec. 6.3)
    assert _udp_checksum_ok(pkt) == (True, False)


def test_type2_routing_header() -> None:
    (pkt,) = packets(ZEEK / "ipv6-mobile-routing.pcap")
    chain = walk_ipv6(pkt)
    (hdr,) = chain.headers
    rh2 = hdr.decoded
    assert isinstance(rh2, Type2RoutingHeader)
    assert (rh2.next_header, rh2.segments_left, rh2.reserved, rh2.home_address) == (17, 1, 0, HOA)
    assert rh2.build() == hdr.data and chain.anomalies == ()
    # ... and the home address as final destination (RFC 2460 sec. 8.1)
    assert _udp_checksum_ok(pkt) == (True, False)


def test_zeek_round_trip() -> None:
    for path in sorted(ZEEK.glob("mip6*.pcap")):
        (pkt,) = packets(path)
        chain = walk_ipv6(pkt)
        raw = pkt[chain.upper_offset : chain.payload_end]
        assert parse_mh(raw).build() == raw, path.name


FUZZ = [
    *sorted(TCPDUMP.glob("mobility_opt_asan*.pcap")),
    TCPDUMP / "ipv6-mobility-header-oobr.pcap",
    TCPDUMP / "icmp6_mobileprefix_asan.pcap",
]


@pytest.mark.parametrize("path", FUZZ, ids=lambda p: p.name)
def test_tcpdump_fuzz_cases_fail_cleanly(path: Path) -> None:
    outcomes = []
    for pkt in packets(path):
        try:
            chain = walk_ipv6(pkt)
        except DecodeError:
            outcomes.append("decode-error")
            continue
        upper = pkt[chain.upper_offset :]
        try:
            if chain.upper_proto in MH_PROTOS:
                m = parse_mh(upper, src=chain.src, dst=chain.dst)
                outcomes.append(f"anomalies:{[a.code for a in m.anomalies]}")
            elif chain.upper_proto == 58:
                RouterAdvertisement.parse(upper)
                outcomes.append("ra")
        except DecodeError:
            outcomes.append("decode-error")
        # the option area as far as it was captured: options must also fail cleanly
        if len(upper) > 6:
            with contextlib.suppress(DecodeError):
                read_options(Reader(upper[6:]))
    assert outcomes
    # these files are truncated captures: nothing decodes without complaint
    assert "anomalies:[]" not in outcomes


def test_mobility_opt_asan_are_truncated_bus() -> None:
    (pkt, _) = packets(TCPDUMP / "mobility_opt_asan.pcap")
    chain = walk_ipv6(pkt)
    upper = pkt[chain.upper_offset :]
    assert chain.upper_proto == 62 and upper[2] == 5  # a Binding Update over protocol 62
    with pytest.raises(DecodeError) as exc:
        parse_mh(upper)
    assert exc.value.offset == 6  # Header Len 19 says 160 bytes, 46 were captured
