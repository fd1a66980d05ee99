"""Every Arrow schema lisptrace writes, documented column by column.

This module is the single source of truth for the decoded tables: the ingest path fills these
schemas, the writers write them, ``open()`` reads them back, and ``docs/tables.md`` is generated
from the ``doc`` metadata of every field (``python -m lisptrace.tables > docs/tables.md``;
a test keeps the two equal).

It knows nothing of captures, ingest or codecs: only Arrow types and the address encoding.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lisptrace.kernels import load

_addrtext = load("lisptrace.tables._addrtext")  # C renderer of canonical_from_bin's strings

SCHEMA_VERSION = 2
"""Bumped whenever a column is added, removed, renamed or retyped."""

META_VERSION = b"lisptrace.schema_version"
META_TABLE = b"lisptrace.table"
META_DOC = b"doc"

ADDR_BIN = pa.binary(16)
"""The type of every ``*_bin`` column: IPv6 bytes, IPv4 as IPv4-mapped ``::ffff:a.b.c.d``."""


def _f(name: str, type_: pa.DataType, doc: str, *, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={META_DOC: doc.encode()})


def _frame() -> list[pa.Field]:
    return [
        _f(
            "frame",
            pa.int64(),
            "Frame number, 1-based across the (merged) captures, as Wireshark "
            "numbers frames. Join key to `packets.frame`.",
            nullable=False,
        ),
        _f(
            "time_ns",
            pa.int64(),
            "Capture time of the frame, nanoseconds since the Unix epoch (UTC).",
            nullable=False,
        ),
    ]


def _addr(name: str, what: str) -> list[pa.Field]:
    return [
        _f(name, pa.string(), f"{what}, canonical string (see Addresses); null if absent."),
        _f(
            f"{name}_bin",
            ADDR_BIN,
            f"{what} as 16 bytes (IPv4-mapped, see Addresses); null unless an IP address.",
        ),
    ]


def _prefix(name: str, what: str) -> list[pa.Field]:
    return [
        _f(
            name,
            pa.string(),
            f"{what}: canonical prefix string `addr/len`, LCAF forms included "
            "(`[1000]10.0.0.0/24`, `(s/len,d/len)`); null if absent.",
        ),
        _f(f"{name}_afi", pa.uint16(), f"AFI of the {what} (1 IPv4, 2 IPv6, 16387 LCAF, ...)."),
        _f(
            f"{name}_lcaf_type",
            pa.uint8(),
            f"LCAF type of the {what} (2 = Instance ID, ...); null unless the AFI is 16387.",
        ),
        _f(
            f"{name}_iid",
            pa.uint32(),
            f"Instance ID of the {what} (from an Instance-ID LCAF); null when there is none.",
        ),
        _f(
            f"{name}_mask_len",
            pa.uint8(),
            f"Mask length of the {what} as on the wire (IPv4: 0-32, IPv6: 0-128).",
        ),
        _f(
            f"{name}_bin",
            ADDR_BIN,
            f"First address of the {what} (16 bytes, IPv4-mapped); null "
            "unless the prefix is IP (inside an Instance-ID LCAF or not).",
        ),
        _f(
            f"{name}_end_bin",
            ADDR_BIN,
            f"Last address of the {what} (16 bytes, IPv4-mapped): "
            f"an address `a` is in the prefix iff `{name}_bin <= a AND a <= {name}_end_bin`.",
        ),
    ]


def _anomalies(what: str) -> list[pa.Field]:
    """The ``anomalies`` codes raised while decoding ``what`` and their ``anomaly_details``."""
    return [
        _f(
            "anomalies",
            _list(pa.string()),
            f"Anomaly codes raised while decoding {what} (see docs/dissectors.md); empty list if "
            "none.",
        ),
        _f(
            "anomaly_details",
            _list(pa.string()),
            "What each code of `anomalies` saw, item by item (same length as `anomalies`; an "
            "empty string for a code raised without detail).",
        ),
    ]


def _msg_type() -> pa.Field:
    """``msg_type``: the enclosing message's ``control.type``, copied into its child tables."""
    return _f(
        "msg_type",
        pa.uint8(),
        "`control.type` of the message (copied for filtering).",
        nullable=False,
    )


def _list(item: pa.DataType) -> pa.DataType:
    """A list type; items named ``element`` as Parquet names them, so both formats agree."""
    return pa.list_(pa.field("element", item))


def _schema(name: str, doc: str, fields: Sequence[pa.Field]) -> pa.Schema:
    names = [f.name for f in fields]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:  # pragma: no cover - a programming error caught by any test importing this
        raise AssertionError(f"{name}: duplicate columns {sorted(dupes)}")
    return pa.schema(
        fields,
        metadata={
            META_VERSION: str(SCHEMA_VERSION).encode(),
            META_TABLE: name.encode(),
            META_DOC: doc.encode(),
        },
    )


_FLAG = pa.bool_()


def _flag(name: str, doc: str) -> pa.Field:
    return _f(name, _FLAG, doc + "; null for message types without this bit.")


PACKETS = _schema(
    "packets",
    "One row per frame of the capture(s), always: rows == frames.",
    [
        *_frame(),
        _f("caplen", pa.uint32(), "Bytes captured for the frame.", nullable=False),
        _f("origlen", pa.uint32(), "Bytes of the frame on the wire (>= caplen).", nullable=False),
        _f(
            "linktype",
            pa.uint32(),
            "LINKTYPE_* value of the frame's interface (1 Ethernet, 101 raw "
            "IP, 113 Linux SLL, 276 SLL2, 0 BSD null, ...).",
            nullable=False,
        ),
        _f("interface", pa.uint32(), "pcapng interface index (0 for pcap).", nullable=False),
        _f(
            "source",
            pa.uint16(),
            "Index of the input capture in `manifest.json` `sources` (0 for a single capture).",
            nullable=False,
        ),
        _f("vlans", _list(pa.uint16()), "802.1Q VLAN IDs, outermost first; null if untagged."),
        _f("ip_version", pa.uint8(), "Version of the outer IP header (4 or 6); null if none."),
        *_addr("src", "Outer IP source address"),
        *_addr("dst", "Outer IP destination address"),
        _f(
            "ip_proto",
            pa.uint8(),
            "Outer upper-layer protocol after the extension headers (17 UDP, "
            "6 TCP, 58 ICMPv6, 135 Mobility Header, ...); null if no IP.",
        ),
        _f("src_port", pa.uint16(), "Outer UDP/TCP source port; null if none."),
        _f("dst_port", pa.uint16(), "Outer UDP/TCP destination port; null if none."),
        _f(
            "reassembled",
            pa.bool_(),
            "True on the frame that completed an IP reassembly (the "
            "decoded datagram spans earlier frames, whose `layer` is `fragment`).",
            nullable=False,
        ),
        _f(
            "layer",
            pa.string(),
            "Which decoder took the frame: `lisp` (control, to `control`), "
            "`lisp-data` (to `data`), `lisp-gpe`, `lisp-tcp`, `mip6` (to `mobility`), `icmpv6` "
            "(Router Advertisement, to `nd_map`), `fragment` (awaiting reassembly), or `` (nothing "
            "of ours).",
            nullable=False,
        ),
        *_anomalies("the frame (every layer, including the messages in other tables)"),
        _f(
            "error",
            pa.string(),
            "Why decoding stopped (`Truncated`/`Malformed` with the field "
            "path), null if the frame decoded fully. The row still holds what was decoded.",
        ),
        _f(
            "error_offset",
            pa.int32(),
            "Byte offset in the frame where decoding stopped; null if no error.",
        ),
        _f("comment", pa.string(), "pcapng packet comment; null if none."),
    ],
)

CONTROL = _schema(
    "control",
    "One row per LISP control message, including the message inside "
    "each ECM (and control messages carried in data packets), in pre-order.",
    [
        *_frame(),
        _f(
            "msg_index",
            pa.uint16(),
            "Index of the message in the frame, pre-order: 0 is the "
            "outermost, an ECM's inner message follows the ECM.",
            nullable=False,
        ),
        _f("parent_index", pa.uint16(), "`msg_index` of the enclosing ECM; null at top level."),
        _f(
            "depth",
            pa.uint8(),
            "ECM nesting depth: 0 top level, 1 inside one ECM, ...",
            nullable=False,
        ),
        _f(
            "via_data",
            pa.bool_(),
            "True if carried inside a LISP data packet (inner UDP 4342 or IID 0xFFFFFF).",
            nullable=False,
        ),
        _f(
            "via_tcp",
            pa.bool_(),
            "True if read from a LISP-over-TCP (port 4342) stream.",
            nullable=False,
        ),
        *_addr(
            "src",
            "IP source of the header directly around this message (the inner header for "
            "an ECM's message)",
        ),
        *_addr("dst", "IP destination of the header directly around this message"),
        _f("src_port", pa.uint16(), "UDP source port directly around this message."),
        _f("dst_port", pa.uint16(), "UDP destination port directly around this message."),
        _f(
            "length",
            pa.uint32(),
            "Bytes of this message (for an ECM: the whole ECM).",
            nullable=False,
        ),
        _f(
            "type",
            pa.uint8(),
            "LISP message type (1 Map-Request ... 8 ECM, 15 Shared Extension).",
            nullable=False,
        ),
        _f(
            "type_name",
            pa.string(),
            "Name of the type: `Map-Request`, `Map-Reply`, `Map-Register`, "
            "`Map-Notify`, `Map-Notify-Ack`, `Map-Referral`, `Info-Request`, `Info-Reply`, `ECM`, "
            "`Shared-Extension`, `unknown`.",
            nullable=False,
        ),
        _f(
            "reserved",
            pa.uint32(),
            "Reserved bits of the first word as on the wire (masked in "
            "place; non-zero raises `reserved_bits`).",
        ),
        # Map-Request
        _flag("authoritative", "Map-Request A"),
        _flag("map_data_present", "Map-Request M (a Map-Reply record is piggy-backed)"),
        _flag("probe", "Map-Request P / Map-Reply P (RLOC-probe)"),
        _flag("smr", "Map-Request S (Solicit-Map-Request)"),
        _flag("pitr", "Map-Request p (sent by a PITR)"),
        _flag("smr_invoked", "Map-Request s (sent because of an SMR)"),
        _flag("mobile_node", "Map-Request m (bit 10) / Map-Register m (bit 22): LISP-MN"),
        _flag("xtr_id_present", "I bit: Map-Request (RFC 9437), Map-Register, Map-Notify(-Ack)"),
        _flag("nat_xtr", "Map-Request N (bit 16, lispers.net)"),
        _flag("local_xtr", "Map-Request L (bit 17, RFC 9301)"),
        _flag("dont_map_reply", "Map-Request D (bit 18, RFC 9301)"),
        # Map-Reply
        _flag("echo_nonce_capable", "Map-Reply E"),
        _flag("security", "Map-Reply S / ECM S (LISP-SEC)"),
        _f(
            "hop_count",
            pa.uint8(),
            "Map-Reply bits 16-23 (lispers.net hop count); null for other types.",
        ),
        # Map-Register
        _flag("proxy_map_reply", "Map-Register P"),
        _flag("lisp_sec", "Map-Register S (LISP-SEC capable)"),
        _flag(
            "rtr",
            "Map-Register R (built for an RTR, NAT draft) / Map-Notify(-Ack) R (MS-RTR "
            "authentication present)",
        ),
        _flag("want_map_notify", "Map-Register M"),
        _f(
            "encryption_key_id",
            pa.uint8(),
            "Map-Register bits 15-17 (lispers.net LISP-crypto key-id); null for other types.",
        ),
        _flag("encrypt", "Map-Register e (bit 18)"),
        _flag("refresh", "Map-Register F (bit 19)"),
        _flag("ttl_as_timeout", "Map-Register T (bit 20)"),
        _flag("merge", "Map-Register a (bit 21)"),
        # Info
        _flag("info_reply", "Info R (0 = Info-Request, 1 = Info-Reply)"),
        # ECM
        _flag("ddt_originated", "ECM D"),
        _flag("to_etr", "ECM E (RFC 9301; the NAT draft's R at the same position)"),
        _flag("to_ms", "ECM M (RFC 9301; the NAT draft's N at the same position)"),
        # common fields
        _f(
            "nonce",
            pa.uint64(),
            "64-bit nonce; null for types without one (ECM, Shared Extension).",
        ),
        _f("key_id", pa.uint16(), "Key ID, raw 16 bits (Map-Register, Map-Notify(-Ack), Info)."),
        _f("key_id_9301", pa.uint8(), "High byte of `key_id`: RFC 9301's Key ID."),
        _f(
            "algorithm_id",
            pa.uint8(),
            "Low byte of `key_id`: RFC 9301's Algorithm ID (1 HMAC-SHA-1, "
            "2 HMAC-SHA-256, 3 HKDF-SHA256).",
        ),
        _f(
            "auth_len",
            pa.uint16(),
            "Authentication Data Length (the data itself is never written).",
        ),
        _f(
            "auth_ok",
            pa.bool_(),
            "HMAC verified with the `--keys` file: true/false; null when "
            "unknown (no key, no authentication, algorithm 3 or unknown).",
        ),
        _f("ms_rtr_key_id", pa.uint16(), "Map-Notify(-Ack) MS-RTR block Key ID; null if absent."),
        _f(
            "ms_rtr_auth_len",
            pa.uint16(),
            "Map-Notify(-Ack) MS-RTR block data length; null if absent.",
        ),
        _f(
            "record_count",
            pa.uint16(),
            "Record Count (EID records; Map-Request: requested EIDs); "
            "rows in `records` with this `msg_index`.",
        ),
        _f("itr_rloc_count", pa.uint8(), "Map-Request: number of ITR-RLOCs (IRC + 1)."),
        _f(
            "source_eid", pa.string(), "Map-Request Source-EID, canonical (`no-address` for AFI 0)."
        ),
        _f(
            "source_eid_bin",
            ADDR_BIN,
            "Map-Request Source-EID as 16 bytes (IPv4-mapped); null unless IP.",
        ),
        _f("source_eid_afi", pa.uint16(), "AFI of the Source-EID."),
        _f("itr_rlocs", _list(pa.string()), "Map-Request ITR-RLOCs, canonical, in wire order."),
        _f(
            "itr_rlocs_bin",
            _list(ADDR_BIN),
            "Map-Request ITR-RLOCs as 16 bytes (IPv4-mapped), null items for non-IP ones.",
        ),
        _f(
            "xtr_id", pa.binary(16), "128-bit xTR-ID (Map-Request, Map-Register, Map-Notify(-Ack))."
        ),
        _f(
            "site_id",
            pa.binary(8),
            "64-bit Site-ID; null if absent (e.g. lispers.net Map-Request).",
        ),
        *_prefix("info_eid", "Info EID-prefix"),
        _f("info_ttl", pa.uint32(), "Info TTL (units unconfirmed, see docs/dissectors.md doubts)."),
        _f(
            "info_body",
            pa.string(),
            "Info body, canonical: `no-address`, a hostname, or the `nat[...]` NAT-Traversal LCAF.",
        ),
        _f("nat_global_etr", pa.string(), "NAT LCAF Global ETR RLOC (Info-Reply)."),
        _f("nat_global_etr_port", pa.uint16(), "NAT LCAF ETR UDP port (as seen by the MS)."),
        _f("nat_ms", pa.string(), "NAT LCAF Map-Server RLOC."),
        _f("nat_ms_port", pa.uint16(), "NAT LCAF MS UDP port."),
        _f("nat_private_etr", pa.string(), "NAT LCAF private ETR RLOC."),
        _f("nat_rtrs", _list(pa.string()), "NAT LCAF RTR RLOCs."),
        _f("shared_ext_subtype", pa.uint16(), "Shared Extension (type 15) sub-type."),
        *_anomalies("this message (not its inner ECM message, which has its own row)"),
    ],
)

RECORDS = _schema(
    "records",
    "One row per EID record: mapping records of Map-Reply, "
    "Map-Register, Map-Notify(-Ack), Map-Referral, the piggy-backed Map-Reply "
    "record of a Map-Request, and the requested EIDs of a Map-Request.",
    [
        *_frame(),
        _f(
            "msg_index",
            pa.uint16(),
            "`control.msg_index` of the message holding the record.",
            nullable=False,
        ),
        _f(
            "record_index",
            pa.uint16(),
            "Index of the record in its message (0-based, per section).",
            nullable=False,
        ),
        _msg_type(),
        _f(
            "section",
            pa.string(),
            "`mapping` (a record with TTL and locators), `request` (a "
            "Map-Request EID prefix), `piggyback` (the Map-Request's Map-Reply record).",
            nullable=False,
        ),
        *_prefix("eid", "EID prefix"),
        _f("ttl", pa.uint32(), "Record TTL in minutes; null for `request` rows."),
        _f("action", pa.uint8(), "ACT (Map-Referral: the referral action); null for `request`."),
        _f(
            "action_name",
            pa.string(),
            "Name of ACT: `no-action`, `native-forward`, "
            "`send-map-request`, `drop` ...; referral actions `node-referral`, `ms-referral`, ...",
        ),
        _f("authoritative", pa.bool_(), "A bit; null for `request` rows."),
        _f("incomplete", pa.bool_(), "Map-Referral I (incomplete) bit; null for other types."),
        _f("signature_count", pa.uint8(), "Map-Referral signature count; null for other types."),
        _f("reserved", pa.uint16(), "Reserved bits after A as on the wire."),
        _f("map_version", pa.uint16(), "12-bit Map-Version number (0 = none)."),
        _f("locator_count", pa.uint16(), "Number of locators: rows in `locators` for this record."),
        _f(
            "negative",
            pa.bool_(),
            "True for a negative mapping (a `mapping` record with no "
            "locators); null for `request` rows.",
        ),
        _f("notify_requested", pa.bool_(), "Map-Request record N bit; null for other sections."),
    ],
)

LOCATORS = _schema(
    "locators",
    "One row per locator (RLOC) of an EID record.",
    [
        *_frame(),
        _f("msg_index", pa.uint16(), "`control.msg_index` of the message.", nullable=False),
        _f("record_index", pa.uint16(), "`records.record_index` of the record.", nullable=False),
        _f(
            "locator_index",
            pa.uint16(),
            "Index of the locator in its record (0-based).",
            nullable=False,
        ),
        _msg_type(),
        _f("eid", pa.string(), "The record's EID prefix, canonical (copied for joins)."),
        _f("address", pa.string(), "Locator address, canonical (LCAF forms included)."),
        _f("address_afi", pa.uint16(), "AFI of the locator."),
        _f("address_lcaf_type", pa.uint8(), "LCAF type of the locator; null unless AFI 16387."),
        _f(
            "address_bin",
            ADDR_BIN,
            "Locator as 16 bytes (IPv4-mapped); null unless an IP address "
            "(an Instance-ID LCAF counts as its address).",
        ),
        _f("priority", pa.uint8(), "Unicast priority (255 = do not use)."),
        _f("weight", pa.uint8(), "Unicast weight."),
        _f("m_priority", pa.uint8(), "Multicast priority."),
        _f("m_weight", pa.uint8(), "Multicast weight."),
        _f("local", pa.bool_(), "L: the locator is local to the sender."),
        _f("probed", pa.bool_(), "p: this locator was RLOC-probed."),
        _f("reachable", pa.bool_(), "R: the sender can reach the locator."),
        _f("unused_flags", pa.uint16(), "The 13 unused flag bits, as on the wire (mask 0xfff8)."),
    ],
)

DATA = _schema(
    "data",
    "One row per LISP data-plane header (a plain data packet has one row; "
    "LISP-in-LISP one per header, `level` 0 outermost).",
    [
        *_frame(),
        _f(
            "level",
            pa.uint8(),
            "Position of this header: 0 outermost, 1 the next one inside ...",
            nullable=False,
        ),
        _f(
            "depth",
            pa.uint8(),
            "LISP data headers in the frame (1 = a plain data packet).",
            nullable=False,
        ),
        _f("gpe", pa.bool_(), "True if decoded as LISP-GPE (P bit set).", nullable=False),
        _f("n", pa.bool_(), "N: nonce present.", nullable=False),
        _f("l", pa.bool_(), "L: Locator-Status-Bits enabled.", nullable=False),
        _f("e", pa.bool_(), "E: echo-nonce request.", nullable=False),
        _f("v", pa.bool_(), "V: map-versions present.", nullable=False),
        _f("i", pa.bool_(), "I: Instance ID present.", nullable=False),
        _f(
            "p",
            pa.bool_(),
            "Bit 5: R (RFC 9300, reserved) / P (RFC 9305, Next Protocol present).",
            nullable=False,
        ),
        _f(
            "key_phase",
            pa.uint8(),
            "KK (RFC 8061): 0 clear, 1/2 key 1/2, 3 reserved.",
            nullable=False,
        ),
        _f(
            "nonce_map_version",
            pa.uint32(),
            "The 24-bit Nonce/Map-Version field, raw.",
            nullable=False,
        ),
        _f("iid_lsbs", pa.uint32(), "The 32-bit Instance ID/LSBs field, raw.", nullable=False),
        _f("nonce", pa.uint32(), "Nonce (24 bits; 16 with P); null unless N (or E)."),
        _f("source_map_version", pa.uint16(), "Source Map-Version (12 bits); null unless V."),
        _f("dest_map_version", pa.uint16(), "Destination Map-Version (12 bits); null unless V."),
        _f("iid", pa.uint32(), "Instance ID (24 bits); null unless I."),
        _f("lsb", pa.uint32(), "Locator-Status-Bits (8 with I, else 32); null unless L."),
        _f(
            "next_protocol",
            pa.uint8(),
            "LISP-GPE Next Protocol (1 IPv4, 2 IPv6, 3 Ethernet); null unless P.",
        ),
        _f(
            "payload_kind",
            pa.string(),
            "What follows this header: `ipv4`, `ipv6`, `ethernet`, "
            "`lisp-data` (another header), `control` (a control message, see `control.via_data`), "
            "`encrypted`, `raw`.",
            nullable=False,
        ),
        _f("inner_ip_version", pa.uint8(), "Version of the IP header after this LISP header."),
        *_addr("inner_src", "Source EID (the IP source after this LISP header)"),
        *_addr("inner_dst", "Destination EID (the IP destination after this LISP header)"),
        _f(
            "inner_protocol",
            pa.uint8(),
            "Inner IP protocol / IPv6 next header after the extension headers.",
        ),
        _f("inner_src_port", pa.uint16(), "Inner UDP/TCP/SCTP source port."),
        _f("inner_dst_port", pa.uint16(), "Inner UDP/TCP/SCTP destination port."),
        _f(
            "inner_length",
            pa.uint32(),
            "Bytes after this LISP header (the inner packet as captured, "
            "or as its IP length field says when truncated).",
        ),
        *_anomalies("this header and its payload"),
    ],
)

MOBILITY = _schema(
    "mobility",
    "One row per IPv6 Mobility Header message.",
    [
        *_frame(),
        *_addr("src", "IPv6 source address of the packet (the care-of address for a BU)"),
        *_addr("dst", "IPv6 destination address of the packet (the final one after a Type 2 RH)"),
        _f("mh_type", pa.uint8(), "MH Type (5 BU, 6 BA, 7 BE, ...).", nullable=False),
        _f("type_name", pa.string(), "Name of the type (`Binding Update`, ...).", nullable=False),
        _f(
            "label",
            pa.string(),
            "Short name: BU, PBU (P set), LBU (HMIPv6, M set), BA, PBA, BE, BRI, BRA, ...",
            nullable=False,
        ),
        _f("payload_proto", pa.uint8(), "Payload Proto (59 expected)."),
        _f("header_len", pa.uint8(), "Header Len (8-octet units, excluding the first 8)."),
        _f("checksum", pa.uint16(), "MH checksum as received."),
        _f(
            "checksum_ok",
            pa.bool_(),
            "Checksum verified with the pseudo-header (HoA / RH2 "
            "addresses); null if it could not be checked.",
        ),
        _f(
            "sequence",
            pa.uint32(),
            "Sequence number (16 bits; 32 bits in a Heartbeat); null for types without one.",
        ),
        _f(
            "lifetime",
            pa.uint16(),
            "Lifetime field as on the wire (4-second units for BU/BA/FBU/FBack).",
        ),
        _f("lifetime_s", pa.uint32(), "Lifetime in seconds (`lifetime` times its unit)."),
        _f("status", pa.uint8(), "Status (BA, BE, FBack, LRA) or BRI trigger / BRA status."),
        _f("status_name", pa.string(), "Name of `status` (IANA names, rfc5213 dialect)."),
        _flag("a", "BU/FBU A (acknowledge requested)"),
        _flag("h", "BU/FBU H (home registration)"),
        _flag("l", "BU/FBU L (link-local address compatibility)"),
        _flag("k", "BU/BA/FBU/FBack K (key management mobility capability)"),
        _flag("m", "BU M (HMIPv6 MAP registration: an LBU)"),
        _flag("r", "BU/BA R (NEMO mobile router) / Heartbeat R (response)"),
        _flag("p", "BU/BA P (proxy registration: PBU/PBA) / BRI-BRA P (proxy binding)"),
        _flag("f", "BU F (forced UDP encapsulation, DSMIPv6)"),
        _flag("t", "BU/BA T (TLV-header format, RFC 5845)"),
        _flag("b", "BU/BA B (bulk binding, RFC 6602)"),
        _flag("u", "Heartbeat U (unsolicited) / HI U (buffer) / LRA U"),
        _flag("s", "HI S (assigned address configuration)"),
        _flag("v", "BRI V (IPv4 HoA binding only)"),
        _flag("g", "BRI G (global revocation)"),
        _f("code", pa.uint8(), "HI / HAck Code; null for other types."),
        _f("br_type", pa.uint8(), "Binding Revocation type (1 BRI, 2 BRA); null otherwise."),
        _f(
            "home_address",
            pa.string(),
            "Home address: Home Address destination option or Type 2 "
            "Routing Header (RFC 5952); null if absent.",
        ),
        _f("home_address_bin", ADDR_BIN, "`home_address` as 16 bytes."),
        _f("alternate_coa", pa.string(), "Alternate Care-of Address option."),
        _f("alternate_coa_bin", ADDR_BIN, "`alternate_coa` as 16 bytes."),
        _f("mn_id", pa.string(), "Mobile Node Identifier option (NAI as text, else hex)."),
        _f("hnp", _list(pa.string()), "Home Network Prefix options, `prefix/len` (RFC 5952)."),
        _f("handoff_indicator", pa.uint8(), "Handoff Indicator option value."),
        _f("access_tech_type", pa.uint8(), "Access Technology Type option value."),
        _f(
            "timestamp",
            pa.uint64(),
            "Timestamp option, raw 64 bits (48 bits seconds, 16 bits 1/65536 s).",
        ),
        _f("ipv4_home_address", pa.string(), "IPv4 Home Address (request/reply) option address."),
        _f(
            "option_types",
            _list(pa.uint8()),
            "Mobility option types in wire order (PadN included).",
        ),
        _f(
            "options",
            _list(pa.string()),
            "Mobility option names in wire order (`type-N` for unknown ones).",
        ),
        *_anomalies("this Mobility Header"),
    ],
)

ND_MAP = _schema(
    "nd_map",
    "One row per HMIPv6 MAP option (ICMPv6 ND option 23) in a Router Advertisement.",
    [
        *_frame(),
        *_addr("router", "Source of the Router Advertisement"),
        _f(
            "option_index",
            pa.uint8(),
            "Index of the option among the RA's options.",
            nullable=False,
        ),
        _f("dist", pa.uint8(), "Dist (distance, 4 bits; 0 is an anomaly).", nullable=False),
        _f("pref", pa.uint8(), "Pref (preference, 4 bits).", nullable=False),
        _f("r", pa.bool_(), "R: the MN must form an RCoA from the MAP's prefix.", nullable=False),
        _f("valid_lifetime", pa.uint32(), "Valid Lifetime in seconds.", nullable=False),
        *_addr("map_address", "Global IPv6 address of the MAP"),
        _f("length", pa.uint8(), "Option Length field (8-octet units).", nullable=False),
        _f("length_ok", pa.bool_(), "True iff Length is 3.", nullable=False),
        _f("router_lifetime", pa.uint16(), "Router Lifetime of the RA in seconds."),
        *_anomalies("this option"),
    ],
)

SCHEMAS: dict[str, pa.Schema] = {
    "packets": PACKETS,
    "control": CONTROL,
    "records": RECORDS,
    "locators": LOCATORS,
    "data": DATA,
    "mobility": MOBILITY,
    "nd_map": ND_MAP,
}
TABLES: tuple[str, ...] = tuple(SCHEMAS)


def schema(table: str) -> pa.Schema:
    """The schema of ``table``; ``KeyError`` names the known tables."""
    try:
        return SCHEMAS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r} (tables: {', '.join(TABLES)})") from None


# -- building batches ------------------------------------------------------------------------


def make_batch(
    table: str, columns: Mapping[str, Any], num_rows: int | None = None
) -> pa.RecordBatch:
    """A record batch of ``table`` from columns (arrays, numpy arrays or Python lists).

    Columns left out are filled with nulls (nullable ones only; a missing non-nullable column is
    a ``ValueError``); unknown names are a ``ValueError``. ``num_rows`` is needed only when
    every column is left out.
    """
    sch = schema(table)
    unknown = set(columns) - set(sch.names)
    if unknown:
        raise ValueError(f"{table}: unknown columns {sorted(unknown)}")
    if num_rows is None:
        if not columns:
            raise ValueError(f"{table}: give num_rows when no column is given")
        num_rows = len(next(iter(columns.values())))
    arrays = []
    for fld in sch:
        if fld.name in columns:
            value = columns[fld.name]
            if isinstance(value, pa.ChunkedArray):
                value = value.combine_chunks()
            if isinstance(value, pa.Array):
                arr = value if value.type == fld.type else value.cast(fld.type)
            else:
                arr = pa.array(value, type=fld.type)
            if len(arr) != num_rows:
                raise ValueError(f"{table}.{fld.name}: {len(arr)} values, expected {num_rows}")
            if not fld.nullable and arr.null_count:
                raise ValueError(f"{table}.{fld.name}: nulls in a non-nullable column")
        elif fld.nullable:
            arr = pa.nulls(num_rows, type=fld.type)
        else:
            raise ValueError(f"{table}: column {fld.name!r} is required")
        arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, schema=sch)


def conform(table: str, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
    """``batch`` with exactly the schema of ``table`` (safe casts only), else ``ValueError``."""
    sch = schema(table)
    if batch.schema.names != sch.names:
        missing = [n for n in sch.names if n not in batch.schema.names]
        extra = [n for n in batch.schema.names if n not in sch.names]
        raise ValueError(
            f"{table}: columns differ from the schema (missing {missing}, "
            f"extra {extra}, or out of order)"
        )
    if batch.schema.equals(sch, check_metadata=True):
        return batch
    try:
        arrays = [
            col if col.type == fld.type else col.cast(fld.type)
            for col, fld in zip(batch.columns, sch, strict=True)
        ]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{table}: {exc}") from None
    for arr, fld in zip(arrays, sch, strict=True):
        if not fld.nullable and arr.null_count:
            raise ValueError(f"{table}.{fld.name}: nulls in a non-nullable column")
    if isinstance(batch, pa.Table):
        return pa.Table.from_arrays(arrays, schema=sch)
    return pa.RecordBatch.from_arrays(arrays, schema=sch)


# -- the address encoding --------------------------------------------------------------------

_V4_PREFIX = bytes(10) + b"\xff\xff"
_V4_WORD = np.frombuffer(b"\x00\x00\xff\xff", dtype=np.uint32)[0]


def ip_bin(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bytes | None:
    """The ``*_bin`` value of an IP address (IPv4-mapped for IPv4); None for None."""
    if address is None:
        return None
    ip = ipaddress.ip_address(address)
    return _V4_PREFIX + ip.packed if ip.version == 4 else ip.packed


def prefix_bounds(
    prefix: str | ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> tuple[bytes, bytes]:
    """``(first, last)`` ``*_bin`` values of an IP prefix: the ``*_bin``/``*_end_bin`` pair.

    Host bits are ignored (``10.0.0.1/24`` gives the bounds of ``10.0.0.0/24``), as a mask
    length applies to an EID however its host bits are set.
    """
    net = ipaddress.ip_network(prefix, strict=False)
    first, last = net.network_address.packed, net.broadcast_address.packed
    if net.version == 4:
        return _V4_PREFIX + first, _V4_PREFIX + last
    return first, last


def nullable_array(values: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    """An Arrow array of the numpy ``values`` cast to ``type_`` (an integer type), null where
    ``valid`` is false: the validity bitmap is packed by numpy (``pa.array(..., mask=)`` costs
    about 7x as much)."""
    data = np.ascontiguousarray(values, dtype=type_.to_pandas_dtype())
    n = len(data)
    valid = np.asarray(valid, dtype=bool)
    nulls = n - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    return pa.Array.from_buffers(type_, n, [bitmap, pa.py_buffer(data)], null_count=nulls)


def ipv4_bin_array(addresses: np.ndarray) -> pa.FixedSizeBinaryArray:
    """``*_bin`` column from IPv4 addresses as integers (host order, e.g. ``np.uint32``).

    Vectorised: no Python object per row. Use ``pa.FixedSizeBinaryArray.from_buffers`` the same
    way for IPv6 addresses held as an ``(n, 16)`` ``uint8`` array.
    """
    n = len(addresses)
    out = np.zeros((n, 16), dtype=np.uint8)
    out[:, 10:12] = 0xFF
    out[:, 12:] = np.asarray(addresses, dtype=">u4").view(np.uint8).reshape(n, 4)
    return pa.FixedSizeBinaryArray.from_buffers(ADDR_BIN, n, [None, pa.py_buffer(out)])


def ipv6_bin_array(addresses: np.ndarray) -> pa.FixedSizeBinaryArray:
    """``*_bin`` column from IPv6 addresses as an ``(n, 16)`` ``uint8`` array (one copy)."""
    arr = np.ascontiguousarray(addresses, dtype=np.uint8).reshape(-1, 16)
    return pa.FixedSizeBinaryArray.from_buffers(ADDR_BIN, len(arr), [None, pa.py_buffer(arr)])


def canonical_from_bin(
    addresses: np.ndarray,
    present: np.ndarray | None = None,
    ipv6: np.ndarray | None = None,
) -> pa.StringArray:
    """Canonical strings for an ``(n, 16)`` ``uint8`` array of ``*_bin`` addresses.

    Vectorised over the distinct addresses (a capture has few): each is rendered once. Rows
    where ``present`` is false are null. An IPv4-mapped value renders as IPv4 dotted quad unless
    ``ipv6`` is true for the row (a real IPv6 header carrying ``::ffff:a.b.c.d``, which the
    binary form cannot tell apart: the string keeps the difference).
    """
    arr = np.ascontiguousarray(addresses, dtype=np.uint8).reshape(-1, 16)
    n = len(arr)
    if n == 0:
        return pa.array([], pa.string())
    if _addrtext is not None:
        # per row 4: IPv4 text if IPv4-mapped (else IPv6), 6: IPv6 text, 0: null
        if ipv6 is None:
            forms = np.full(n, 4, np.uint8)
        else:
            forms = np.asarray(ipv6, dtype=bool).view(np.uint8) * np.uint8(2) + np.uint8(4)
        if present is not None:
            forms *= np.asarray(present, dtype=bool).view(np.uint8)
        offsets, data, valid, nulls = _addrtext.render(arr, forms)
        return pa.StringArray.from_buffers(
            n,
            pa.py_buffer(offsets),
            pa.py_buffer(data),
            None if valid is None else pa.py_buffer(valid),
            nulls,
        )
    words = arr.view(np.uint32)  # (n, 4) native order: only compared, never interpreted
    mapped = (words[:, 0] == 0) & (words[:, 1] == 0) & (words[:, 2] == _V4_WORD)
    inverse = np.empty(n, dtype=np.int32)
    # IPv4: unique over the last 32-bit word (fast); the rest: unique over 16-byte values
    uniq4, inv4 = np.unique(words[mapped, 3], return_inverse=True)
    quads = uniq4.astype(np.uint32).view(np.uint8).reshape(-1, 4)
    names = [socket.inet_ntop(socket.AF_INET, q.tobytes()) for q in quads]
    inverse[mapped] = inv4.ravel()
    if not mapped.all():
        other = ~mapped
        keys = np.ascontiguousarray(arr[other])
        fsb = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(16), len(keys), [None, pa.py_buffer(keys)]
        )
        enc = pc.dictionary_encode(fsb)  # a hash: faster than sorting 16-byte values
        inverse[other] = enc.indices.to_numpy() + len(names)
        names += [socket.inet_ntop(socket.AF_INET6, k) for k in enc.dictionary.to_pylist()]
    mask = None if present is None else ~np.asarray(present, dtype=bool)
    indices = pa.array(inverse, mask=mask)
    out = pa.DictionaryArray.from_arrays(indices, pa.array(names, pa.string())).cast(pa.string())
    if ipv6 is not None:
        fix = np.flatnonzero(mapped & np.asarray(ipv6, dtype=bool) & (mask is None or ~mask))
        if len(fix):
            values = out.to_pylist()
            for i in fix:
                values[i] = socket.inet_ntop(socket.AF_INET6, arr[i].tobytes())
            out = pa.array(values, pa.string())
    return out


# -- the generated documentation -------------------------------------------------------------

_INTRO = """\
# Decoded tables

Generated from `lisptrace/tables/schema.py` by `python -m lisptrace.tables`; a test keeps
this file equal to the code. Schema version: **{version}** (in every file's Arrow schema
metadata as `lisptrace.schema_version`, and in `manifest.json`).

`lisptrace decode CAPTURE... -o OUT` writes one file per table into `OUT/`
(`packets.parquet`, `control.parquet`, ... or `*.arrow` with Arrow IPC) and a `manifest.json`
(schema version, rows per table, source captures, time span, anomaly counts). Read them with
`lisptrace.open(OUT)`; `lisptrace.open("trace.pcap")` decodes a capture into a temporary
directory (removed with the returned object) and opens that:

```python
import lisptrace, duckdb
d = lisptrace.open("OUT")
d.manifest["rows"]                       # {'packets': 1200, 'control': 35, ...}
d.packets                                # Parquet: pyarrow.dataset.Dataset; IPC: pyarrow.Table
c = d.table("control")                   # always a pyarrow.Table (IPC: memory-mapped)
duckdb.sql("select type_name, count(*) from c group by 1")
```

With Parquet output, each table is a `pyarrow.dataset.Dataset` (read lazily, with column
projection and filter push-down: `d.records.to_table(columns=[...], filter=...)`); with Arrow
IPC output each table is a `pyarrow.Table` memory-mapped from its file (no read, no copy).
DuckDB queries both directly (`c = d.control; duckdb.sql("select * from c")`), and
`d.table(name).to_pandas(types_mapper=pandas.ArrowDtype)` gives pandas columns backed by the
same Arrow buffers.

## Joins

Every row carries `frame` (1-based frame number) and `time_ns` (capture time, ns since the Unix
epoch, UTC). Control-plane rows join on `(frame, msg_index)` (`control` -> `records`) and
`(frame, msg_index, record_index)` (`records` -> `locators`).

## Addresses

Every address column holds the codecs' **canonical string**: IPv4 dotted quad, IPv6 RFC 5952
(lower case, longest zero run compressed), EID prefixes as `addr/len`, LCAFs in the forms of
docs/dissectors.md (`[1000]10.0.0.0/24` for Instance ID 1000, `(s/len,d/len)`, `nat[...]`,
...). Equal addresses are equal strings, so strings are the join key between tables and
against user input.

Beside every IP address or EID prefix there is a binary form, `*_bin`, for prefix tests: 16
bytes, IPv6 as is and IPv4 as the IPv4-mapped address `::ffff:a.b.c.d`, so both families live in
one column type, sort in address order, and never collide with each other. EID prefixes have
two of them, the first and the last address of the prefix (`eid_bin`, `eid_end_bin`), plus the
wire mask length (`eid_mask_len`, 0-32 for IPv4), the AFI and the Instance ID (`eid_iid`), so

- "is address A in this EID prefix" is `eid_bin <= A AND A <= eid_end_bin` (plus
  `eid_iid` equality when Instance IDs matter), a byte comparison that DuckDB, pandas/Arrow and
  Parquet statistics all do natively;
- longest-prefix match is that test ordered by `eid_mask_len` descending (within one family);
- `lisptrace.tables.prefix_bounds("10.0.0.0/8")` gives the two bounds for a literal prefix and
  `lisptrace.tables.ip_bin("10.1.2.3")` a literal address.

The `*_bin` of an address inside an Instance-ID LCAF is that of the address (the IID has its own
column); for other non-IP forms (MAC, names, other LCAFs) it is null.

## Writing (for the ingest path)

`lisptrace.tables.DecodedWriter(OUT, fmt="parquet"|"arrow", tables=..., sources=[...])` takes
record batches one at a time (`w.write("packets", batch)`, any table, any order), buffers at
most `row_group_rows` (65,536) rows and `row_group_bytes` (16 MiB of Arrow data, reached first
by wide rows such as `control`'s) per table and writes them as one Parquet row group or IPC
record batch when the next batch would not fit, or one the size of the last would not (a larger
batch alone is cut into row groups of `row_group_rows`), and writes `manifest.json` on `close()`
(or at the end of a `with` block; an exception removes the partial output instead).
`make_batch(table, columns)` builds a batch from numpy arrays / Arrow arrays / lists, filling
omitted nullable columns with nulls; `ipv4_bin_array`, `ipv6_bin_array` and `canonical_from_bin`
make the two address forms from numpy columns without a Python object per row (strings are
rendered once per distinct address, or all at once by the compiled renderer);
`nullable_array(values, valid, type)` an integer column with nulls where `valid` is false.

## `manifest.json`

Written last (a directory without it is not a decoded output and `lisptrace.open` refuses it
with a one-line `lisptrace.tables.NotDecodedError`, a `ValueError`):

| field | meaning |
|---|---|
| `kind` | always `lisptrace-decoded` |
| `schema_version` | the schema version of the tables (must equal the reader's) |
| `format` | `parquet` (zstd) or `arrow` (Arrow IPC file format, uncompressed: memory-mappable) |
| `tables` | table name -> file name (a `--tables` decode lists fewer; `packets` always) |
| `rows` | table name -> number of rows |
| `frames` | rows of `packets` = frames read |
| `sources` | input capture names; `packets.source` indexes this list |
| `time_span_ns` | `[first, last]` `time_ns` of the frames, null if there are none |
| `errors` | frames with a non-null `error` |
| `layers` | `packets.layer` value -> frames |
| `anomalies` | anomaly code -> occurrences in `packets.anomalies` |
| `auth_checked` | whether HMACs were verified with a key file (the keys are never written) |

The decode adds `warnings` (the capture readers' and the reassembler's, one line each),
`truncated` (whether an input was cut) and `ports` (`control`, `data`, `gpe`: the ports it took
for LISP, as `--control-port`, `--data-port` and `--gpe-port` set them). Other callers of
`DecodedWriter.close(extra=...)` may add fields of their own; names that could carry a secret
are refused.

## Types

Integers have their wire width (unsigned); flags are booleans; a flag or field that the
message type does not have is null, never false or 0. Keys and authentication data are never
written: only their lengths and the verification result.
"""


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_fixed_size_binary(t):
        return f"binary({t.byte_width})"
    if pa.types.is_list(t):
        return f"list<{_type_name(t.value_type)}>"
    return str(t)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def schema_markdown() -> str:
    """The text of docs/tables.md."""
    out = [_INTRO.replace("{version}", str(SCHEMA_VERSION))]
    for name, sch in SCHEMAS.items():
        out.append(f"\n## `{name}`\n\n{sch.metadata[META_DOC].decode()}\n\n")
        out.append("| column | type | null | meaning |\n|---|---|---|---|\n")
        for fld in sch:
            doc = fld.metadata[META_DOC].decode()
            null = "yes" if fld.nullable else "no"
            out.append(f"| `{fld.name}` | {_type_name(fld.type)} | {null} | {_cell(doc)} |\n")
    return "".join(out)
