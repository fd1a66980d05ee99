"""Differential test of the decode stage against tshark on every real capture.

Every capture of the project's lab (``captures/*.pcapng``) and of the shared corpus
(``../shared/captures/**/*.pcap``) is decoded with ``lisptrace.ingest.decode.decode`` and read
by tshark ONCE (all fields batched). For every frame, every tshark field that one of our tables
also has is compared occurrence by occurrence (tshark lists the occurrences of a field in packet
order: an ECM's two ``lisp.type``s, the outer and inner ``ip.src`` of a data packet ...). Our
side of each field is rebuilt from the tables in the same order (see ``ours_for_frame``).

A difference is either none or a row of ``KNOWN_DIFFERENCES`` (field, condition, reason - the
reasons of docs/dissectors.md "Where we knowingly differ from tshark"): for such a field and
frame the test asserts that tshark really shows the recorded difference (never a skip), and
``test_every_known_difference_is_seen`` fails when an entry is no longer needed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import lisptrace
from lisptrace.ingest.decode import decode
from tests.support.tshark import requires_tshark, tshark_json

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "captures"
CAPTURES = sorted((ROOT / "captures").glob("*.pcapng")) + sorted(SHARED.rglob("*.pcap"))

Row = dict[str, Any]
Values = list[Any]

pytestmark = [requires_tshark, pytest.mark.tshark]


# -- value forms: both sides are normalised to int / bool-int / str --------------------------


def _int(v: str) -> int:
    return int(v, 0)


def _hex(v: str) -> str:
    return v.replace(":", "").lower()


#: how tshark's text of a field is normalised (default: kept as text)
def _tshark_form(name: str) -> Callable[[str], Any]:
    if name in _TEXT_FIELDS:
        return str
    if name in ("lisp.xtrid", "lisp.siteid"):
        return _hex
    return _int


_TEXT_FIELDS = {
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "lisp.mreq.srceid.ipv4",
    "lisp.mreq.srceid_ipv6",
    "lisp.mreq.srceid.string",
    "lisp.mreq.itr_rloc_ipv4",
    "lisp.mreq.itr_rloc_ipv6",
    "lisp.mreq.record.prefix.ipv4",
    "lisp.mreq.record.prefix.ipv6",
    "lisp.mapping.eid.ipv4",
    "lisp.mapping.eid.ipv6",
    "lisp.loc.locator",
    "lisp.info.prefix.ipv4",
    "lisp.info.prefix.ipv6",
    "mip6.be.haddr",
    "icmpv6.opt.map.global_address",
}


def _b(v: bool | None) -> int:
    return int(bool(v))


def _addr(eid: str) -> str:
    return eid.split("/")[0]


# -- our side: the fields rebuilt from the tables, in tshark's occurrence order ----------------


@dataclass
class Frame:
    """Our rows of one frame, table by table, in table order."""

    packet: Row
    rows: dict[str, list[Row]] = field(default_factory=lambda: defaultdict(list))


def _ip_headers(f: Frame) -> Iterator[tuple[int, str, str, int | None]]:
    """(version, src, dst, protocol) of every IP header tshark shows, in packet order."""
    p = f.packet
    if p["ip_version"] is not None and p["src"] is not None:
        yield p["ip_version"], p["src"], p["dst"], p["ip_proto"]
    for c in f.rows["control"]:
        if c["depth"] > 0 and c["src"] is not None:  # an ECM's inner IP header
            version = 6 if ":" in c["src"] else 4
            yield version, c["src"], c["dst"], 17 if c["src_port"] is not None else None
    for d in f.rows["data"]:
        if d["inner_ip_version"] is not None and d["inner_src"] is not None:
            yield d["inner_ip_version"], d["inner_src"], d["inner_dst"], d["inner_protocol"]


def _ports(f: Frame, proto: int) -> Iterator[tuple[int, int]]:
    """(src, dst) ports of every UDP (17) or TCP (6) header, in packet order."""
    p = f.packet
    if p["ip_proto"] == proto and p["src_port"] is not None:
        yield p["src_port"], p["dst_port"]
    if proto == 17:
        for c in f.rows["control"]:
            if c["depth"] > 0 and c["src_port"] is not None:
                yield c["src_port"], c["dst_port"]
    for d in f.rows["data"]:
        if d["inner_protocol"] == proto and d["inner_src_port"] is not None:
            yield d["inner_src_port"], d["inner_dst_port"]


def _of(table: str, where: Callable[[Row], bool], value: Callable[[Row], Any]) -> Callable:
    def get(f: Frame) -> Values:
        return [value(r) for r in f.rows[table] if where(r)]

    return get


def _ctl(types: tuple[int, ...], value: Callable[[Row], Any]) -> Callable[[Frame], Values]:
    return _of("control", lambda r: r["type"] in types, value)


def _mreq_res(r: Row) -> int:
    """lisp.mreq.res (24 bits from byte 0, mask 0x3fe0): reserved + m, I, N, L, D folded in."""
    word = (r["reserved"] or 0) | _b(r["mobile_node"]) << 21 | _b(r["xtr_id_present"]) << 20
    word |= _b(r["nat_xtr"]) << 15 | _b(r["local_xtr"]) << 14 | _b(r["dont_map_reply"]) << 13
    return ((word >> 8) & 0x3FE0) >> 5


def _mreg_res(r: Row) -> int:
    """lisp.mreg.res (mask 0xfffe): reserved + encryption key-id, e, F, T, a, m folded in."""
    word = (r["reserved"] or 0) | (r["encryption_key_id"] or 0) << 14 | _b(r["encrypt"]) << 13
    word |= _b(r["refresh"]) << 12 | _b(r["ttl_as_timeout"]) << 11 | _b(r["merge"]) << 10
    word |= _b(r["mobile_node"]) << 9
    return ((word >> 8) & 0xFFFE) >> 1


def _ecm_res(r: Row) -> int:
    """lisp.ecm.res (mask 0x3ffffff): reserved + E/M (NAT draft R/N) folded in."""
    return ((r["reserved"] or 0) | _b(r["to_etr"]) << 25 | _b(r["to_ms"]) << 24) & 0x3FFFFFF


def _mrep_res(r: Row) -> int:
    """lisp.mrep.res (mask 0x1ffff): reserved + the lispers.net hop count folded in."""
    return (((r["reserved"] or 0) | (r["hop_count"] or 0) << 8) >> 8) & 0x1FFFF


def _srceid(fam: int) -> Callable[[Frame], Values]:
    return _ctl((1,), lambda r: r["source_eid"]) if fam else _ctl((1,), lambda r: "not set")


def _itr_rlocs(kind: str) -> Callable[[Frame], Values]:
    def get(f: Frame) -> Values:
        out: Values = []
        for r in f.rows["control"]:
            for a in r["itr_rlocs"] or () if r["type"] == 1 else ():
                fam = 2 if ":" in a else 1
                if kind == "afi":
                    out.append(fam)
                elif (kind == "ipv6") == (fam == 2):
                    out.append(a)
        return out

    return get


def _mapping(value: Callable[[Row], Any], afi: int | None = None) -> Callable[[Frame], Values]:
    return _of(
        "records",
        lambda r: r["section"] in ("mapping", "piggyback") and afi in (None, r["eid_afi"]),
        value,
    )


def _request(value: Callable[[Row], Any], afi: int | None = None) -> Callable[[Frame], Values]:
    return _of(
        "records", lambda r: r["section"] == "request" and afi in (None, r["eid_afi"]), value
    )


def _loc(value: Callable[[Row], Any]) -> Callable[[Frame], Values]:
    return _of("locators", lambda r: True, value)


def _data(where: Callable[[Row], bool], value: Callable[[Row], Any]) -> Callable:
    return _of("data", where, value)


def _mh(types: tuple[int, ...], value: Callable[[Row], Any]) -> Callable[[Frame], Values]:
    return _of("mobility", lambda r: r["mh_type"] in types, value)


def _ip(version: int, part: int) -> Callable[[Frame], Values]:
    return lambda f: [h[part] for h in _ip_headers(f) if h[0] == version]


def _port(proto: int, part: int) -> Callable[[Frame], Values]:
    return lambda f: [p[part] for p in _ports(f, proto)]


def _always(r: Row) -> bool:
    return True


#: tshark field -> our values of one frame, in tshark's order (grouped by our table)
FIELDS: dict[str, dict[str, Callable[[Frame], Values]]] = {
    "packets": {
        "frame.len": lambda f: [f.packet["origlen"]],
        "frame.cap_len": lambda f: [f.packet["caplen"]],
        "ip.src": _ip(4, 1),
        "ip.dst": _ip(4, 2),
        "ip.proto": _ip(4, 3),
        "ipv6.src": _ip(6, 1),
        "ipv6.dst": _ip(6, 2),
        "udp.srcport": _port(17, 0),
        "udp.dstport": _port(17, 1),
        "tcp.srcport": _port(6, 0),
        "tcp.dstport": _port(6, 1),
    },
    "control": {
        "lisp.type": _of("control", _always, lambda r: r["type"]),
        "lisp.mreq.flags.auth": _ctl((1,), lambda r: _b(r["authoritative"])),
        "lisp.mreq.flags.mrp": _ctl((1,), lambda r: _b(r["map_data_present"])),
        "lisp.mreq.flags.probe": _ctl((1,), lambda r: _b(r["probe"])),
        "lisp.mreq.flags.smr": _ctl((1,), lambda r: _b(r["smr"])),
        "lisp.mreq.flags.pitr": _ctl((1,), lambda r: _b(r["pitr"])),
        "lisp.mreq.flags.smri": _ctl((1,), lambda r: _b(r["smr_invoked"])),
        "lisp.mreq.res": _ctl((1,), _mreq_res),
        "lisp.irc": _ctl((1,), lambda r: r["itr_rloc_count"] - 1),
        "lisp.mreq.srceid.afi": _ctl((1,), lambda r: r["source_eid_afi"]),
        "lisp.mreq.srceid.ipv4": _of(
            "control",
            lambda r: r["type"] == 1 and r["source_eid_afi"] == 1,
            lambda r: r["source_eid"],
        ),
        "lisp.mreq.srceid_ipv6": _of(
            "control",
            lambda r: r["type"] == 1 and r["source_eid_afi"] == 2,
            lambda r: r["source_eid"],
        ),
        "lisp.mreq.srceid.string": _of(
            "control", lambda r: r["type"] == 1 and r["source_eid_afi"] == 0, lambda r: "not set"
        ),
        "lisp.mreq.itr_rloc.afi": _itr_rlocs("afi"),
        "lisp.mreq.itr_rloc_ipv4": _itr_rlocs("ipv4"),
        "lisp.mreq.itr_rloc_ipv6": _itr_rlocs("ipv6"),
        "lisp.mrep.flags.probe": _ctl((2,), lambda r: _b(r["probe"])),
        "lisp.mrep.flags.enlr": _ctl((2,), lambda r: _b(r["echo_nonce_capable"])),
        "lisp.mrep.flags.sec": _ctl((2,), lambda r: _b(r["security"])),
        "lisp.mrep.res": _ctl((2,), _mrep_res),
        "lisp.mreg.flags.pmr": _ctl((3,), lambda r: _b(r["proxy_map_reply"])),
        "lisp.mreg.flags.sec": _ctl((3,), lambda r: _b(r["lisp_sec"])),
        "lisp.mreg.flags.xtrid": _ctl((3,), lambda r: _b(r["xtr_id_present"])),
        "lisp.mreg.flags.rtr": _ctl((3,), lambda r: _b(r["rtr"])),
        "lisp.mreg.flags.wmn": _ctl((3,), lambda r: _b(r["want_map_notify"])),
        "lisp.mreg.res": _ctl((3,), _mreg_res),
        "lisp.mnot.flags.xtrid": _ctl((4,), lambda r: _b(r["xtr_id_present"])),
        "lisp.mnot.flags.rtr": _ctl((4,), lambda r: _b(r["rtr"])),
        "lisp.mnot.res": _ctl((4,), lambda r: ((r["reserved"] or 0) >> 8) & 0x3FFFF),
        "lisp.ecm.flags.sec": _ctl((8,), lambda r: _b(r["security"])),
        "lisp.ecm.flags.ddt": _ctl((8,), lambda r: _b(r["ddt_originated"])),
        "lisp.ecm.res": _ctl((8,), _ecm_res),
        "lisp.nonce": _of("control", lambda r: r["nonce"] is not None, lambda r: r["nonce"]),
        "lisp.keyid": _of("control", lambda r: r["key_id"] is not None, lambda r: r["key_id"]),
        "lisp.authlen": _of(
            "control", lambda r: r["auth_len"] is not None, lambda r: r["auth_len"]
        ),
        "lisp.records": _of(
            "control", lambda r: r["record_count"] is not None, lambda r: r["record_count"]
        ),
        "lisp.xtrid": _of(
            "control", lambda r: r["xtr_id"] is not None, lambda r: r["xtr_id"].hex()
        ),
        "lisp.siteid": _of(
            "control", lambda r: r["site_id"] is not None, lambda r: r["site_id"].hex()
        ),
        "lisp.info.r": _ctl((7,), lambda r: _b(r["info_reply"])),
        "lisp.info.ttl": _ctl((7,), lambda r: r["info_ttl"]),
        "lisp.info.prefix.masklen": _ctl((7,), lambda r: r["info_eid_mask_len"]),
        "lisp.info.prefix.afi": _ctl((7,), lambda r: r["info_eid_afi"]),
        "lisp.info.prefix.ipv4": _of(
            "control",
            lambda r: r["type"] == 7 and r["info_eid_afi"] == 1,
            lambda r: _addr(r["info_eid"]),
        ),
        "lisp.info.prefix.ipv6": _of(
            "control",
            lambda r: r["type"] == 7 and r["info_eid_afi"] == 2,
            lambda r: _addr(r["info_eid"]),
        ),
    },
    "records": {
        "lisp.mapping.ttl": _mapping(lambda r: r["ttl"]),
        "lisp.mapping.loccnt": _mapping(lambda r: r["locator_count"]),
        "lisp.mapping.eid.masklen": _mapping(lambda r: r["eid_mask_len"]),
        "lisp.mapping.act": _mapping(lambda r: r["action"]),
        "lisp.mapping.auth": _mapping(lambda r: _b(r["authoritative"])),
        "lisp.mapping.res1": _mapping(lambda r: (r["reserved"] or 0) & 0x7FF),
        "lisp.mapping.ver": _mapping(lambda r: r["map_version"]),
        "lisp.mapping.eid.afi": _mapping(lambda r: r["eid_afi"]),
        "lisp.mapping.eid.ipv4": _mapping(lambda r: _addr(r["eid"]), afi=1),
        "lisp.mapping.eid.ipv6": _mapping(lambda r: _addr(r["eid"]), afi=2),
        "lisp.mreq.record.res": _request(
            lambda r: _b(r["notify_requested"]) << 7 | (r["reserved"] or 0)
        ),
        "lisp.mreq.record.prefix.length": _request(lambda r: r["eid_mask_len"]),
        "lisp.mreq.record.prefix.afi": _request(lambda r: r["eid_afi"]),
        "lisp.mreq.record.prefix.ipv4": _request(lambda r: _addr(r["eid"]), afi=1),
        "lisp.mreq.record.prefix.ipv6": _request(lambda r: _addr(r["eid"]), afi=2),
    },
    "locators": {
        "lisp.loc.priority": _loc(lambda r: r["priority"]),
        "lisp.loc.weight": _loc(lambda r: r["weight"]),
        "lisp.loc.multicast_priority": _loc(lambda r: r["m_priority"]),
        "lisp.loc.multicast_weight": _loc(lambda r: r["m_weight"]),
        "lisp.loc.flags": _loc(
            lambda r: (
                (r["unused_flags"] or 0)
                | _b(r["local"]) << 2
                | _b(r["probed"]) << 1
                | _b(r["reachable"])
            )
        ),
        "lisp.loc.flags.local": _loc(lambda r: _b(r["local"])),
        "lisp.loc.flags.probe": _loc(lambda r: _b(r["probed"])),
        "lisp.loc.flags.reach": _loc(lambda r: _b(r["reachable"])),
        "lisp.loc.flags.res": _loc(lambda r: (r["unused_flags"] or 0) >> 3),
        "lisp.loc.afi": _loc(lambda r: r["address_afi"]),
        "lisp.loc.locator": _of(
            "locators", lambda r: r["address"] is not None, lambda r: r["address"]
        ),
    },
    "data": {
        "lisp-data.flags": _data(
            _always,
            lambda r: (
                _b(r["n"]) << 7
                | _b(r["l"]) << 6
                | _b(r["e"]) << 5
                | _b(r["v"]) << 4
                | _b(r["i"]) << 3
                | _b(r["p"]) << 2
                | r["key_phase"]
            ),
        ),
        "lisp-data.flags.nonce": _data(_always, lambda r: _b(r["n"])),
        "lisp-data.flags.lsb": _data(_always, lambda r: _b(r["l"])),
        "lisp-data.flags.enr": _data(_always, lambda r: _b(r["e"])),
        "lisp-data.flags.mv": _data(_always, lambda r: _b(r["v"])),
        "lisp-data.flags.iid": _data(_always, lambda r: _b(r["i"])),
        "lisp-data.flags.res": _data(_always, lambda r: _b(r["p"]) << 2 | r["key_phase"]),
        "lisp-data.nonce": _data(lambda r: r["n"], lambda r: r["nonce_map_version"]),
        "lisp-data.mapver": _data(
            lambda r: r["v"] and not r["n"], lambda r: r["nonce_map_version"]
        ),
        "lisp-data.srcmapver": _data(
            lambda r: r["v"] and not r["n"], lambda r: r["source_map_version"]
        ),
        "lisp-data.dstmapver": _data(
            lambda r: r["v"] and not r["n"], lambda r: r["dest_map_version"]
        ),
        "lisp-data.iid": _data(lambda r: r["i"], lambda r: r["iid"]),
        "lisp-data.lsb8": _data(lambda r: r["i"], lambda r: r["iid_lsbs"] & 0xFF),
        "lisp-data.lsb": _data(lambda r: r["l"] and not r["i"], lambda r: r["lsb"]),
    },
    "mobility": {
        "mip6.mhtype": _mh(tuple(range(256)), lambda r: r["mh_type"]),
        "mip6.proto": _mh(tuple(range(256)), lambda r: r["payload_proto"]),
        "mip6.hlen": _mh(tuple(range(256)), lambda r: r["header_len"]),
        "mip6.csum": _mh(tuple(range(256)), lambda r: r["checksum"]),
        "mip6.bu.seqnr": _mh((5,), lambda r: r["sequence"]),
        "mip6.bu.lifetime": _mh((5,), lambda r: r["lifetime"]),
        "mip6.bu.a_flag": _mh((5,), lambda r: _b(r["a"])),
        "mip6.bu.h_flag": _mh((5,), lambda r: _b(r["h"])),
        "mip6.bu.l_flag": _mh((5,), lambda r: _b(r["l"])),
        "mip6.bu.k_flag": _mh((5,), lambda r: _b(r["k"])),
        "mip6.bu.m_flag": _mh((5,), lambda r: _b(r["m"])),
        "mip6.nemo.bu.r_flag": _mh((5,), lambda r: _b(r["r"])),
        "mip6.bu.p_flag": _mh((5,), lambda r: _b(r["p"])),
        "mip6.bu.f_flag": _mh((5,), lambda r: _b(r["f"])),
        "mip6.bu.t_flag": _mh((5,), lambda r: _b(r["t"])),
        "mip6.bu.b_flag": _mh((5,), lambda r: _b(r["b"])),
        "mip6.ba.status": _mh((6,), lambda r: r["status"]),
        "mip6.ba.seqnr": _mh((6,), lambda r: r["sequence"]),
        "mip6.ba.lifetime": _mh((6,), lambda r: r["lifetime"]),
        "mip6.ba.k_flag": _mh((6,), lambda r: _b(r["k"])),
        "mip6.nemo.ba.r_flag": _mh((6,), lambda r: _b(r["r"])),
        "mip6.ba.p_flag": _mh((6,), lambda r: _b(r["p"])),
        "mip6.ba.t_flag": _mh((6,), lambda r: _b(r["t"])),
        "mip6.ba.b_flag": _mh((6,), lambda r: _b(r["b"])),
        "mip6.be.status": _mh((7,), lambda r: r["status"]),
        "mip6.hb.u_flag": _mh((13,), lambda r: _b(r["u"])),
        "mip6.hb.r_flag": _mh((13,), lambda r: _b(r["r"])),
        "mip6.hb.seqnr": _mh((13,), lambda r: r["sequence"]),
    },
    "nd_map": {
        "icmpv6.opt.map.distance": _of("nd_map", _always, lambda r: r["dist"]),
        "icmpv6.opt.map.preference": _of("nd_map", _always, lambda r: r["pref"]),
        "icmpv6.opt.map.flag.r": _of("nd_map", _always, lambda r: _b(r["r"])),
        "icmpv6.opt.map.valid_lifetime": _of("nd_map", _always, lambda r: r["valid_lifetime"]),
        "icmpv6.opt.map.global_address": _of("nd_map", _always, lambda r: r["map_address"]),
    },
}

ALL_FIELDS = [name for group in FIELDS.values() for name in group]
#: asked from tshark besides, to check the conditions of the known differences
EXTRA_FIELDS = ["_ws.malformed", "_ws.short", "lisp.unexpected_field"]


# -- the known differences -------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A field where tshark knowingly shows something else than we do.

    ``when(frame, tshark)`` says whether the entry applies to the frame; ``shows(field, ours,
    theirs, frame, tshark)`` is what tshark must really show then (asserted, so a tshark that stops
    differing, or differs otherwise, fails the test). ``reason`` cites docs/dissectors.md."""

    fields: tuple[str, ...]
    when: Callable[[Frame, dict[str, list[str]]], bool]
    shows: Callable[[str, Values, Values, Frame, dict[str, list[str]]], bool]
    reason: str


def _stopped(frame: Frame, have: dict[str, list[str]]) -> bool:
    """Our decoder stopped on the frame (Truncated/Malformed) and tshark marks it too."""
    return frame.packet["error"] is not None and any(
        name in have for name in ("_ws.malformed", "_ws.short", "lisp.unexpected_field")
    )


_MESSAGE_FIELDS = tuple(
    name
    for table in ("control", "records", "locators", "mobility", "nd_map")
    for name in FIELDS[table]
)


def _without(drop: Callable[[str, Row], bool]) -> Callable[..., bool]:
    """tshark shows our values of the field minus the rows ``drop(table, row)`` selects."""

    def shows(
        name: str, ours: Values, theirs: Values, frame: Frame, have: dict[str, list[str]]
    ) -> bool:
        kept = Frame(frame.packet)
        for table, rows in frame.rows.items():
            kept.rows[table] = [r for r in rows if not drop(table, r)]
        return theirs == _OURS[name](kept) != ours

    return shows


def _msg_rows(pred: Callable[[Row], bool]) -> Callable[[Frame, dict[str, list[str]]], bool]:
    return lambda frame, have: any(pred(r) for r in frame.rows["control"])


def _non_ip_itr_rloc(r: Row) -> bool:
    return r["type"] == 1 and any(a is None for a in (r["itr_rlocs_bin"] or ()))


def _stops_map_request(frame: Frame, have: dict[str, list[str]]) -> bool:
    return "lisp.unexpected_field" in have and any(
        r["type"] == 1 and (r["source_eid_afi"] not in (0, 1, 2, 6) or _non_ip_itr_rloc(r))
        for r in frame.rows["control"]
    )


def _shorter(
    name: str, ours: Values, theirs: Values, frame: Frame, have: dict[str, list[str]]
) -> bool:
    return len(theirs) < len(ours) and theirs == ours[: len(theirs)]


_CONTROL_FIELDS = tuple(FIELDS["control"])
_MAPPING_FIELDS = (*FIELDS["records"], *FIELDS["locators"])
_DATA_FIELDS = tuple(FIELDS["data"])
_INNER_FIELDS = (
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "tcp.srcport",
    "tcp.dstport",
)

#: One row per way tshark knowingly shows something else (docs/dissectors.md "Where we
#: knowingly differ from tshark", item numbers in the reasons). Differences that are only a
#: name (RFC 9301 bits inside tshark's reserved fields, item 1; the 16-bit Key ID, item 2; the
#: Map-Reply hop count in ``lisp.mrep.res``, item 8; record bit 0x800 outside ``res1``'s mask,
#: item 7) are compared by folding our fields into tshark's (see ``FIELDS``): they must agree.
KNOWN_DIFFERENCES: list[Known] = [
    Known(
        _MESSAGE_FIELDS,
        _stopped,
        lambda name, ours, theirs, frame, have: ours == [] and theirs != [],
        "item 12: decode stopped: a message cut short or garbled (packets.error: "
        "Truncated/Malformed) has no row of its own; tshark shows the fields it read "
        "before its own mark (_ws.malformed, _ws.short 'Packet size limited during capture', "
        "lisp.unexpected_field)",
    ),
    Known(
        _CONTROL_FIELDS + _MAPPING_FIELDS,
        _msg_rows(lambda r: r["type"] == 5),
        lambda name, ours, theirs, frame, have: len(theirs) < len(ours),
        "item 3: Map-Notify-Ack (type 5) is unknown to tshark",
    ),
    Known(
        _CONTROL_FIELDS + _MAPPING_FIELDS,
        _stops_map_request,
        _shorter,
        "item 4: a Distinguished-Name Source-EID or an LCAF ITR-RLOC stops tshark's Map-Request "
        "(lisp.unexpected_field)",
    ),
    Known(
        ("lisp.loc.locator",),
        lambda frame, have: any(r["address_afi"] == 16387 for r in frame.rows["locators"]),
        lambda name, ours, theirs, frame, have: (
            theirs == [r["address"] for r in frame.rows["locators"] if r["address_afi"] != 16387]
        ),
        "item 6: LCAF locators have no lisp.loc.locator string in tshark",
    ),
    Known(
        ("lisp.xtrid", "lisp.siteid"),
        _msg_rows(lambda r: r["type"] == 1 and r["xtr_id"] is not None),
        _without(lambda table, r: table == "control" and r["type"] == 1),
        "item 7: the Map-Request's xTR-ID/Site-ID trailer is not shown by tshark",
    ),
    Known(
        _INNER_FIELDS,
        lambda frame, have: any(r["key_phase"] for r in frame.rows["data"]),
        lambda name, ours, theirs, frame, have: len(theirs) > len(ours),
        "item 9: an encrypted payload (KK != 0) is decoded by tshark as if clear",
    ),
    Known(
        _DATA_FIELDS + _INNER_FIELDS,
        lambda frame, have: (
            frame.packet["layer"] == "lisp-gpe"
            and 4790 in (frame.packet["src_port"], frame.packet["dst_port"])
        ),
        lambda name, ours, theirs, frame, have: theirs != ours,
        "item 9: LISP-GPE on UDP 4790 is VXLAN-GPE to tshark",
    ),
]

#: entries no capture of the corpus exercises (their tshark behaviour is asserted by the
#: dissectors' own differential tests, tests/dissectors/**/test_*tshark*.py)
NOT_IN_CAPTURES = {k.reason for k in KNOWN_DIFFERENCES[1:]}


# -- running both decoders -----------------------------------------------------------------------


def _ours(path: Path, out: Path) -> dict[int, Frame]:
    decode([path], out)
    d = lisptrace.open(out)
    frames = {p["frame"]: Frame(p) for p in d.table("packets").to_pylist()}
    for name in ("control", "records", "locators", "data", "mobility", "nd_map"):
        rows = d.table(name).to_pylist()
        key = {
            "control": lambda r: r["msg_index"],
            "records": lambda r: (r["msg_index"], r["record_index"]),
            "locators": lambda r: (r["msg_index"], r["record_index"], r["locator_index"]),
            "data": lambda r: r["level"],
        }.get(name, lambda r: 0)
        for r in sorted(rows, key=lambda r: (r["frame"], key(r))):
            frames[r["frame"]].rows[name].append(r)
    return frames


@dataclass
class Compared:
    frames: int
    values: int  # field occurrences compared
    unexplained: list[str]
    explained: dict[str, int]  # reason -> fields x frames


@functools.cache
def _tshark(path: Path) -> list[dict[str, list[str]]]:
    return tshark_json(path, [*ALL_FIELDS, *EXTRA_FIELDS])


def _compare(path: Path, out: Path) -> Compared:
    ts = _tshark(path)
    ours = _ours(path, out)
    assert len(ts) == len(ours), "tshark and packets disagree on the number of frames"
    result = Compared(len(ts), 0, [], defaultdict(int))
    for n, have in enumerate(ts, start=1):
        frame = ours[n]
        for name in ALL_FIELDS:
            form = _tshark_form(name)
            theirs = [form(v) for v in have.get(name, [])]
            mine = _OURS[name](frame)
            result.values += max(len(theirs), len(mine))
            if theirs == mine:
                continue
            known = [k for k in KNOWN_DIFFERENCES if name in k.fields and k.when(frame, have)]
            if not known:
                result.unexplained.append(f"frame {n} {name}: ours {mine} tshark {theirs}")
                continue
            k = known[0]
            if not k.shows(name, mine, theirs, frame, have):
                result.unexplained.append(
                    f"frame {n} {name}: ours {mine} tshark {theirs} (not as recorded: {k.reason})"
                )
                continue
            result.explained[k.reason] += 1
    return result


_OURS: dict[str, Callable[[Frame], Values]] = {
    name: get for group in FIELDS.values() for name, get in group.items()
}


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Compared]:
    """Every capture compared (tshark runs in parallel threads, one run per capture)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(_tshark, CAPTURES))
    base = tmp_path_factory.mktemp("decoded")
    return {str(p): _compare(p, base / f"{i}") for i, p in enumerate(CAPTURES)}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_capture_agrees_with_tshark(path: Path, compared: dict[str, Compared]) -> None:
    c = compared[str(path)]
    assert c.frames > 0 and c.values > 0
    assert not c.unexplained, "\n".join(c.unexplained[:40])


def test_every_known_difference_is_seen(compared: dict[str, Compared]) -> None:
    """Every entry is either exercised by a capture or declared as not in the captures."""
    seen = {reason for c in compared.values() for reason in c.explained}
    assert seen == {k.reason for k in KNOWN_DIFFERENCES} - NOT_IN_CAPTURES


def test_all_captures_are_compared() -> None:
    assert len([p for p in CAPTURES if p.suffix == ".pcapng"]) >= 15
    assert len([p for p in CAPTURES if p.suffix == ".pcap"]) >= 27
