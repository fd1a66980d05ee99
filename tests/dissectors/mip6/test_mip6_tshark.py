"""Differential test against tshark: every MH type, BU/BA flag, mobility option and the MAP option.

Each case is built with our codecs, wrapped in IPv6 (dpkt, independent of the code under test)
and decoded by one tshark run. For every case, :func:`expected_fields` maps our decoded value to
the tshark fields it should show; the two dicts are compared over all ``mip6.*`` /
``icmpv6.opt.map.*`` fields (plus the Wireshark expert fields our anomalies name). Every field
where tshark differs must be listed in :data:`KNOWN_DIFFERENCES` with our value, tshark's value
and the reason; the test asserts that tshark shows exactly that difference.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from dataclasses import replace

import pytest

from dissectors.mip6 import mh
from dissectors.mip6 import options as o
from dissectors.mip6.mh import MobilityMessage, parse_mh
from dissectors.mip6.nd import MapOption, PrefixInformation, RouterAdvertisement
from tests.support.tshark import decode, ip_frame, requires_tshark, tshark_fields_of

pytestmark = [requires_tshark, pytest.mark.tshark]

S, D = "2001:db8::1", "2001:db8::2"
RS, RD = "fe80::1", "ff02::1"
A1 = ipaddress.IPv6Address("2001:db8:1::10")
A2 = ipaddress.IPv6Address("2001:db8:2::20")
V4 = ipaddress.IPv4Address("192.0.2.7")

Fields = dict[str, list[str]]


def b(v: bool) -> str:
    return "1" if v else "0"


def hx(v: int, width: int) -> str:
    return f"0x{v:0{width}x}"


def abs_time(seconds: int, nanoseconds: int) -> str:
    t = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return t.strftime("%b %d, %Y %H:%M:%S") + f".{nanoseconds:09d} UTC"


def add(out: Fields, name: str, *values: str) -> None:
    out.setdefault(name, []).extend(values)


# -- our value -> tshark fields -------------------------------------------------------------


def option_fields(opt: o.MobilityOption, out: Fields) -> None:
    if isinstance(opt, o.Pad1):
        return
    add(out, "mip6.mobility_opt.len", str(len(opt.build()) - 2))
    t = opt.opt_type
    if isinstance(opt, o.RawOption | o.BindingCacheConfirmation):
        if t not in o.OPTION_TYPES:  # tshark shows the type field only for undecoded types
            add(out, "mip6.mobility_opt", str(t))
        return
    match opt:
        case o.PadN() if opt.padding:
            add(out, "mip6.padn", opt.padding.hex())
        case o.BindingRefreshAdvice():
            add(out, "mip6.bra.interval", str(opt.refresh_interval))
        case o.AlternateCareOfAddress():
            add(out, "mip6.acoa.acoa", str(opt.address))
        case o.NonceIndices():
            add(out, "mip6.ni.hni", str(opt.home_nonce_index))
            add(out, "mip6.ni.cni", str(opt.care_of_nonce_index))
        case o.BindingAuthorizationData():
            add(out, "mip6.bad.auth", opt.authenticator.hex())
        case o.MobileNetworkPrefix() | o.HomeNetworkPrefix():
            add(out, "mip6.nemo.mnp.pfl", str(opt.prefix_length))
            add(out, "mip6.nemo.mnp.mnp", str(opt.prefix))
        case o.LinkLayerAddress():
            add(out, "mip6.lla.optcode", str(opt.option_code))
            if opt.link_layer_address:
                add(out, "mip6.lla", opt.link_layer_address.hex(":"))
        case o.MobileNodeIdentifier():
            add(out, "mip6.mnid.subtype", str(opt.subtype))
            add(out, "mip6.mnid.identifier", opt.identifier.decode())
        case o.Authentication():
            add(out, "mip6.auth.subtype", str(opt.subtype))
            add(out, "mip6.auth.mobility_spi", str(opt.mobility_spi))
            add(out, "mip6.auth.auth_data", opt.authentication_data.hex())
        case o.MessageIdentifier():
            add(out, "mip6.mseg_id.timestamp", abs_time(opt.timestamp >> 32, opt.timestamp % 2**32))
        case o.CgaParameters():
            add(out, "mip6.cgar.cga_par", opt.cga_parameters.hex())
        case o.Signature():
            add(out, "mip6.sign.sign", opt.signature.hex())
        case o.PermanentHomeKeygenToken():
            add(out, "mip6.phkt.phkt", opt.token.hex())
        case o.CareOfTestOption():
            add(out, "mip6.mocot.co_keygen_tok", opt.care_of_keygen_token.hex())
        case o.DnsUpdate():
            add(out, "mip6.dnsu.status", str(opt.status))
            add(out, "mip6.dnsu.flag.r", b(opt.r))
            add(out, "mip6.dnsu.mn_id", opt.mn_identity.hex())
        case o.ExperimentalOption():
            add(out, "mip6.em.data", opt.data.hex())
        case o.VendorSpecific():
            add(out, "mip6.vsm.vendorId", str(opt.vendor_id))
            add(out, "mip6.vsm.subtype", str(opt.subtype))
            if opt.data:
                add(out, "mip6.vsm.data", opt.data.hex())
        case o.ServiceSelection():
            add(out, "mip6.ss.identifier", opt.identifier.decode())
        case o.FmipAuthorizationData():
            add(out, "mip6.badff.spi", str(opt.spi))
            add(out, "mip6.badff.auth", opt.authenticator.hex())
        case o.HandoffIndicator():
            add(out, "mip6.hi.reserved", str(opt.reserved))
            add(out, "mip6.hi", str(opt.handoff_indicator))
        case o.AccessTechnologyType():
            add(out, "mip6.att.reserved", str(opt.reserved))
            add(out, "mip6.att", str(opt.access_technology_type))
        case o.MobileNodeLinkLayerIdentifier():
            add(out, "mip6.mnlli.reserved", str(opt.reserved))
            add(out, "mip6.mnlli.lli", opt.link_layer_identifier.hex())
        case o.LinkLocalAddress():
            add(out, "mip6.lila_lla", str(opt.address))
        case o.Timestamp():
            add(out, "mip6.timestamp_tmp", abs_time(opt.seconds, opt.fraction * 10**9 // 65536))
        case o.RestartCounter():
            add(out, "mip6.rc", str(opt.restart_counter))
        case o.IPv4HomeAddress():
            add(out, "mip6.ipv4ha.preflen", str(opt.prefix_length))
            add(out, "mip6.ipv4ha.p_flag", b(opt.p))
            add(out, "mip6.ipv4ha.ha", str(opt.address))
        case o.IPv4AddressAcknowledgement() | o.IPv4HomeAddressReply():
            add(out, "mip6.ipv4aa.sts", str(opt.status))
            add(out, "mip6.ipv4ha.preflen", str(opt.prefix_length))
            add(out, "mip6.ipv4ha.ha", str(opt.address))
        case o.NatDetection():
            add(out, "mip6.natd.f_flag", b(opt.f))
            add(out, "mip6.natd.reserved", str(opt.reserved))
            add(out, "mip6.natd.refresh_t", str(opt.refresh_time))
        case o.IPv4CareOfAddress():
            add(out, "mip6.ipv4coa.reserved", str(opt.reserved))
            add(out, "mip6.ipv4coa.addr", str(opt.address))
        case o.GreKey():
            add(out, "mip6.ipv4dra.reserved", str(opt.reserved))
            if opt.gre_key is not None:
                add(out, "mip6.gre_key", str(opt.gre_key))
        case o.MhIpv6AddressPrefix():
            add(out, "mip6.mhipv6ap.opt_code", str(opt.option_code))
            add(out, "mip6.mhipv6ap.len", str(opt.prefix_length))
            add(out, "mip6.mhipv6ap.ipv6_address", str(opt.address))
            # generated field: the value is the address, "/len" is only appended to the label
            add(out, "mip6.mhipv6ap.ipv6_address_prefix", str(opt.address))
        case o.BindingIdentifier():
            add(out, "mip6.bi.bid", str(opt.bid))
            add(out, "mip6.bi.status", str(opt.status))
            add(out, "mip6.bi.h_flag", b(opt.h))
            coa = opt.care_of_address
            if coa is not None:
                add(out, f"mip6.bi.coa_ipv{coa.version}", str(coa))
        case o.IPv4HomeAddressRequest():
            add(out, "mip6.ipv4ha.preflen", str(opt.prefix_length))
            add(out, "mip6.ipv4ha.reserved", hx(opt.reserved & 0xFF, 2))  # tshark: 2nd byte
            add(out, "mip6.ipv4ha.ha", str(opt.address))
        case o.IPv4DefaultRouterAddress():
            add(out, "mip6.ipv4dra.reserved", str(opt.reserved))
            add(out, "mip6.ipv4dra.dra", str(opt.address))
        case o.IPv4DhcpSupportMode():
            add(out, "mip6.ipv4dsm.reserved", str(opt.reserved))
            add(out, "mip6.ipv4dsm.s_flag", b(opt.s))
        case o.ContextRequest():
            add(out, "mip6.cr.reserved", str(opt.reserved))
            for req_type, data in opt.requests:
                add(out, "mip6.cr.req_type", str(req_type))
                add(out, "mip6.cr.req_length", str(len(data)))
                if data:
                    add(out, "mip6.vsm.req_data", data.hex())
        case o.LmaAddress():
            add(out, "mip6.lmaa.opt_code", str(opt.option_code))
            add(out, "mip6.lmaa.reserved", str(opt.reserved))
            addr = opt.address
            if addr is not None:
                add(out, f"mip6.lmaa.ipv{addr.version}", str(addr))
        case o.RedirectCapability():
            add(out, "mip6.recap.reserved", hx(opt.reserved, 4))
        case o.Redirect():
            add(out, "mip6.redir.k", b(opt.k))
            add(out, "mip6.redir.n", b(opt.n))
            add(out, "mip6.redir.reserved", hx(opt.reserved, 4))
            if opt.r2lma_ipv6 is not None:
                add(out, "mip6.redir.addr_r2lma_ipv6", str(opt.r2lma_ipv6))
            if opt.r2lma_ipv4 is not None:
                add(out, "mip6.redir.addr_r2lma_ipv4", str(opt.r2lma_ipv4))
        case o.LoadInformation():
            for name in (
                "priority",
                "sessions_in_use",
                "maximum_sessions",
                "used_capacity",
                "maximum_capacity",
            ):
                add(out, f"mip6.load_inf.{name}", str(getattr(opt, name)))
        case o.AlternateIPv4CareOfAddress():
            add(out, "mip6.alt_ip4", str(opt.address))
        case o.MobileNodeGroupIdentifier():
            add(out, "mip6.mng.sub_type", str(opt.subtype))
            add(out, "mip6.mng.reserved", str(opt.reserved))
            add(out, "mip6.mng.mng_id", str(opt.group_identifier))
        case o.MagIpv6Address():
            add(out, "mip6.mag_ipv6.reserved", hx(opt.reserved, 2))
            add(out, "mip6.mag_ipv6.address_length", str(opt.address_length))
            add(out, "mip6.mag_ipv6.address", str(opt.address))
        case o.AccessNetworkIdentifier():
            add(out, "mip6.acc_net_id", *["1"] * len(opt.sub_options))
            for ani_type, data in opt.sub_options:
                add(out, "mip6.acc_net_id.ani", str(ani_type))
                add(out, "mip6.acc_net_id.sub_opt_len", str(len(data)))
            ni = opt.network_identifier
            if ni is not None:
                e, name, ap = ni
                add(out, "mip6.acc_net_id.e_bit", b(e))
                add(out, "mip6.acc_net_id.net_name_len", str(len(name)))
                add(out, "mip6.acc_net_id.net_name", name.decode())
                add(out, "mip6.acc_net_id.ap_name_len", str(len(ap)))
                add(out, "mip6.acc_net_id.ap_name", ap.decode())
        case o.DelegatedMobileNetworkPrefix():
            add(out, "mip6.dmnp.v_flag", b(opt.v))
            add(out, "mip6.dmnp.reserved", str(opt.reserved))
            add(out, "mip6.dmnp.prefix_len", str(opt.prefix_length))
            prefix = opt.prefix
            if prefix is not None:
                add(out, f"mip6.dmnp.dmnp_ipv{prefix.version}", str(prefix))


def message_fields(m: MobilityMessage, raw: bytes) -> Fields:
    out: Fields = {}
    add(out, "mip6.proto", str(m.payload_proto))
    add(out, "mip6.hlen", str(raw[1]))
    add(out, "mip6.mhtype", str(m.mh_type))
    add(out, "mip6.reserved", hx(m.header_reserved, 2))
    add(out, "mip6.csum", hx(int.from_bytes(raw[4:6], "big"), 4))
    match m:
        case mh.BindingRefreshRequest():
            add(out, "mip6.binding_refresh_request", m.reserved.to_bytes(2, "big").hex())
        case mh.HomeTestInit():
            add(out, "mip6.hoti.cookie", hx(m.home_init_cookie, 16))
        case mh.CareOfTestInit():
            add(out, "mip6.coti.cookie", hx(m.care_of_init_cookie, 16))
        case mh.HomeTest():
            add(out, "mip6.hot.nindex", str(m.home_nonce_index))
            add(out, "mip6.hot.cookie", hx(m.home_init_cookie, 16))
            add(out, "mip6.hot.token", hx(m.home_keygen_token, 16))
        case mh.CareOfTest():
            add(out, "mip6.cot.nindex", str(m.care_of_nonce_index))
            add(out, "mip6.cot.cookie", hx(m.care_of_init_cookie, 16))
            add(out, "mip6.hot.token", hx(m.care_of_keygen_token, 16))  # tshark's field
        case mh.BindingUpdate():
            add(out, "mip6.bu.seqnr", str(m.sequence))
            for flag in "ahlkmpftb":
                add(out, f"mip6.bu.{flag}_flag", b(getattr(m, flag)))
            add(out, "mip6.nemo.bu.r_flag", b(m.r))
            add(out, "mip6.bu.lifetime", str(m.lifetime))
        case mh.BindingAck():
            add(out, "mip6.ba.status", str(m.status))
            for flag in "kptb":
                add(out, f"mip6.ba.{flag}_flag", b(getattr(m, flag)))
            add(out, "mip6.nemo.ba.r_flag", b(m.r))
            add(out, "mip6.ba.seqnr", str(m.sequence))
            add(out, "mip6.ba.lifetime", str(m.lifetime))
        case mh.BindingError():
            add(out, "mip6.be.status", str(m.status))
            add(out, "mip6.be.haddr", str(m.home_address))
        case mh.FastBindingUpdate():
            add(out, "mip6.fbu.seqnr", str(m.sequence))
            for flag in "ahlk":
                add(out, f"mip6.fbu.{flag}_flag", b(getattr(m, flag)))
            add(out, "mip6.fbu.lifetime", str(m.lifetime))
        case mh.FastBindingAck():
            add(out, "mip6.fback.status", str(m.status))
            add(out, "mip6.fback.k_flag", b(m.k))
            add(out, "mip6.fback.seqnr", str(m.sequence))
            add(out, "mip6.fback.lifetime", str(m.lifetime))
        case mh.FastNeighborAdvertisement():
            add(out, "mip6.fast_neighbor_advertisement", m.reserved.to_bytes(2, "big").hex())
        case mh.ExperimentalMessage():
            if len(raw) > 8:
                add(out, "mip6.em.data", m.data.hex())
        case mh.HomeAgentSwitch():
            add(out, "mip6.has.num_addrs", str(len(m.home_agent_addresses)))
            add(out, "mip6.has.reserved", hx(m.reserved, 2))
            add(out, "mip6.has.address", *map(str, m.home_agent_addresses))
        case mh.Heartbeat():
            add(out, "mip6.hb.u_flag", b(m.u))
            add(out, "mip6.hb.r_flag", b(m.r))
            add(out, "mip6.hb.seqnr", str(m.sequence))
        case mh.HandoverInitiate():
            add(out, "mip6.hi.seqnr", str(m.sequence))
            add(out, "mip6.hi.s_flag", b(m.s))
            add(out, "mip6.hi.u_flag", b(m.u))
            add(out, "mip6.hi.code", str(m.code))
        case mh.HandoverAck():
            add(out, "mip6.hack.seqnr", str(m.sequence))
            add(out, "mip6.hack.code", str(m.code))
        case mh.BindingRevocation():
            add(out, "mip6.bri_br.type", str(m.br_type))
            if m.br_type in (1, 2):
                kind = "i" if m.br_type == 1 else "a"
                if m.br_type == 1:
                    add(out, "mip6.bri_r.trigger", str(m.trigger_or_status))
                else:
                    add(out, "mip6.bri_status", str(m.trigger_or_status))
                add(out, "mip6.bri_seqnr", str(m.sequence))
                add(out, f"mip6.bri_{kind}p", b(m.p))
                add(out, f"mip6.bri_{kind}v", b(m.v))
                add(out, f"mip6.bri_{kind}g", b(m.g))
                add(out, "mip6.bri_res", hx(m.reserved, 4))
        case mh.LocalizedRoutingInitiation():
            add(out, "mip6.lri.sequence", str(m.sequence))
            add(out, "mip6.lri.reserved", hx(m.reserved, 4))
            add(out, "mip6.lri.lifetime", hx(m.lifetime, 4))
        case mh.LocalizedRoutingAck():
            add(out, "mip6.lra.sequence", str(m.sequence))
            add(out, "mip6.lri.unsolicited", b(m.u))
            add(out, "mip6.lra.reserved", hx(m.reserved, 2))
            add(out, "mip6.lra.status", str(m.status))
            add(out, "mip6.lra.lifetime", hx(m.lifetime, 4))
        case mh.UnknownMessage():
            add(out, "mip6.unknown_type_data", m.data.hex())
    for opt in m.options:
        option_fields(opt, out)
    return out


def expert_fields(value: object, out: Fields) -> None:
    """Our anomalies that mirror a Wireshark expert, as the tshark expert field."""
    from dissectors.core import ANOMALY_CODES

    for a in value.anomalies:  # type: ignore[attr-defined]
        ws = ANOMALY_CODES[a.code].wireshark
        if ws is not None:
            add(out, ws, "1")


def ra_fields(ra: RouterAdvertisement) -> Fields:
    out: Fields = {"icmpv6.checksum.status": ["1"]}
    for opt in ra.map_options:
        add(out, "icmpv6.opt.map.distance", str(opt.dist))
        add(out, "icmpv6.opt.map.preference", str(opt.pref))
        add(out, "icmpv6.opt.map.flag", hx(opt.r << 7 | opt.reserved, 2))
        add(out, "icmpv6.opt.map.flag.r", b(opt.r))
        add(out, "icmpv6.opt.map.flag.reserved", str(opt.reserved))
        add(out, "icmpv6.opt.map.valid_lifetime", str(opt.valid_lifetime))
        add(out, "icmpv6.opt.map.global_address", str(opt.map_address))
    return out


# -- the cases ------------------------------------------------------------------------------

BU_FLAGS = "ahlkmrpftb"
BA_FLAGS = "krptb"


def option_cases() -> dict[str, o.MobilityOption]:
    return {
        "opt.pad1": o.Pad1(),
        "opt.padn": o.PadN(padding=bytes(4)),
        "opt.bra": o.BindingRefreshAdvice(refresh_interval=150),
        "opt.acoa": o.AlternateCareOfAddress(address=A1),
        "opt.ni": o.NonceIndices(home_nonce_index=3, care_of_nonce_index=4),
        "opt.bad": o.BindingAuthorizationData(authenticator=bytes(range(12))),
        "opt.mnp": o.MobileNetworkPrefix(prefix_length=48, prefix=A2),
        "opt.lla": o.LinkLayerAddress(
            option_code=2, link_layer_address=bytes.fromhex("020000000001")
        ),
        "opt.mnid": o.MobileNodeIdentifier(subtype=1, identifier=b"mn1@example.net"),
        "opt.auth": o.Authentication(subtype=3, mobility_spi=77, authentication_data=bytes(12)),
        "opt.mesgid": o.MessageIdentifier(timestamp=(1_700_000_000 << 32) | 250_000_000),
        "opt.cgapr": o.CgaParametersRequest(),
        "opt.cgar": o.CgaParameters(cga_parameters=b"\x11" * 9),
        "opt.sign": o.Signature(signature=b"\x22" * 7),
        "opt.phkt": o.PermanentHomeKeygenToken(token=b"\x33" * 8),
        "opt.mocoti": o.CareOfTestInitOption(),
        "opt.mocot": o.CareOfTestOption(care_of_keygen_token=b"\x44" * 8),
        "opt.dnsu": o.DnsUpdate(status=128, r=True, mn_identity=b"mn.example.org"),
        "opt.em": o.ExperimentalOption(data=b"\x55\x66\x77"),
        "opt.vsm": o.VendorSpecific(vendor_id=9, subtype=3, data=b"abcdef"),
        "opt.ssm": o.ServiceSelection(identifier=b"internet"),
        "opt.badff": o.FmipAuthorizationData(spi=99, authenticator=b"\x66" * 12),
        "opt.hnp": o.HomeNetworkPrefix(prefix_length=64, prefix=A1),
        "opt.hi": o.HandoffIndicator(handoff_indicator=3),
        "opt.att": o.AccessTechnologyType(access_technology_type=4),
        "opt.mnlli": o.MobileNodeLinkLayerIdentifier(
            link_layer_identifier=bytes.fromhex("0200005e0001")
        ),
        "opt.lla26": o.LinkLocalAddress(address=ipaddress.IPv6Address("fe80::1234")),
        "opt.ts": o.Timestamp(timestamp=(1_700_000_000 << 16) | 16384),
        "opt.rc": o.RestartCounter(restart_counter=12345),
        "opt.ipv4ha": o.IPv4HomeAddress(prefix_length=24, p=True, address=V4),
        "opt.ipv4aa": o.IPv4AddressAcknowledgement(status=0, prefix_length=24, address=V4),
        "opt.natd": o.NatDetection(f=True, refresh_time=110),
        "opt.ipv4coa": o.IPv4CareOfAddress(address=V4),
        "opt.grek": o.GreKey(gre_key=0xABCD),
        "opt.grek.nokey": o.GreKey(),
        "opt.mhipv6ap": o.MhIpv6AddressPrefix(option_code=1, prefix_length=64, address=A2),
        "opt.bi": o.BindingIdentifier(bid=5, status=0, h=True, care_of_address_raw=A1.packed),
        "opt.bi.v4": o.BindingIdentifier(bid=6, status=1, care_of_address_raw=V4.packed),
        "opt.ipv4hareq": o.IPv4HomeAddressRequest(prefix_length=30, address=V4),
        "opt.ipv4harep": o.IPv4HomeAddressReply(status=0, prefix_length=30, address=V4),
        "opt.ipv4dra": o.IPv4DefaultRouterAddress(address=V4),
        "opt.ipv4dsm": o.IPv4DhcpSupportMode(s=True),
        "opt.cr": o.ContextRequest(requests_raw=bytes([22, 0, 8, 2]) + b"xy"),
        "opt.lmaa": o.LmaAddress(option_code=1, address_raw=A2.packed),
        "opt.lmaa.v4": o.LmaAddress(option_code=2, address_raw=V4.packed),
        "opt.mnllii": o.MnLinkLocalInterfaceIdentifier(interface_identifier=bytes(range(8))),
        "opt.tb": o.TransientBinding(l=True, lifetime=10),
        "opt.fs": o.FlowSummary(flow_identifiers=(1, 2, 3)),
        "opt.fi": o.FlowIdentification(fid=1, fid_priority=2, status=0),
        "opt.recap": o.RedirectCapability(),
        "opt.redir": o.Redirect(k=True, n=True, r2lma_ipv6=A1, r2lma_ipv4=V4),
        "opt.load_inf": o.LoadInformation(
            priority=1, sessions_in_use=2, maximum_sessions=3, used_capacity=4, maximum_capacity=5
        ),
        "opt.alt_ip4": o.AlternateIPv4CareOfAddress(address=V4),
        "opt.mng": o.MobileNodeGroupIdentifier(subtype=1, group_identifier=42),
        "opt.mag_ipv6": o.MagIpv6Address(address=A1),
        "opt.ani": o.AccessNetworkIdentifier(
            sub_options_raw=bytes([1, 8, 0x80, 3]) + b"abc" + bytes([2]) + b"ap"
        ),
        "opt.dmnp": o.DelegatedMobileNetworkPrefix(prefix_length=56, prefix_raw=A2.packed),
        "opt.dmnp.v4": o.DelegatedMobileNetworkPrefix(
            v=True, prefix_length=24, prefix_raw=V4.packed
        ),
        "opt.unknown": o.RawOption(type_value=60, data=b"abcd"),
        "opt.hi.badlen": o.RawOption(type_value=23, data=b"\x00\x01\x02"),
        "opt.bcc": o.BindingCacheConfirmation(type_value=200),
    }


BCC_TYPE = 200


def message_cases() -> dict[str, MobilityMessage]:
    pmip_opts = (
        o.MobileNodeIdentifier(subtype=1, identifier=b"mn1@example.net"),
        o.HomeNetworkPrefix(prefix_length=64, prefix=A1),
        o.HandoffIndicator(handoff_indicator=1),
        o.AccessTechnologyType(access_technology_type=3),
        o.Timestamp(timestamp=(1_700_000_000 << 16) | 1),
    )
    cases: dict[str, MobilityMessage] = {
        "brr": mh.BindingRefreshRequest(),
        "hoti": mh.HomeTestInit(home_init_cookie=0x0102030405060708),
        "coti": mh.CareOfTestInit(care_of_init_cookie=0x1112131415161718),
        "hot": mh.HomeTest(home_nonce_index=5, home_init_cookie=1, home_keygen_token=2**64 - 2),
        "cot": mh.CareOfTest(care_of_nonce_index=6, care_of_init_cookie=3, care_of_keygen_token=4),
        "bu": mh.BindingUpdate(sequence=100, a=True, h=True, k=True, lifetime=150),
        "ba": mh.BindingAck(status=0, k=True, sequence=100, lifetime=150),
        "be": mh.BindingError(status=2, home_address=A1),
        "fbu": mh.FastBindingUpdate(sequence=7, a=True, h=True, l=True, k=True, lifetime=3),
        "fback": mh.FastBindingAck(status=1, k=True, sequence=7, lifetime=3),
        "fna": mh.FastNeighborAdvertisement(),
        "emh": mh.ExperimentalMessage(data=b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"),
        "has": mh.HomeAgentSwitch(home_agent_addresses=(A1, A2)),
        "hb": mh.Heartbeat(u=True, r=True, sequence=70000),
        "hi": mh.HandoverInitiate(sequence=9, s=True, u=True, code=1),
        "hack": mh.HandoverAck(sequence=9, code=128),
        "bri": mh.BindingRevocation(br_type=1, trigger_or_status=2, sequence=11, p=True, g=True),
        "bra": mh.BindingRevocation(br_type=2, trigger_or_status=1, sequence=11, p=True, v=True),
        "lri": mh.LocalizedRoutingInitiation(sequence=12, lifetime=300),
        "lra": mh.LocalizedRoutingAck(sequence=12, u=True, status=128, lifetime=300),
        "unknown19": mh.UnknownMessage(type_value=19, data=bytes(10)),
        "pbu": mh.BindingUpdate(
            sequence=1, a=True, h=True, p=True, lifetime=100, options=pmip_opts
        ),
        "pba": mh.BindingAck(status=0, p=True, sequence=1, lifetime=100, options=pmip_opts[:2]),
        "pba.152": mh.BindingAck(status=152, p=True, sequence=2),
        "ba.140": mh.BindingAck(status=140, sequence=3),
        "ba.141": mh.BindingAck(status=141, sequence=3),
        "ba.145": mh.BindingAck(status=145, sequence=3),
        "lbu": mh.BindingUpdate(sequence=3, a=True, m=True, lifetime=60),
        "bu.all": mh.BindingUpdate(sequence=4, **{f: True for f in BU_FLAGS}, reserved=0x3F),
        "ba.all": mh.BindingAck(sequence=4, **{f: True for f in BA_FLAGS}, reserved=7),
        "bad_checksum": mh.BindingError(status=1, home_address=A1, checksum=0x0001),
        "bogus_hlen": mh.BindingUpdate(sequence=5, header_len=0),
        "hdr.reserved": mh.BindingRefreshRequest(header_reserved=0x5A, reserved=0x0102),
    }
    for f in BU_FLAGS:
        cases[f"bu.{f}"] = mh.BindingUpdate(sequence=10, lifetime=1, **{f: True})
    for f in BA_FLAGS:
        cases[f"ba.{f}"] = mh.BindingAck(sequence=10, lifetime=1, **{f: True})
    for name, opt in option_cases().items():
        cases[name] = mh.BindingRefreshRequest(options=(opt,))
    return {k: v.padded() for k, v in cases.items()}


def ra_cases() -> dict[str, RouterAdvertisement]:
    pio = PrefixInformation(prefix_length=64, l=True, a=True, valid_lifetime=86400, prefix=A1)
    return {
        "ra.map": RouterAdvertisement(
            router_lifetime=1800,
            options=(
                pio,
                MapOption(dist=2, pref=7, r=True, valid_lifetime=600, map_address=A2),
            ),
        ),
        "ra.map.two": RouterAdvertisement(
            options=(
                MapOption(dist=1, pref=15, valid_lifetime=0xFFFFFFFF, map_address=A1),
                MapOption(dist=3, pref=0, reserved=0x7F, valid_lifetime=1, map_address=A2),
            )
        ),
        "ra.map.len4": RouterAdvertisement(
            options=(MapOption(dist=1, pref=1, map_address=A1, extra=bytes(8)),)
        ),
        "ra.map.dist0": RouterAdvertisement(options=(MapOption(dist=0, pref=1, map_address=A1),)),
    }


# -- known differences: (case, field) -> (ours, tshark's, reason) ---------------------------

Diff = tuple[list[str] | None, list[str] | None, str]
_OPT_OFF = "tshark 4.0.17 bug: "

KNOWN_DIFFERENCES: dict[tuple[str, str], Diff] = {
    ("bad_checksum", "mip6.bad_checksum"): (
        ["1"],
        None,
        "tshark never verifies the MH checksum (shows mip6.csum only); we verify it",
    ),
    ("bogus_hlen", "mip6.bogus_header_length"): (
        ["1"],
        None,
        "tshark's bogus-header-length check is unreachable (inside `if offset < len`)",
    ),
    ("lri", "mip6.lri.sequence"): (["12"], ["15105"], _OPT_OFF + "LRI read from byte 0, not 6"),
    ("lri", "mip6.lri.reserved"): (["0x0000"], ["0x1100"], _OPT_OFF + "LRI read from byte 0"),
    ("lra", "mip6.lra.sequence"): (["12"], ["15105"], _OPT_OFF + "LRA read from byte 0, not 6"),
    ("lra", "mip6.lri.unsolicited"): (["1"], ["0"], _OPT_OFF + "LRA read from byte 0"),
    ("lra", "mip6.lra.reserved"): (["0x00"], ["0x12"], _OPT_OFF + "LRA read from byte 0"),
    ("lra", "mip6.lra.status"): (["128"], ["0"], _OPT_OFF + "LRA read from byte 0"),
    ("opt.mag_ipv6", "mip6.opt.len.invalid"): (
        None,
        ["1"],
        "tshark's table wants Length 16 for option 51; RFC 6705 sec. 11.1 gives 18 "
        "(Reserved + Address Length + 16)",
    ),
    ("opt.bcc", "mip6.ie_not_dissected"): (
        None,
        ["1"],
        "PD-2005 Binding Cache Confirmation: unassigned type, decoded by us when configured",
    ),
    ("ra.map.len4", "hmip.map.bad_length"): (
        ["1"],
        None,
        "tshark does not check MAP option Length == 3 (RFC 5380 sec. 5)",
    ),
    ("ra.map.dist0", "hmip.map.dist_zero"): (
        ["1"],
        None,
        "tshark does not flag Dist 0 (RFC 5380 sec. 5: must not be 0)",
    ),
}

_SHORT = "tshark 4.0.17 bug: variable-length option data shown 2 bytes short"
for _case, _field, _ours in (
    ("opt.auth", "mip6.auth.auth_data", bytes(12)),
    ("opt.cgar", "mip6.cgar.cga_par", b"\x11" * 9),
    ("opt.sign", "mip6.sign.sign", b"\x22" * 7),
    ("opt.phkt", "mip6.phkt.phkt", b"\x33" * 8),
    ("opt.mocot", "mip6.mocot.co_keygen_tok", b"\x44" * 8),
    ("opt.em", "mip6.em.data", b"\x55\x66\x77"),
    ("opt.badff", "mip6.badff.auth", b"\x66" * 12),
    ("opt.vsm", "mip6.vsm.data", b"abcdef"),
    ("opt.dnsu", "mip6.dnsu.mn_id", b"mn.example.org"),
):
    KNOWN_DIFFERENCES[(_case, _field)] = ([_ours.hex()], [_ours[:-2].hex()], _SHORT)

_LR = (
    "tshark 4.0.17 bug: LRI/LRA fixed fields read from byte 0 (not 6), so the checksum "
    "becomes the Lifetime and the fixed fields are parsed again as options"
)
for _case in ("lri", "lra"):
    _raw = message_cases()[_case].build(S, D)
    KNOWN_DIFFERENCES[(_case, f"mip6.{_case}.lifetime")] = (
        ["0x012c"],
        [hx(int.from_bytes(_raw[4:6], "big"), 4)],
        _LR,
    )
    KNOWN_DIFFERENCES[(_case, "mip6.opt.len.invalid")] = (None, ["1"], _LR)
    KNOWN_DIFFERENCES[(_case, "mip6.padn")] = (["0000"], None, _LR)
KNOWN_DIFFERENCES[("lri", "mip6.mobility_opt.len")] = (["2"], ["0"], _LR)
KNOWN_DIFFERENCES[("lra", "mip6.mobility_opt.len")] = (["2"], None, _LR)
KNOWN_DIFFERENCES[("has", "mip6.opt.len.invalid")] = (
    None,
    ["1"],
    "tshark 4.0.17 bug: HAS options are parsed from the last byte of the last home agent "
    "address (length byte past end of options)",
)
KNOWN_DIFFERENCES[("opt.unknown", "mip6.mobility_opt.len")] = (
    ["4", "0"],
    ["1", "0"],
    "tshark 4.0.17 shows Length 1 for an option type it has no decoder for",
)
KNOWN_DIFFERENCES[("opt.bcc", "mip6.mobility_opt.len")] = (
    ["0", "4"],
    ["1", "4"],
    "tshark 4.0.17 shows Length 1 for an option type it has no decoder for",
)
_BEYOND = "option type tshark 4.0.17 has no decoder for (we decode it): shown as undissected"
for _case, _opt in (("opt.mnllii", 42), ("opt.tb", 43), ("opt.fs", 44), ("opt.fi", 45)):
    _msg = message_cases()[_case]
    _lens = [str(len(x.build()) - 2) for x in _msg.options if not isinstance(x, o.Pad1)]
    KNOWN_DIFFERENCES[(_case, "mip6.mobility_opt")] = (None, [str(_opt)], _BEYOND)
    KNOWN_DIFFERENCES[(_case, "mip6.ie_not_dissected")] = (None, ["1"], _BEYOND)
    _shown = "2" if _opt == 42 else "1"  # not the Length: tshark 4.0.17 shows 1 or 2 here
    KNOWN_DIFFERENCES[(_case, "mip6.mobility_opt.len")] = (_lens, [_shown, *_lens[1:]], _BEYOND)
_BADLEN = "tshark flags the wrong Length but still decodes the fields; we keep the option raw"
KNOWN_DIFFERENCES[("opt.hi.badlen", "mip6.hi")] = (None, ["1"], _BADLEN)
KNOWN_DIFFERENCES[("opt.hi.badlen", "mip6.hi.reserved")] = (None, ["0"], _BADLEN)


def compare(
    name: str, ours: Fields, theirs: Fields, prefixes: tuple[str, ...]
) -> dict[str, tuple[list[str] | None, list[str] | None]]:
    keys = {k for k in ours} | {k for k in theirs if k.startswith(prefixes)}
    out = {}
    for k in sorted(keys):
        a, t = ours.get(k), theirs.get(k)
        if a != t:
            out[k] = (a, t)
    return out


def all_cases() -> list[tuple[str, bytes, Callable[[], Fields]]]:
    out: list[tuple[str, bytes, Callable[[], Fields]]] = []
    for name, msg in message_cases().items():
        raw = msg.build(S, D)
        parsed = parse_mh(raw, src=S, dst=D, bcc_type=BCC_TYPE)

        def fields(parsed: MobilityMessage = parsed, raw: bytes = raw) -> Fields:
            f = message_fields(parsed, raw)
            expert_fields(parsed, f)
            if parsed.checksum_ok is False:  # our own check, no tshark counterpart
                add(f, "mip6.bad_checksum", "1")
            return f

        out.append((name, ip_frame(S, D, 135, raw), fields))
    for name, ra in ra_cases().items():
        raw = ra.build(RS, RD)
        parsed_ra = RouterAdvertisement.parse(raw, src=RS, dst=RD)
        assert parsed_ra.checksum_ok

        def ra_expected(parsed_ra: RouterAdvertisement = parsed_ra) -> Fields:
            f = ra_fields(parsed_ra)
            for a in parsed_ra.anomalies:
                if a.code.startswith("hmip."):
                    add(f, a.code, "1")
            return f

        out.append((name, ip_frame(RS, RD, 58, raw), ra_expected))
    return out


@pytest.fixture(scope="module")
def tshark_results() -> dict[str, tuple[Fields, Fields]]:
    cases = all_cases()
    names = tshark_fields_of(["mip6.", "icmpv6.opt.map.", "icmpv6.checksum.status"])
    decoded = decode([frame for _, frame, _ in cases], names)
    return {
        name: (expected(), got) for (name, _, expected), got in zip(cases, decoded, strict=True)
    }


PREFIXES = ("mip6.", "icmpv6.opt.map.", "icmpv6.checksum.status")


def test_every_case_matches_tshark_or_is_a_known_difference(
    tshark_results: dict[str, tuple[Fields, Fields]],
) -> None:
    problems = []
    seen_known = set()
    for name, (ours, theirs) in tshark_results.items():
        diffs = compare(name, ours, theirs, PREFIXES)
        for fieldname, (a, t) in diffs.items():
            known = KNOWN_DIFFERENCES.get((name, fieldname))
            if known is None and (name, "*") in KNOWN_DIFFERENCES:
                known = KNOWN_DIFFERENCES[(name, "*")]
            if known is None:
                problems.append(f"{name}: {fieldname}: ours={a} tshark={t}")
                continue
            seen_known.add((name, fieldname))
            k_ours, k_tshark, _reason = known
            if k_ours != a or k_tshark != t:
                problems.append(
                    f"{name}: {fieldname}: known difference changed: ours={a} (listed {k_ours}), "
                    f"tshark={t} (listed {k_tshark})"
                )
    missing = set(KNOWN_DIFFERENCES) - seen_known
    assert not problems, "\n".join(problems)
    assert not missing, f"known differences tshark no longer shows: {sorted(missing)}"


def test_all_mh_types_and_flags_are_covered() -> None:
    cases = message_cases()
    types = {m.mh_type for m in cases.values()}
    assert set(range(19)) <= types
    labels = {m.label for m in cases.values()}
    assert {"PBU", "PBA", "LBU", "BU", "BA", "BRI", "BRA"} <= labels
    opt_types = {
        opt.opt_type for m in cases.values() for opt in m.options if not isinstance(opt, o.PadN)
    }
    assert set(o.OPTION_TYPES) - {1} <= opt_types


def test_dialect_names_for_the_status_collision() -> None:
    assert mh.status_name(140) == "Mobile Router Operation not permitted"
    assert mh.status_name(140, "pd-2005") == "Proxy registration not supported"
    assert mh.status_name(141, "pd-2005") == "Binding Cache Entry missing"
    assert mh.status_name(145, "draft-2007") == "Proxy Registration not supported by the LMA"
    assert mh.status_name(145) == "MIPV6-MESG-ID-REQD"  # RFC 4285, the IANA meaning
    bcc = replace(message_cases()["opt.bcc"])
    assert mh.suggest_dialect(bcc) == "pd-2005"
