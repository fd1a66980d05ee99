"""Byte-exact vectors for the mobility options (Type | Length | data), from the RFC layouts."""

from __future__ import annotations

import ipaddress

import pytest

from dissectors.core import Reader
from dissectors.mip6 import options as o
from dissectors.mip6.mh import BindingUpdate, parse_mh, suggest_dialect
from tests.support.hexvec import h

A = ipaddress.IPv6Address
V4 = ipaddress.IPv4Address
P = "20010db8000000000000000000000001"  # 2001:db8::1

VECTORS: list[tuple[str, str, o.MobilityOption]] = [
    # name, hex (type | length | data), value
    ("pad1", "00", o.Pad1()),
    ("padn", "01 03 000000", o.PadN(padding=bytes(3))),
    ("bra", "02 02 0096", o.BindingRefreshAdvice(refresh_interval=150)),
    ("acoa", "03 10" + P, o.AlternateCareOfAddress(address=A("2001:db8::1"))),
    ("ni", "04 04 0001 0002", o.NonceIndices(home_nonce_index=1, care_of_nonce_index=2)),
    ("bad", "05 04 deadbeef", o.BindingAuthorizationData(authenticator=bytes.fromhex("deadbeef"))),
    # reserved | prefix length 48 | prefix
    ("mnp", "06 12 00 30" + P, o.MobileNetworkPrefix(prefix_length=48, prefix=A("2001:db8::1"))),
    # option code 2 | MAC
    (
        "lla",
        "07 07 02 020000000001",
        o.LinkLayerAddress(option_code=2, link_layer_address=bytes.fromhex("020000000001")),
    ),
    # subtype 1 (NAI) | "a@b"
    ("mnid", "08 04 01 614062", o.MobileNodeIdentifier(subtype=1, identifier=b"a@b")),
    # subtype 3 | SPI 7 | auth data
    (
        "auth",
        "09 07 03 00000007 abcd",
        o.Authentication(subtype=3, mobility_spi=7, authentication_data=b"\xab\xcd"),
    ),
    ("mesgid", "0a 08 0000000100000002", o.MessageIdentifier(timestamp=(1 << 32) | 2)),
    ("cgapr", "0b 00", o.CgaParametersRequest()),
    ("cgar", "0c 02 1122", o.CgaParameters(cga_parameters=b"\x11\x22")),
    ("sign", "0d 01 33", o.Signature(signature=b"\x33")),
    ("phkt", "0e 02 4455", o.PermanentHomeKeygenToken(token=b"\x44\x55")),
    ("mocoti", "0f 00", o.CareOfTestInitOption()),
    (
        "mocot",
        "10 08 0102030405060708",
        o.CareOfTestOption(care_of_keygen_token=bytes(range(1, 9))),
    ),
    # status 0 | R + reserved | FQDN
    ("dnsu", "11 05 00 80 6d6e31", o.DnsUpdate(status=0, r=True, mn_identity=b"mn1")),
    ("em", "12 01 99", o.ExperimentalOption(data=b"\x99")),
    # vendor 10415 | subtype 2 | data
    ("vsm", "13 06 000028af 02 07", o.VendorSpecific(vendor_id=10415, subtype=2, data=b"\x07")),
    ("ssm", "14 03 617061", o.ServiceSelection(identifier=b"apa")),
    ("badff", "15 05 00000009 aa", o.FmipAuthorizationData(spi=9, authenticator=b"\xaa")),
    ("hnp", "16 12 00 40" + P, o.HomeNetworkPrefix(prefix_length=64, prefix=A("2001:db8::1"))),
    ("hi", "17 02 00 03", o.HandoffIndicator(handoff_indicator=3)),
    ("att", "18 02 00 04", o.AccessTechnologyType(access_technology_type=4)),
    (
        "mnlli",
        "19 08 0000 020000000001",
        o.MobileNodeLinkLayerIdentifier(link_layer_identifier=bytes.fromhex("020000000001")),
    ),
    ("lla26", "1a 10 fe800000000000000000000000000001", o.LinkLocalAddress(address=A("fe80::1"))),
    ("ts", "1b 08 000065536a00 8000", o.Timestamp(timestamp=0x000065536A008000)),
    ("rc", "1c 04 00000005", o.RestartCounter(restart_counter=5)),
    # prefix-len 24 (6 bits) | P | 9 reserved: 0110 00 1 0 0000 0000 = 0x6200 | 192.0.2.1
    (
        "ipv4ha",
        "1d 06 6200 c0000201",
        o.IPv4HomeAddress(prefix_length=24, p=True, address=V4("192.0.2.1")),
    ),
    # status 0 | prefix-len 24 << 2 = 0x60 | address
    (
        "ipv4aa",
        "1e 06 00 60 c0000201",
        o.IPv4AddressAcknowledgement(status=0, prefix_length=24, address=V4("192.0.2.1")),
    ),
    # F | reserved | refresh time 110 s
    ("natd", "1f 06 8000 0000006e", o.NatDetection(f=True, refresh_time=110)),
    ("ipv4coa", "20 06 0000 c0000202", o.IPv4CareOfAddress(address=V4("192.0.2.2"))),
    ("grek", "21 06 0000 0000abcd", o.GreKey(gre_key=0xABCD)),
    ("grek.nokey", "21 02 0000", o.GreKey()),
    # option code 1 | prefix length 64 | address
    (
        "mhipv6ap",
        "22 12 01 40" + P,
        o.MhIpv6AddressPrefix(option_code=1, prefix_length=64, address=A("2001:db8::1")),
    ),
    # BID 5 | status 0 | H + reserved | (no CoA)
    ("bi", "23 04 0005 00 80", o.BindingIdentifier(bid=5, h=True)),
    (
        "bi.v4",
        "23 08 0005 00 00 c0000201",
        o.BindingIdentifier(bid=5, care_of_address_raw=V4("192.0.2.1").packed),
    ),
    # prefix-len 32 << 10 = 0x8000 | address 0 (LMA allocates)
    ("ipv4hareq", "24 06 8000 00000000", o.IPv4HomeAddressRequest(prefix_length=32)),
    (
        "ipv4harep",
        "25 06 00 80 c0000201",
        o.IPv4HomeAddressReply(status=0, prefix_length=32, address=V4("192.0.2.1")),
    ),
    ("ipv4dra", "26 06 0000 c0000201", o.IPv4DefaultRouterAddress(address=V4("192.0.2.1"))),
    ("ipv4dsm", "27 02 0001", o.IPv4DhcpSupportMode(s=True)),
    # reserved | req (type 22, len 0) | req (type 8, len 1, 'x')
    (
        "cr",
        "28 07 0000 1600 0801 78",
        o.ContextRequest(requests_raw=bytes.fromhex("1600080178")),
    ),
    # option code 2 (IPv4) | reserved | address
    (
        "lmaa",
        "29 06 02 00 c0000201",
        o.LmaAddress(option_code=2, address_raw=bytes([192, 0, 2, 1])),
    ),
    # reserved | interface identifier
    (
        "mnllii",
        "2a 0a 0000 021122fffe334455",
        o.MnLinkLocalInterfaceIdentifier(interface_identifier=bytes.fromhex("021122fffe334455")),
    ),
    # reserved (7) + L | lifetime
    ("tb", "2b 02 01 0a", o.TransientBinding(l=True, lifetime=10)),
    ("fs", "2c 04 0001 0002", o.FlowSummary(flow_identifiers=(1, 2))),
    # FID 1 | FID-PRI 2 | reserved | status 0 | (no sub-options)
    ("fi", "2d 06 0001 0002 00 00", o.FlowIdentification(fid=1, fid_priority=2)),
    ("recap", "2e 02 0000", o.RedirectCapability()),
    # N only | IPv4 r2LMA
    ("redir", "2f 06 4000 c0000201", o.Redirect(n=True, r2lma_ipv4=V4("192.0.2.1"))),
    (
        "load_inf",
        "30 12 0001 00000002 00000003 00000004 00000005",
        o.LoadInformation(
            priority=1, sessions_in_use=2, maximum_sessions=3, used_capacity=4, maximum_capacity=5
        ),
    ),
    ("alt_ip4", "31 04 c0000201", o.AlternateIPv4CareOfAddress(address=V4("192.0.2.1"))),
    ("mng", "32 06 01 00 0000002a", o.MobileNodeGroupIdentifier(subtype=1, group_identifier=42)),
    # reserved | address length 128 | address
    ("mag_ipv6", "33 12 00 80" + P, o.MagIpv6Address(address=A("2001:db8::1"))),
    # ANI type 1, len 4: E + reserved | net-name len 1 | "w" | AP-name len 0
    (
        "ani",
        "34 06 01 04 80 01 77 00",
        o.AccessNetworkIdentifier(sub_options_raw=bytes.fromhex("0104800177 00".replace(" ", ""))),
    ),
    # V | prefix length 24 | IPv4 prefix
    (
        "dmnp",
        "37 06 80 18 c0000200",
        o.DelegatedMobileNetworkPrefix(v=True, prefix_length=24, prefix_raw=bytes([192, 0, 2, 0])),
    ),
]


@pytest.mark.parametrize(("name", "hexdata", "value"), VECTORS, ids=[v[0] for v in VECTORS])
def test_vector(name: str, hexdata: str, value: o.MobilityOption) -> None:
    raw = h(hexdata)
    got = o.MobilityOption.parse(raw)
    assert got == value
    assert got.anomalies == ()
    assert got.build() == raw
    assert value.build() == raw
    if not isinstance(got, o.Pad1):
        assert got.opt_type == raw[0]


def test_every_registered_type_has_a_vector() -> None:
    covered = {h(v[1])[0] for v in VECTORS}
    assert set(o.OPTION_TYPES) <= covered


def test_derived_properties() -> None:
    assert o.BindingRefreshAdvice(refresh_interval=150).refresh_interval_seconds == 600
    assert o.MobileNodeIdentifier(identifier=b"a@b").nai == "a@b"
    assert o.BindingIdentifier(care_of_address_raw=bytes(4)).care_of_address == V4("0.0.0.0")
    assert o.ContextRequest(requests_raw=bytes.fromhex("1600080178")).requests == (
        (22, b""),
        (8, b"x"),
    )
    ani = o.AccessNetworkIdentifier(sub_options_raw=bytes.fromhex("010480017700"))
    assert ani.network_identifier == (True, b"w", b"")
    dmnp = o.DelegatedMobileNetworkPrefix(prefix_raw=A("2001:db8::").packed)
    assert dmnp.prefix == A("2001:db8::")


@pytest.mark.parametrize(
    ("hexdata", "code"),
    [
        ("17 03 000102", "mip6.opt.len.invalid"),  # HI must have Length 2
        ("03 04 00000000", "mip6.opt.len.invalid"),  # ACoA must have Length 16
        ("08 01 01", "mip6.opt.len.invalid"),  # MN-ID needs >= 2
        ("21 04 00000000", "mip6.opt.len.invalid"),  # GRE key: 2 or 6
        ("23 06 000000000000", "mip6.opt.len.invalid"),  # BI: 4, 8 or 20
        ("2f 06 c000 00000000", "mip6.opt.len.invalid"),  # Redirect K+N needs 22
        ("37 08 00 40 0000000000", "mip6.opt.len.invalid"),  # DMNP: 6 or 18
        ("3c 02 abcd", "mip6.opt.unknown"),  # type 60: not decoded
        ("35 02 0000", "mip6.opt.unknown"),  # 53: unverified layout, kept raw
        ("2c 03 000102", "mip6.opt.len.invalid"),  # Flow Summary: even length
    ],
)
def test_bad_length_and_unknown_are_raw(hexdata: str, code: str) -> None:
    raw = h(hexdata)
    got = o.MobilityOption.parse(raw)
    assert isinstance(got, o.RawOption)
    assert (got.type_value, got.data) == (raw[0], raw[2:])
    assert [a.code for a in got.anomalies] == [code]
    assert got.build() == raw


def test_length_past_the_header_is_kept_with_its_length() -> None:
    raw = bytes.fromhex("1705 0001")  # Length 5 but 2 bytes left
    r = Reader(raw)
    (opt,) = o.read_options(r)
    assert isinstance(opt, o.RawOption) and opt.length == 5 and opt.data == b"\x00\x01"
    assert [a.code for a in r.anomalies] == ["mip6.opt.len.invalid"]
    assert opt.build() == raw


def test_binding_cache_confirmation_is_configurable() -> None:
    msg = BindingUpdate(
        sequence=1,
        a=True,
        h=True,
        p=True,
        options=(o.BindingCacheConfirmation(type_value=200),),
    ).padded()
    raw = msg.build()
    plain = parse_mh(raw)
    assert isinstance(plain.options[0], o.RawOption)
    assert [a.code for a in plain.anomalies] == ["mip6.opt.unknown"]
    configured = parse_mh(raw, bcc_type=200)
    assert configured.options[0] == o.BindingCacheConfirmation(type_value=200)
    assert configured.anomalies == () and suggest_dialect(configured) == "pd-2005"
    assert suggest_dialect(plain) == "rfc5213"
    bad = BindingUpdate(options=(o.BindingCacheConfirmation(type_value=200, data=b"xyzw"),))
    parsed = parse_mh(bad.padded().build(), bcc_type=200)
    assert [a.code for a in parsed.anomalies] == ["pmip.bcc.bad_length"]
    assert parsed.build() == bad.padded().build()
