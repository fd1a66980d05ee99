"""The decode stage: capture files -> the seven Arrow tables, streamed batch by batch.

For every merged :class:`~lisptrace.ingest.frames.FrameBatch` and its layer columns (the
reading stage, :class:`~lisptrace.ingest.reading.Reading`, computes them on its own thread with
one reassembler across the whole stream):

* ``packets``: one row per frame, always, built from the layer columns with numpy;
* ``data``: the common case (8-byte LISP header, not encrypted, not GPE, inner IPv4 without
  options or IPv6 without extension headers, whole and consistent) **vectorised** over the
  batch buffer; everything else (nested LISP, GPE, L2, encrypted, IID 0xFFFFFF, odd inner
  headers, inner UDP with a checksum to verify) through :func:`dissectors.lisp.data.parse_data`;
* ``control``/``records``/``locators``: through the codecs. A payload whose shape was seen
  before (a bounded cache keyed by the bytes with the nonce and, without keys, the
  Authentication Data blanked: :func:`_shape_key`) costs a lookup: its rows are taken from an
  Arrow table of the cached payloads' rows, with its own nonces patched in. The others are
  decoded in two shares, one in a worker process (both cores; the share adapts) that sends
  back Arrow record batches. ECM inner messages are rows of their own
  (``parent_index``/``depth``), control messages inside data packets too; HMACs are
  verified with a :class:`~lisptrace.ingest.keys.KeyRing`; LISP over TCP 4342: the
  segment's payload is decoded when it holds whole messages;
* ``mobility``/``nd_map``: through the Mobile IPv6 codecs with the checksum addresses of
  :meth:`Layers.checksum_addresses`.

Nothing here holds more than one batch of rows (each writer thread takes at most two batches
behind, the reading stage one ahead): memory does not grow with the capture. The rows of every
table are ordered by frame.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing as mp
import operator
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

import dissectors.lisp  # noqa: F401  (registers every control message type and LCAF)
from dissectors.core import Anomaly, DecodeError, Reader
from dissectors.inet import EthernetFrame, IpPacket, UdpDatagram
from dissectors.lisp.afi import Address
from dissectors.lisp.auth import verify
from dissectors.lisp.data import DataHeader, DataPacket, parse_data
from dissectors.lisp.ecm import EncapsulatedControlMessage, SharedExtension
from dissectors.lisp.info import Info
from dissectors.lisp.lcaf import InstanceId, Lcaf, NatTraversal
from dissectors.lisp.map_referral import MapReferral
from dissectors.lisp.map_request import MapRequest
from dissectors.lisp.message import ControlMessage, UnknownControl, parse_control, read_control
from dissectors.lisp.records import Action, EidRecord, ReferralAction
from lisptrace.ingest.anomalies import LISP_TCP_NOT_WHOLE
from lisptrace.ingest.frames import FrameBatch
from lisptrace.ingest.keys import KeyRing
from lisptrace.ingest.layers import (
    ETH_VLAN,
    Fragmentation,
    Kind,
    Layers,
    Ports,
    _gather,
    decode_layers,
)
from lisptrace.ingest.reading import BATCH_FRAMES, Reading
from lisptrace.ingest.reassembly import Reassembler
from lisptrace.kernels import block_cache, load
from lisptrace.tables import (
    DecodedWriter,
    canonical_from_bin,
    ipv6_bin_array,
    make_batch,
    nullable_array,
    schema,
)
from lisptrace.tables.schema import TABLES

_fastpath = load("lisptrace.ingest._fastpath")  # C twin of _fast_data (None: not built, or pure)

if TYPE_CHECKING:
    from dissectors.mip6.mh import MobilityMessage

__all__ = ["DecodeSummary", "Progress", "decode", "decode_batch"]

CACHE_ENTRIES = 4096  # distinct control payloads remembered (then the cache starts over)
LAYER_NAMES = {
    Kind.OTHER: "",
    Kind.LISP_CONTROL: "lisp",
    Kind.LISP_DATA: "lisp-data",
    Kind.LISP_GPE: "lisp-gpe",
    Kind.LISP_TCP: "lisp-tcp",
    Kind.MIP6: "mip6",
    Kind.ICMPV6_RA: "icmpv6",
    Kind.FRAGMENT: "fragment",
    Kind.UNDECODABLE: "",
}
_LAYER_ARRAY = pa.array([LAYER_NAMES[Kind(k)] for k in range(len(Kind))], pa.string())
TYPE_NAMES = {
    1: "Map-Request",
    2: "Map-Reply",
    3: "Map-Register",
    4: "Map-Notify",
    5: "Map-Notify-Ack",
    6: "Map-Referral",
    8: "ECM",
    15: "Shared-Extension",
}

Progress = Callable[[int], None]  # called after each batch with the frames decoded so far


@dataclass(slots=True)
class DecodeSummary:
    """What one decode produced (also in ``OUT/manifest.json``)."""

    out: Path
    frames: int
    rows: dict[str, int]
    anomalies: dict[str, int]
    errors: int
    time_span_ns: tuple[int, int] | None
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    seconds: float = 0.0

    @property
    def packets_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        rows = ", ".join(f"{n} {t}" for t, n in self.rows.items() if t != "packets")
        total = sum(self.anomalies.values())
        span = "no frames"
        if self.time_span_ns is not None:
            lo, hi = self.time_span_ns
            span = (
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(lo / 1e9))
                + f" .. +{(hi - lo) / 1e9:.3f} s"
            )
        cut = " (capture truncated)" if self.truncated else ""
        return (
            f"{self.frames} frames -> {rows}; {total} anomalies, {self.errors} errors; "
            f"{span}; {self.seconds:.2f} s{cut}"
        )


# -- small helpers -------------------------------------------------------------------------------


def _anomaly_text(a: Anomaly) -> str:
    return f"{a.code}: {a.detail}" if a.detail else a.code


def _anomaly_columns(by_row: Mapping[int, Sequence[str]], n: int) -> tuple[pa.Array, pa.Array]:
    """``anomalies`` (codes only) and ``anomaly_details`` of ``n`` rows from the "code: detail"
    texts of the rows that have any (most have none: nothing is done per row for them)."""
    rows = sorted(i for i, texts in by_row.items() if texts)
    counts = np.zeros(n, np.int32)
    counts[rows] = [len(by_row[i]) for i in rows]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    codes: list[str] = []
    details: list[str] = []
    for i in rows:
        for text in by_row[i]:
            code, _, detail = text.partition(": ")
            codes.append(code)
            details.append(detail)
    off = pa.array(offsets)
    return (
        pa.ListArray.from_arrays(off, pa.array(codes, pa.string())),
        pa.ListArray.from_arrays(off, pa.array(details, pa.string())),
    )


def _no_anomalies(n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string()))


def _error_text(exc: DecodeError) -> str:
    return f"{type(exc).__name__}: {exc}"


def _ip_of(addr: Address | None) -> Any:
    """The ipaddress value inside an address (an Instance-ID LCAF counts as its address)."""
    if isinstance(addr, InstanceId):
        addr = addr.address
    return getattr(addr, "address", None) if addr is not None and addr.afi in (1, 2) else None


_V4_MAPPED = bytes(10) + b"\xff\xff"


def _ip_bin(ip: Any) -> bytes:
    """``*_bin`` of an ipaddress value (no text round trip)."""
    return _V4_MAPPED + ip.packed if ip.version == 4 else ip.packed


def _addr_bin(addr: Address | None) -> bytes | None:
    ip = _ip_of(addr)
    return None if ip is None else _ip_bin(ip)


def _addr_str(addr: Any) -> str | None:
    return None if addr is None else str(addr)


def _prefix_cols(name: str, addr: Address, mask_len: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: addr.prefix(mask_len),
        f"{name}_afi": addr.afi,
        f"{name}_mask_len": mask_len if 0 <= mask_len <= 255 else None,
    }
    if isinstance(addr, Lcaf):
        out[f"{name}_lcaf_type"] = addr.lcaf_type
    if isinstance(addr, InstanceId):
        out[f"{name}_iid"] = addr.iid
    ip = _ip_of(addr)
    if ip is not None:
        bits = ip.max_prefixlen
        if 0 <= mask_len <= bits:  # as lisptrace.tables.prefix_bounds, without parsing text
            host = (1 << (bits - mask_len)) - 1
            lo = int(ip) & ~host
            size = bits // 8
            first, last = lo.to_bytes(size, "big"), (lo | host).to_bytes(size, "big")
            if bits == 32:
                first, last = _V4_MAPPED + first, _V4_MAPPED + last
            out[f"{name}_bin"], out[f"{name}_end_bin"] = first, last
        else:
            out[f"{name}_bin"] = _ip_bin(ip)
    return out


def _action_name(value: int, referral: bool) -> str:
    try:
        enum = ReferralAction(value) if referral else Action(value)
    except ValueError:
        return f"action-{value}"
    return enum.name.lower().replace("_", "-")


# -- control messages --------------------------------------------------------------------------

_FLAG_ATTRS = (
    "authoritative",
    "probe",
    "smr",
    "pitr",
    "smr_invoked",
    "mobile_node",
    "nat_xtr",
    "local_xtr",
    "dont_map_reply",
    "echo_nonce_capable",
    "security",
    "hop_count",
    "proxy_map_reply",
    "lisp_sec",
    "want_map_notify",
    "encryption_key_id",
    "encrypt",
    "refresh",
    "ttl_as_timeout",
    "merge",
    "ddt_originated",
    "to_etr",
    "to_ms",
    "reserved",
    "nonce",
    "xtr_id",
    "site_id",
)


@dataclass(slots=True)
class _Decoded:
    """The rows one control payload gives (without frame, time and the outer addresses)."""

    control: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    locators: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)  # for the frame's packets row
    error: str | None = None
    error_offset: int | None = None
    slot: int = -1  # index in the batch decoder's _TemplateStore once cached
    # per control row: where in the payload its nonce is (-1: none / not patched); set when
    # the payload is cached under its shape (nonces and auth data blanked, see _shape_key)
    nonce_at: list[int] = field(default_factory=list)


def _message_row(msg: ControlMessage, length: int) -> dict[str, Any]:
    t = msg.type
    row: dict[str, Any] = {"type": t, "length": length}
    if isinstance(msg, Info):
        row["type_name"] = "Info-Reply" if msg.reply else "Info-Request"
    else:
        row["type_name"] = TYPE_NAMES.get(t, "unknown")
    for name in _FLAG_ATTRS:
        value = getattr(msg, name, None)
        if value is not None:
            row[name] = value
    if isinstance(msg, UnknownControl):
        row.pop("reserved", None)
    if isinstance(msg, MapRequest):
        row["map_data_present"] = msg.map_data_present
        row["xtr_id_present"] = msg.xtr_id_present
        row["itr_rloc_count"] = len(msg.itr_rlocs)
        row["source_eid"] = msg.source_eid.canonical()
        row["source_eid_bin"] = _addr_bin(msg.source_eid)
        row["source_eid_afi"] = msg.source_eid.afi
        row["itr_rlocs"] = [a.canonical() for a in msg.itr_rlocs]
        row["itr_rlocs_bin"] = [_addr_bin(a) for a in msg.itr_rlocs]
    elif hasattr(msg, "xtr_id_present"):
        row["xtr_id_present"] = msg.xtr_id_present  # type: ignore[attr-defined]
    if hasattr(msg, "built_for_rtr"):
        row["rtr"] = msg.built_for_rtr  # type: ignore[attr-defined]
    if hasattr(msg, "records"):
        row["record_count"] = len(msg.records)  # type: ignore[attr-defined]
    if hasattr(msg, "key_id"):
        kid = msg.key_id  # type: ignore[attr-defined]
        row["key_id"] = kid
        row["key_id_9301"] = kid >> 8
        row["algorithm_id"] = kid & 0xFF
        row["auth_len"] = len(msg.auth_data)  # type: ignore[attr-defined]
    ms_rtr = getattr(msg, "ms_rtr", None)
    if ms_rtr is not None:
        row["ms_rtr_key_id"] = ms_rtr.key_id
        row["ms_rtr_auth_len"] = len(ms_rtr.auth_data)
    if isinstance(msg, Info):
        row["info_reply"] = msg.reply
        row.update(_prefix_cols("info_eid", msg.eid, msg.eid_mask_len))
        row["info_ttl"] = msg.ttl
        row["info_body"] = msg.body.canonical()
        nat = msg.nat_traversal
        if isinstance(nat, NatTraversal):
            row["nat_global_etr"] = _addr_str(getattr(nat, "global_etr_rloc", None))
            row["nat_global_etr_port"] = nat.etr_udp_port
            row["nat_ms"] = _addr_str(getattr(nat, "ms_rloc", None))
            row["nat_ms_port"] = nat.ms_udp_port
            row["nat_private_etr"] = _addr_str(getattr(nat, "private_etr_rloc", None))
            row["nat_rtrs"] = [str(a) for a in getattr(nat, "rtr_rlocs", ())]
    if isinstance(msg, SharedExtension):
        row["shared_ext_subtype"] = msg.sub_type
    if isinstance(msg, EncapsulatedControlMessage):
        row.pop("nonce", None)
    return row


def _eids_of(msg: ControlMessage) -> list[tuple[int | None, str]]:
    out = []
    for rec in getattr(msg, "records", ()):
        rec = getattr(rec, "mapping", rec)
        eid = rec.eid
        iid = eid.iid if isinstance(eid, InstanceId) else None
        ip = _ip_of(eid)
        if ip is not None:
            out.append((iid, f"{ip}/{rec.eid_mask_len}"))
    if isinstance(msg, Info):
        ip = _ip_of(msg.eid)
        if ip is not None:
            out.append((msg.eid.iid if isinstance(msg.eid, InstanceId) else None, f"{ip}/0"))
    return out


def _record_rows(msg: ControlMessage, index: int, out: _Decoded) -> None:
    t = msg.type

    def mapping(rec: EidRecord, i: int, section: str, referral: bool, sigs: int | None) -> None:
        eid_cols = _prefix_cols("eid", rec.eid, rec.eid_mask_len)
        row = {
            "msg_index": index,
            "record_index": i,
            "msg_type": t,
            "section": section,
            **eid_cols,
            "ttl": rec.ttl,
            "action": rec.action,
            "action_name": _action_name(rec.action, referral),
            "authoritative": rec.authoritative,
            "reserved": rec.reserved,
            "map_version": rec.map_version,
            "locator_count": len(rec.locators),
            "negative": not rec.locators,
        }
        if referral:
            row["incomplete"] = rec.incomplete
            row["signature_count"] = sigs
        out.records.append(row)
        for k, loc in enumerate(rec.locators):
            a = loc.address
            out.locators.append(
                {
                    "msg_index": index,
                    "record_index": i,
                    "locator_index": k,
                    "msg_type": t,
                    "eid": eid_cols["eid"],
                    "address": a.canonical(),
                    "address_afi": a.afi,
                    "address_lcaf_type": a.lcaf_type if isinstance(a, Lcaf) else None,
                    "address_bin": _addr_bin(a),
                    "priority": loc.priority,
                    "weight": loc.weight,
                    "m_priority": loc.m_priority,
                    "m_weight": loc.m_weight,
                    "local": loc.local,
                    "probed": loc.probed,
                    "reachable": loc.reachable,
                    "unused_flags": loc.unused_flags,
                }
            )

    if isinstance(msg, MapRequest):
        for i, req in enumerate(msg.records):
            out.records.append(
                {
                    "msg_index": index,
                    "record_index": i,
                    "msg_type": t,
                    "section": "request",
                    **_prefix_cols("eid", req.eid, req.eid_mask_len),
                    "reserved": req.reserved,
                    "notify_requested": req.notify_requested,
                }
            )
        if msg.map_reply is not None:
            mapping(msg.map_reply, 0, "piggyback", False, None)
    elif isinstance(msg, MapReferral):
        for i, ref in enumerate(msg.records):
            mapping(ref.mapping, i, "mapping", True, len(ref.signatures))
    else:
        for i, rec in enumerate(getattr(msg, "records", ())):
            mapping(rec, i, "mapping", False, None)


def _walk_control(
    msg: ControlMessage,
    raw: bytes | None,
    keys: KeyRing | None,
    out: _Decoded,
    parent: int | None,
    depth: int,
    where: dict[str, Any],
) -> None:
    """Rows for ``msg`` and, for an ECM, its inner message (pre-order)."""
    index = len(out.control)
    body = raw if raw is not None else msg.build()
    row = _message_row(msg, len(body))
    row.update(msg_index=index, parent_index=parent, depth=depth, **where)
    texts = [_anomaly_text(a) for a in msg.anomalies]
    row["anomalies"] = texts
    out.anomalies.extend(texts)
    if keys is not None and hasattr(msg, "key_id") and getattr(msg, "auth_data", b""):
        key = keys.lookup(_eids_of(msg), msg.key_id)  # type: ignore[attr-defined]
        if key is not None:
            row["auth_ok"] = verify(body, key)
    out.control.append(row)
    _record_rows(msg, index, out)
    if isinstance(msg, EncapsulatedControlMessage):
        inner = msg.message
        udp = msg.udp
        if inner is not None and udp is not None:
            ip = msg.inner
            inner_where = {
                "src": str(ip.src),
                "src_bin": _ip_bin(ip.src),
                "dst": str(ip.dst),
                "dst_bin": _ip_bin(ip.dst),
                "src_port": udp.src_port,
                "dst_port": udp.dst_port,
                "via_data": where.get("via_data", False),
                "via_tcp": where.get("via_tcp", False),
            }
            inner_raw = udp.payload_bytes()
            _walk_control(inner, inner_raw, keys, out, index, depth + 1, inner_where)


def decode_control(payload: bytes, keys: KeyRing | None, via_tcp: bool = False) -> _Decoded:
    """Every row one control payload gives (one message; LISP over TCP: as many as it holds)."""
    out = _Decoded()
    where = {"via_data": False, "via_tcp": via_tcp}
    if not via_tcp:
        try:
            msg = parse_control(payload)
        except DecodeError as exc:
            out.error, out.error_offset = _error_text(exc), exc.offset
            return out
        _walk_control(msg, payload, keys, out, None, 0, where)
        return out
    r = Reader(payload)
    while r.pos < r.end:
        start = r.pos
        try:
            msg = read_control(r)
        except DecodeError as exc:
            out.anomalies.append(
                f"{LISP_TCP_NOT_WHOLE}: bytes {start}.. are not a whole control message "
                f"({exc.reason})"
            )
            return out
        if isinstance(msg, UnknownControl):
            out.anomalies.append(f"{LISP_TCP_NOT_WHOLE}: unknown message type at byte {start}")
            return out
        msg = _with_anomalies(msg, r, start)
        _walk_control(msg, payload[start : r.pos], keys, out, None, 0, where)
    return out


def _with_anomalies(msg: ControlMessage, r: Reader, start: int) -> ControlMessage:
    mine = tuple(a for a in r.anomalies if a.offset >= start)
    object.__setattr__(msg, "anomalies", mine)
    r.anomalies.clear()
    return msg


# -- the shape of a control payload (the cache key) --------------------------------------------

_NONCE_TYPES = frozenset((1, 2, 3, 4, 5, 6))  # the 64-bit nonce at bytes 4..11
_AUTH_TYPES = frozenset((3, 4, 5))  # Key ID, Auth Data Length, Auth Data at bytes 12..
_ZERO8 = bytes(8)


def _shape_key(payload: bytes, blank_auth: bool) -> tuple[bytes | tuple[bytes], int]:
    """The cache key of a control payload and where its nonces are.

    Map-Requests, -Replies, -Registers and -Notifies repeat on a network with a fresh nonce
    (and so fresh Authentication Data) each time: the key blanks the nonce (the outer one, or
    the inner one of an ECM whose inner UDP has no checksum to verify) and, when no HMAC is to
    be verified (``blank_auth``), the Authentication Data. Neither changes any other column
    nor any anomaly; the nonces are patched into the rows of each occurrence. A payload
    without a blanked field keys by its bytes (a ``bytes`` key; blanked keys are 1-tuples).
    The second value is the offset of the blanked nonce (-1: nothing was blanked)."""
    n = len(payload)
    if n < 12:
        return payload, -1
    t = payload[0] >> 4
    if t in _NONCE_TYPES:
        if t in _AUTH_TYPES and blank_auth and n >= 16:
            alen = int.from_bytes(payload[14:16], "big")
            if 0 < alen <= n - 16:
                return (b"".join((payload[:4], _ZERO8, payload[12:16], bytes(alen),
                                  payload[16 + alen :])),), 4  # fmt: skip
        return (payload[:4] + _ZERO8 + payload[12:],), 4
    if t == 8 and n >= 4 + 20 + 8 + 12 and payload[4] == 0x45 and payload[13] == 17:
        at = 4 + 20 + 8
        if payload[at - 2 : at] == b"\0\0" and (payload[at] >> 4) in _NONCE_TYPES:
            return (payload[: at + 4] + _ZERO8 + payload[at + 12 :],), at + 4
    return payload, -1


def _nonce_slots(d: _Decoded, payload: bytes, blanked: int) -> bool:
    """Set ``d.nonce_at`` from where each control row's nonce sits in ``payload``; False when
    a row's nonce is not at ``blanked`` (the payload is then not cached by its shape)."""
    value = int.from_bytes(payload[blanked : blanked + 8], "big")
    at: list[int] = []
    for row in d.control:
        nonce = row.get("nonce")
        if nonce is not None and nonce != value:
            return False
        at.append(-1 if nonce is None else blanked)
    if d.control and max(at) < 0:
        return False  # the blanked bytes are not a nonce of any row: key by the bytes
    d.nonce_at = at
    return True


# -- data packets through the codec -----------------------------------------------------------


def _inner_ports(ip: IpPacket) -> tuple[int | None, int | None]:
    p = ip.payload
    if isinstance(p, UdpDatagram):
        return p.src_port, p.dst_port
    if isinstance(p, bytes) and ip.protocol in (6, 132) and len(p) >= 4:
        return int.from_bytes(p[0:2], "big"), int.from_bytes(p[2:4], "big")
    return None, None


def _header_row(h: DataHeader, level: int) -> dict[str, Any]:
    return {
        "level": level,
        "gpe": h.p and h.next_protocol is not None,
        "n": h.nonce_present,
        "l": h.lsb_enabled,
        "e": h.echo_nonce_request,
        "v": h.map_version_present,
        "i": h.instance_id_present,
        "p": h.p,
        "key_phase": h.key_phase,
        "nonce_map_version": h.nonce_map_version,
        "iid_lsbs": h.iid_lsbs,
        "nonce": h.nonce,
        "source_map_version": h.source_map_version,
        "dest_map_version": h.dest_map_version,
        "iid": h.instance_id,
        "lsb": h.lsbs if h.lsb_enabled else None,
        "next_protocol": h.next_protocol,
    }


def decode_data(
    payload: bytes, keys: KeyRing | None, gpe: bool = False
) -> tuple[list[dict[str, Any]], _Decoded]:
    """The ``data`` rows (one per LISP header) and the control rows of one UDP/4341 payload."""
    ctl = _Decoded()
    rows: list[dict[str, Any]] = []
    try:
        pkt = parse_data(payload)
    except DecodeError as exc:
        ctl.error, ctl.error_offset = _error_text(exc), exc.offset
        if len(payload) >= 8:
            h = DataHeader.read(Reader(payload))
            row = _header_row(h, 0)
            row.update(depth=1, payload_kind="raw", inner_length=len(payload) - 8, anomalies=[])
            rows.append(row)
        return rows, ctl
    texts = [_anomaly_text(a) for a in pkt.anomalies]
    ctl.anomalies.extend(texts)
    level, cur, length = 0, pkt, len(payload) - 8
    while True:
        row = _header_row(cur.header, level)
        row["inner_length"] = length
        row["anomalies"] = texts if level == 0 else []
        rows.append(row)
        p: Any = cur.payload
        nxt: DataPacket | None = None
        if isinstance(p, EthernetFrame):
            row["payload_kind"] = "ethernet"
            p = p.payload
        if isinstance(p, IpPacket):
            row.setdefault("payload_kind", f"ipv{p.header.version}")
            row["inner_ip_version"] = p.header.version
            row["inner_src"], row["inner_dst"] = str(p.src), str(p.dst)
            row["inner_src_bin"], row["inner_dst_bin"] = _ip_bin(p.src), _ip_bin(p.dst)
            row["inner_protocol"] = p.protocol
            row["inner_src_port"], row["inner_dst_port"] = _inner_ports(p)
            udp = p.payload
            if isinstance(udp, UdpDatagram):
                if isinstance(udp.payload, DataPacket):
                    row["payload_kind"] = "lisp-data"
                    nxt = udp.payload
                    length = (udp.length or 8) - 16
                elif isinstance(udp.payload, ControlMessage):
                    where = {
                        "via_data": True,
                        "via_tcp": False,
                        "src": str(p.src),
                        "src_bin": _ip_bin(p.src),
                        "dst": str(p.dst),
                        "dst_bin": _ip_bin(p.dst),
                        "src_port": udp.src_port,
                        "dst_port": udp.dst_port,
                    }
                    _walk_control(udp.payload, None, keys, ctl, None, 0, where)
        elif isinstance(p, ControlMessage):
            row["payload_kind"] = "control"
            where = {"via_data": True, "via_tcp": False}
            _walk_control(p, None, keys, ctl, None, 0, where)
        elif "payload_kind" not in row:
            row["payload_kind"] = "encrypted" if cur.header.key_phase else "raw"
        if nxt is None:
            break
        cur, level = nxt, level + 1
    for row in rows:
        row["depth"] = len(rows)
    return rows, ctl


# -- the vectorised data path ----------------------------------------------------------------


def _be(cols: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    out = np.zeros(len(cols), np.int64)
    for k in range(cols.shape[1]):
        out = out << 8 | cols[:, k]
    return out


_DATA_W = 8 + 40 + 4  # LISP header + IPv6 header + the inner ports


def _fast_data(
    batch: FrameBatch, lay: Layers, rows: npt.NDArray[np.int64], ports: Ports
) -> tuple[dict[str, Any], npt.NDArray[np.bool_]]:
    """Columns of the ``data`` table for the plain rows among ``rows``; the mask of them."""
    if _fastpath is not None:
        return _fast_data_kernel(batch, lay, rows, ports)
    a = np.frombuffer(batch.buf, np.uint8)
    start = batch.offset[rows] + lay.payload_offset[rows]
    plen = lay.payload_length[rows].astype(np.int64)
    h = _gather(a, start, _DATA_W)
    f = h[:, 0]
    nmv = _be(h[:, 1:4])
    word = _be(h[:, 4:8])
    inner = h[:, 8:]
    n_, e_, v_, i_, p_ = (f & b != 0 for b in (0x80, 0x20, 0x10, 0x08, 0x04))
    kk = f & 0x03
    ok = (plen >= 8 + 20) & (kk == 0) & ~p_
    ok &= ~(e_ & ~n_) & ~(n_ & v_)  # the codec's anomalies: leave those rows to it
    ok &= ~(i_ & ((word >> 8) == 0xFFFFFF))
    ver = inner[:, 0] >> 4
    ilen = plen - 8
    # IPv4, no options, whole, not a fragment, header checksum right
    v4 = ok & (inner[:, 0] == 0x45)
    tlen4 = _be(inner[:, 2:4])
    v4 &= (tlen4 == ilen) & (((inner[:, 6] & 0x3F) | inner[:, 7]) == 0)
    w = inner[:, :20].copy().view(np.uint16)
    cs = w.astype(np.uint32).sum(axis=1)
    cs = (cs & 0xFFFF) + (cs >> 16)
    cs = (cs & 0xFFFF) + (cs >> 16)
    v4 &= cs == 0xFFFF
    # IPv6 without extension headers, whole
    nh6 = inner[:, 6]
    v6 = ok & (ver == 6) & (plen >= 8 + 40) & (_be(inner[:, 4:6]) + 40 == ilen)
    v6 &= ~np.isin(nh6, (0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254))
    proto = np.where(v4, inner[:, 9], nh6).astype(np.int64)
    hl = np.where(v4, 20, 40)
    t = np.where(v4[:, None], inner[:, 20:24], inner[:, 40:44])
    sp, dp = _be(t[:, 0:2]), _be(t[:, 2:4])
    ulen_at = start + 8 + hl + 4
    u = _gather(a, np.where(proto == 17, ulen_at, 0), 4)
    ulen, ucs = _be(u[:, 0:2]), _be(u[:, 2:4])
    upper = ilen - hl
    is_udp, is_tcp = proto == 17, proto == 6
    # UDP: consistent length, no checksum to verify (IPv4 checksum 0), not LISP inside
    udp_ok = (upper >= 8) & (ulen == upper) & (ucs == 0) & v4
    udp_ok &= (dp != ports.data) & (sp != ports.control) & (dp != ports.control)
    plain = (v4 | v6) & (~is_udp | udp_ok) & (proto != 2) & (~is_tcp | (upper >= 4))
    has_ports = plain & (is_udp | is_tcp | (proto == 132)) & (upper >= 4)
    m = plain
    addr = np.zeros((int(m.sum()), 2, 16), np.uint8)
    m4, m6 = v4[m], v6[m]
    inn = inner[m]
    addr[m4, 0, 10:12] = 0xFF
    addr[m4, 1, 10:12] = 0xFF
    addr[m4, 0, 12:] = inn[m4, 12:16]
    addr[m4, 1, 12:] = inn[m4, 16:20]
    addr[m6, 0] = inn[m6, 8:24]
    addr[m6, 1] = inn[m6, 24:40]
    per_row = (f, nmv, word, proto, sp, dp, has_ports, ilen)
    return _data_cols(batch, rows[m], *(x[m] for x in per_row), m6, addr[:, 0], addr[:, 1]), m


def _fast_data_kernel(
    batch: FrameBatch, lay: Layers, rows: npt.NDArray[np.int64], ports: Ports
) -> tuple[dict[str, Any], npt.NDArray[np.bool_]]:
    """:func:`_fast_data` by the C kernel (``_fastpath.data``): the same rows and columns."""
    assert _fastpath is not None
    start = np.ascontiguousarray(batch.offset[rows] + lay.payload_offset[rows], np.int64)
    plen = np.ascontiguousarray(lay.payload_length[rows], np.int64)
    n = len(rows)
    m = np.empty(n, np.bool_)
    u8, i64, b1 = np.uint8, np.int64, np.bool_
    # per plain row, in order (the first k items): flags byte, nonce/map-version, IID/LSBs
    # word, inner protocol, source and destination ports, has_ports, inner length, is-IPv6,
    # and the inner source and destination addresses
    out = [np.empty(n, t) for t in (u8, i64, i64, u8, i64, i64, b1, i64, b1)]
    out += [np.empty((n, 16), u8), np.empty((n, 16), u8)]
    k = _fastpath.data(batch.buf, start, plen, ports.control, ports.data, m, *out)
    return _data_cols(batch, rows[m], *(x[:k] for x in out)), m


_IP_KINDS = np.array([b"ipv4", b"ipv6"])


def _data_cols(
    batch: FrameBatch,
    rows: npt.NDArray[np.int64],
    f: npt.NDArray[np.uint8],
    nmv: npt.NDArray[np.int64],
    word: npt.NDArray[np.int64],
    proto: npt.NDArray[np.integer[Any]],
    sp: npt.NDArray[np.int64],
    dp: npt.NDArray[np.int64],
    has_ports: npt.NDArray[np.bool_],
    ilen: npt.NDArray[np.int64],
    is6: npt.NDArray[np.bool_],
    src: npt.NDArray[np.uint8],
    dst: npt.NDArray[np.uint8],
) -> dict[str, Any]:
    """The ``data`` columns of the plain rows (``rows``: their batch rows), from per-row values
    of both paths: the LISP flags byte, the 24-bit nonce/map-version field, the 32-bit IID/LSBs
    word, the inner protocol, ports (valid where ``has_ports``), length, family and the
    (n, 16) inner source and destination (IPv4-mapped for IPv4)."""
    nn, ll, ee, vv, ii, pp = (f & b != 0 for b in (0x80, 0x40, 0x20, 0x10, 0x08, 0x04))
    n = len(f)
    return {
        "frame": batch.number[rows],
        "time_ns": batch.time_ns[rows],
        "level": np.zeros(n, np.uint8),
        "depth": np.ones(n, np.uint8),
        "gpe": np.zeros(n, np.bool_),
        "n": nn,
        "l": ll,
        "e": ee,
        "v": vv,
        "i": ii,
        "p": pp,
        "key_phase": f & 0x03,
        "nonce_map_version": nmv,
        "iid_lsbs": word,
        "nonce": nullable_array(nmv, nn, pa.uint32()),
        "source_map_version": nullable_array(nmv >> 12, vv, pa.uint16()),
        "dest_map_version": nullable_array(nmv & 0xFFF, vv, pa.uint16()),
        "iid": nullable_array(word >> 8, ii, pa.uint32()),
        "lsb": nullable_array(np.where(ii, word & 0xFF, word), ll, pa.uint32()),
        "payload_kind": pa.StringArray.from_buffers(  # "ipv4"/"ipv6": 4 bytes each
            n,
            pa.py_buffer(np.arange(0, 4 * n + 1, 4, dtype=np.int32)),
            pa.py_buffer(_IP_KINDS[np.asarray(is6, bool).view(np.uint8)]),
        ),
        "inner_ip_version": np.where(is6, 6, 4).astype(np.uint8),
        "inner_src": canonical_from_bin(src, None, is6),
        "inner_src_bin": ipv6_bin_array(src),
        "inner_dst": canonical_from_bin(dst, None, is6),
        "inner_dst_bin": ipv6_bin_array(dst),
        "inner_protocol": proto.astype(np.uint8),
        "inner_src_port": nullable_array(sp, has_ports, pa.uint16()),
        "inner_dst_port": nullable_array(dp, has_ports, pa.uint16()),
        "inner_length": ilen,
        "anomalies": _no_anomalies(n),
        "anomaly_details": _no_anomalies(n),
    }


# -- one batch --------------------------------------------------------------------------------


POOL_MIN_MISSES = 128  # control payloads not in the cache that make a batch use the pool


def _decode_misses(
    payloads: list[bytes], keys: KeyRing | None
) -> tuple[dict[str, pa.RecordBatch], list[list[str]], list[tuple[str | None, int | None]]]:
    """Decode control payloads (in a worker process or here): one record batch per table
    whose ``frame`` is the payload's index in ``payloads``, and per payload its anomalies
    and error. Arrow batches cross the process boundary cheaply; row dicts would not."""
    rows: dict[str, list[tuple[int, dict[str, Any]]]] = {
        "control": [],
        "records": [],
        "locators": [],
    }
    anomalies: list[list[str]] = []
    errors: list[tuple[str | None, int | None]] = []
    for k, p in enumerate(payloads):
        d = decode_control(p, keys)
        for t in rows:
            rows[t].extend((k, r) for r in getattr(d, t))
        anomalies.append(d.anomalies)
        errors.append((d.error, d.error_offset))
    batches = {}
    for t, rs in rows.items():
        if rs:
            local = np.fromiter((k for k, _ in rs), np.int64, len(rs))
            batches[t] = _dict_batch(t, rs, None, None).set_column(
                0, schema(t).field("frame"), pa.array(local)
            )
    return batches, anomalies, errors


def _pool_init() -> None:  # pragma: no cover - runs in the worker
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(slots=True)
class _Extra:
    """Per-frame additions from the codecs, for the packets row."""

    anomalies: dict[int, list[str]] = field(default_factory=dict)
    error: dict[int, tuple[str, int | None]] = field(default_factory=dict)


class _Tables:
    """Rows of the non-packets tables gathered for one batch."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[int, dict[str, Any]]]] = {
            t: [] for t in ("control", "records", "locators", "data", "mobility", "nd_map")
        }


class BatchDecoder:
    """Decodes FrameBatches into record batches of the tables (keeps the control cache)."""

    def __init__(
        self,
        keys: KeyRing | None = None,
        ports: Ports | None = None,
        tables: Sequence[str] | None = None,
        *,
        vectorised: bool = True,
    ) -> None:
        self.vectorised = vectorised  # False: every data packet through the codec (tests)
        self.keys = keys
        self.ports = ports or Ports()
        self.tables = set(TABLES if tables is None else ("packets", *tables))
        self._cache: dict[bytes, _Decoded] = {}
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.use_pool = (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods()
        self._store = _TemplateStore()
        self._full = False
        self.cache_hits = 0
        self.shape_cache = True  # False: control payloads cached by their bytes only (tests)
        self._share = 0.6  # of a batch's control misses sent to the worker (adapts)

    def close(self) -> None:
        """Stop the worker process (if one was started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _submit(self, misses: list[tuple[int, bytes]]) -> tuple[Any, int]:
        """Send the first share of the misses to the worker process (if worth it): it decodes
        them while this process does the rest of the batch. (future or None, how many)."""
        if not (self.use_pool and len(misses) >= POOL_MIN_MISSES):
            return None, 0
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                1, mp_context=mp.get_context("fork"), initializer=_pool_init
            )
        half = int(len(misses) * self._share)
        return self._pool.submit(_decode_misses, [p for _, p in misses[:half]], self.keys), half

    def _misses(
        self,
        misses: list[tuple[int, bytes]],
        batch: FrameBatch,
        extra: _Extra,
        submitted: tuple[Any, int] = (None, 0),
    ) -> dict[str, pa.Table]:
        """Control payloads not in the cache: a share in the worker process, the rest here."""
        payloads = [p for _, p in misses]
        rows = np.array([i for i, _ in misses], np.int64)
        future, half = submitted
        parts = [(half, _decode_misses(payloads[half:], self.keys))]
        if future is not None:
            # balance the two processes: the worker takes more while it finishes first
            if future.done():
                self._share = min(0.95, self._share + 0.05)
            else:
                self._share = max(0.2, self._share - 0.05)
            parts.insert(0, (0, future.result()))
        out: dict[str, list[pa.Table]] = {}
        for base, (batches, anomalies, errors) in parts:
            for k, (texts, (err, off)) in enumerate(zip(anomalies, errors, strict=True)):
                i = int(rows[base + k])
                if texts:
                    extra.anomalies.setdefault(i, []).extend(texts)
                if err is not None:
                    extra.error[i] = (err, off)
            for t, b in batches.items():
                at = rows[base + b.column(0).to_numpy()]
                b = b.set_column(0, schema(t).field("frame"), pa.array(batch.number[at]))
                b = b.set_column(1, schema(t).field("time_ns"), pa.array(batch.time_ns[at]))
                out.setdefault(t, []).append(pa.Table.from_batches([b]))
        return {t: pa.concat_tables(v) for t, v in out.items()}

    def _first_sightings(
        self, misses: list[tuple[int, bytes, Any, int]]
    ) -> tuple[list[tuple[int, _Decoded]], list[tuple[int, bytes]]]:
        """Misses whose key comes twice or more in the batch are decoded once, here, into the
        cache (repeated payloads and shapes then cost a lookup); the rest as they are."""
        count: dict[Any, int] = {}
        for _, _, key, _ in misses:
            count[key] = count.get(key, 0) + 1
        hits: list[tuple[int, _Decoded]] = []
        rest: list[tuple[int, bytes]] = []
        for i, payload, key, blanked in misses:
            if count[key] < 2:
                rest.append((i, payload))
                continue
            d = self._cache.get(key)
            if d is None:
                d = decode_control(payload, self.keys)
                if blanked >= 0 and not _nonce_slots(d, payload, blanked):
                    count[key] = 0  # not where the shape says: these decode one by one
                    rest.append((i, payload))
                    continue
                self._remember(key, d)
            hits.append((i, d))
        return hits, rest

    def _remember(self, key: Any, d: _Decoded) -> None:
        """Cache ``d`` under ``key`` (and its rows as templates)."""
        if len(self._cache) >= CACHE_ENTRIES:
            self._full = True  # start over at the next batch (this one still uses the slots)
        self._cache[key] = d
        self._store.add(d)

    # the cache of control payloads
    def _cached(
        self, batch: FrameBatch, lay: Layers, extra: _Extra
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[tuple[int, bytes]]]:
        """The control frames whose payload is (now) cached: their rows and template slots,
        in frame order (their anomalies and errors go to ``extra``); and the (row, payload)
        of the others, to decode one by one."""
        rows, keys, blanked = self._control_keys(batch, lay)
        found: list[_Decoded | None] = list(map(self._cache.get, keys))
        misses: list[tuple[int, bytes]] = []
        missing = [k for k, d in enumerate(found) if d is None]
        self.cache_hits += len(found) - len(missing)
        if missing:
            missed = [
                (rows[k], lay.payload_bytes(rows[k], batch), keys[k], blanked[k]) for k in missing
            ]
            first, misses = self._first_sightings(missed)
            decoded = dict(first)
            for k in missing:
                found[k] = decoded.get(rows[k])  # None: decoded one by one (misses)
            hits = [k for k, d in enumerate(found) if d is not None]
            rows, found = [rows[k] for k in hits], [found[k] for k in hits]
        at = np.array(rows, np.int64)
        slot = np.fromiter(map(_SLOT, found), np.int64, len(found))
        store = self._store
        for k in np.flatnonzero(store.flagged()[slot]).tolist():
            d, i = store.entries[slot[k]], int(at[k])
            if d.anomalies:
                extra.anomalies.setdefault(i, []).extend(d.anomalies)
            if d.error is not None:
                extra.error[i] = (d.error, d.error_offset)
        return at, slot, misses

    def _control_keys(
        self, batch: FrameBatch, lay: Layers
    ) -> tuple[list[int], list[bytes | tuple[bytes]], list[int]]:
        """The rows of the LISP control frames, their cache keys and the offsets of their
        blanked nonces (-1: none; see :func:`_shape_key`; a reassembled payload keys by its
        bytes)."""
        rows = np.flatnonzero(lay.kind == Kind.LISP_CONTROL)
        blank_auth = self.keys is None
        if _fastpath is not None and self.shape_cache and not lay.reassembled:
            off, size = lay.payload_offset[rows], lay.payload_length[rows]
            whole = (off >= 0) & (size >= 0)  # else no payload (b"", as Layers._slice)
            starts = np.where(whole, batch.offset[rows] + off, 0).astype(np.int64)
            sizes = np.where(whole, size, 0).astype(np.int64)
            keys, at = _fastpath.control_keys(batch.buf, starts, sizes, blank_auth)
            return rows.tolist(), keys, np.frombuffer(at, np.int64).tolist()
        keys: list[bytes | tuple[bytes]] = []
        blanked: list[int] = []
        for i in rows.tolist():
            payload = lay.payload_bytes(i, batch)
            key, at_ = (
                _shape_key(payload, blank_auth)
                if self.shape_cache and i not in lay.reassembled
                else (payload, -1)
            )
            keys.append(key)
            blanked.append(at_)
        return rows.tolist(), keys, blanked

    def decode(self, batch: FrameBatch, reassembler: Reassembler) -> dict[str, pa.RecordBatch]:
        lay = decode_layers(batch, self.ports, reassembler)
        return self.tables_of(batch, lay)

    def tables_of(self, batch: FrameBatch, lay: Layers) -> dict[str, pa.RecordBatch]:
        if self._full:
            self._cache.clear()
            self._store = _TemplateStore()
            self._full = False
        extra = _Extra()
        acc = _Tables()
        out: dict[str, pa.RecordBatch] = {}
        kind = lay.kind
        want = self.tables
        cached, slots, misses = self._cached(batch, lay, extra)
        submitted = self._submit(misses) if misses else (None, 0)
        data_rows = np.flatnonzero(kind == Kind.LISP_DATA)
        fast_cols: dict[str, Any] | None = None
        slow_data: list[int] = []
        if len(data_rows):
            plain = lay.fast[data_rows] & (lay.fragment[data_rows] == Fragmentation.NONE)
            fast_rows = data_rows[plain]
            if len(fast_rows) and "data" in want and self.vectorised:
                fast_cols, m = _fast_data(batch, lay, fast_rows, self.ports)
                slow_data = fast_rows[~m].tolist()
                if not m.any():
                    fast_cols = None
            else:
                slow_data = fast_rows.tolist()
            slow_data += data_rows[~plain].tolist()
        for i in slow_data:
            self._data_row(batch, lay, i, False, acc, extra)
        for i in np.flatnonzero(kind == Kind.LISP_GPE).tolist():
            self._data_row(batch, lay, i, True, acc, extra)
        for i in np.flatnonzero(kind == Kind.LISP_TCP).tolist():
            payload = lay.payload_bytes(i, batch)
            if payload:
                self._add_control(i, decode_control(payload, self.keys, via_tcp=True), acc, extra)
        for i in np.flatnonzero(kind == Kind.MIP6).tolist():
            self._mobility(batch, lay, i, acc, extra)
        for i in np.flatnonzero(kind == Kind.ICMPV6_RA).tolist():
            self._nd(batch, lay, i, acc, extra)
        missed = self._misses(misses, batch, extra, submitted) if misses else {}
        packets = self._packets(batch, lay, extra)
        out["packets"] = packets
        for table in ("control", "records", "locators", "data", "mobility", "nd_map"):
            if table not in want:
                continue
            parts: list[pa.Table] = []
            if table in _TEMPLATE_TABLES and len(cached):
                t = _from_templates(table, cached, slots, batch, self._store, lay)
                if t is not None:
                    parts.append(t)
            if table in missed:
                parts.append(missed[table])
            rows = acc.rows[table]
            if rows:
                idx = np.fromiter((i for i, _ in rows), np.int64, len(rows))
                parts.append(pa.Table.from_batches([_dict_batch(table, rows, idx, batch)]))
            if table == "data" and fast_cols is not None:
                parts.append(pa.Table.from_batches([make_batch("data", fast_cols)]))
            if not parts:
                continue
            sch = schema(table)
            t = parts[0] if len(parts) == 1 else pa.concat_tables([p.cast(sch) for p in parts])
            # the parts come path by path (templates, codecs, GPE after plain data, ...)
            if len(parts) > 1 or not _in_frame_order(t):
                t = t.sort_by([("frame", "ascending"), (_SECOND_KEY[table], "ascending")])
            t = _outer_addresses(table, t, batch, packets)
            out[table] = t.combine_chunks().to_batches()[0]
        return out

    # -- per-frame codec paths --------------------------------------------------------------
    def _add_control(self, i: int, d: _Decoded, acc: _Tables, extra: _Extra) -> None:
        for row in d.control:
            acc.rows["control"].append((i, row))
        for row in d.records:
            acc.rows["records"].append((i, row))
        for row in d.locators:
            acc.rows["locators"].append((i, row))
        if d.anomalies:
            extra.anomalies.setdefault(i, []).extend(d.anomalies)
        if d.error is not None:
            extra.error[i] = (d.error, d.error_offset)

    def _data_row(
        self, batch: FrameBatch, lay: Layers, i: int, gpe: bool, acc: _Tables, extra: _Extra
    ) -> None:
        payload = lay.payload_bytes(i, batch)
        rows, ctl = decode_data(payload, self.keys, gpe)
        for row in rows:
            acc.rows["data"].append((i, row))
        self._add_control(i, ctl, acc, extra)

    def _mobility(
        self, batch: FrameBatch, lay: Layers, i: int, acc: _Tables, extra: _Extra
    ) -> None:
        from dissectors.mip6.mh import parse_mh  # only captures with Mobile IPv6 need it

        upper = lay.l4_bytes(i, batch)
        s, d = lay.checksum_addresses(i)
        try:
            msg = parse_mh(upper, src=_v6(s), dst=_v6(d))
        except DecodeError as exc:
            extra.error[i] = (_error_text(exc), exc.offset)
            return
        texts = [_anomaly_text(a) for a in msg.anomalies]
        if texts:
            extra.anomalies.setdefault(i, []).extend(texts)
        acc.rows["mobility"].append((i, _mobility_row(msg, lay, i, texts)))

    def _nd(self, batch: FrameBatch, lay: Layers, i: int, acc: _Tables, extra: _Extra) -> None:
        from dissectors.mip6.nd import MapOption, RouterAdvertisement

        upper = lay.l4_bytes(i, batch)
        s, d = lay.checksum_addresses(i)
        try:
            ra = RouterAdvertisement.parse(upper, src=_v6(s), dst=_v6(d))
        except DecodeError as exc:
            extra.error[i] = (_error_text(exc), exc.offset)
            return
        texts = [_anomaly_text(a) for a in ra.anomalies]
        if texts:
            extra.anomalies.setdefault(i, []).extend(texts)
        for k, opt in enumerate(ra.options):
            if not isinstance(opt, MapOption):
                continue
            acc.rows["nd_map"].append(
                (
                    i,
                    {
                        "option_index": k,
                        "dist": opt.dist,
                        "pref": opt.pref,
                        "r": opt.r,
                        "valid_lifetime": opt.valid_lifetime,
                        "map_address": str(opt.map_address),
                        "map_address_bin": opt.map_address.packed,
                        "length": 3 + len(opt.extra) // 8,
                        "length_ok": not opt.extra,
                        "router_lifetime": ra.router_lifetime,
                        "anomalies": [],
                    },
                )
            )

    def _packets(self, batch: FrameBatch, lay: Layers, extra: _Extra) -> pa.RecordBatch:
        n = len(batch)
        present = lay.ip_version != 0
        is6 = lay.ip_version == 6
        src_bin = ipv6_bin_array(lay.src)
        dst_bin = ipv6_bin_array(lay.dst)
        present_bits = pa.py_buffer(np.packbits(present, bitorder="little"))
        if n:
            src_s = canonical_from_bin(lay.src, present, is6)
            dst_s = canonical_from_bin(lay.dst, present, is6)
        else:
            src_s = dst_s = pa.array([], pa.string())
        # anomalies: list<string>, most rows empty
        anomalies: dict[int, list[str]] = {}
        for i, texts in lay.anomalies.items():
            anomalies[i] = list(texts)
        for i, texts in extra.anomalies.items():
            anomalies.setdefault(i, []).extend(texts)
        if anomalies:
            anom, details = _anomaly_columns(anomalies, n)
        else:
            anom = details = _no_anomalies(n)
        error_col, error_off_col = _errors(lay, extra, n)
        comments: list[str | None] | None = None
        if batch.comments:
            first = {int(num): k for k, num in enumerate(batch.number.tolist())}
            comments = [None] * n
            for num, text in batch.comments.items():
                k = first.get(num)
                if k is not None:
                    comments[k] = text
        cols: dict[str, Any] = {
            "frame": batch.number,
            "time_ns": batch.time_ns,
            "caplen": batch.caplen.astype(np.uint32),
            "origlen": batch.origlen.astype(np.uint32),
            "linktype": batch.linktype.astype(np.uint32),
            "interface": batch.interface.astype(np.uint32),
            "source": batch.source.astype(np.uint16),
            "vlans": _vlans(batch, lay),
            "ip_version": nullable_array(lay.ip_version, present, pa.uint8()),
            "src": src_s,
            "src_bin": pa.FixedSizeBinaryArray.from_buffers(
                src_bin.type, n, [present_bits, src_bin.buffers()[1]]
            )
            if n
            else src_bin,
            "dst": dst_s,
            "dst_bin": pa.FixedSizeBinaryArray.from_buffers(
                dst_bin.type, n, [present_bits, dst_bin.buffers()[1]]
            )
            if n
            else dst_bin,
            "ip_proto": nullable_array(lay.ip_proto, lay.ip_proto >= 0, pa.uint8()),
            "src_port": nullable_array(lay.sport, lay.sport >= 0, pa.uint16()),
            "dst_port": nullable_array(lay.dport, lay.dport >= 0, pa.uint16()),
            "reassembled": lay.fragment == Fragmentation.COMPLETES,
            "layer": _LAYER_ARRAY.take(pa.array(lay.kind)),
            "anomalies": anom,
            "anomaly_details": details,
            "error": error_col,
            "error_offset": error_off_col,
        }
        if comments is not None:
            cols["comment"] = comments
        return make_batch("packets", cols, n)


def _in_frame_order(t: pa.Table) -> bool:
    frames = t.column("frame").to_numpy()
    return bool((frames[1:] >= frames[:-1]).all())


def _errors(lay: Layers, extra: _Extra, n: int) -> tuple[pa.Array, pa.Array]:
    """The ``error`` and ``error_offset`` columns (nulls but for the frames with an error:
    a Python list of ``n`` Nones would cost more than the rest of the packets table)."""
    if not (lay.error or extra.error):
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.int32())
    errors: list[str | None] = [None] * n
    error_off: list[int | None] = [None] * n
    for i, text in lay.error.items():
        errors[i] = text
    for i, (text, off) in extra.error.items():
        errors[i] = text
        base = int(lay.payload_offset[i])
        if lay.kind[i] in (Kind.MIP6, Kind.ICMPV6_RA):
            base = int(lay.l4_offset[i])
        error_off[i] = None if off is None or i in lay.reassembled else base + off
    return pa.array(errors, pa.string()), pa.array(error_off, pa.int32())


_SECOND_KEY = {
    "control": "msg_index",
    "records": "msg_index",
    "locators": "msg_index",
    "data": "level",
    "mobility": "frame",
    "nd_map": "option_index",
}
_PER_FRAME = ("frame", "time_ns")


def _dict_batch(
    table: str,
    rows: list[tuple[int, dict[str, Any]]],
    idx: npt.NDArray[np.int64] | None,
    batch: FrameBatch | None,
) -> pa.RecordBatch:
    """A record batch from row dicts; frame/time from ``batch`` rows ``idx`` (else zeros)."""
    n = len(rows)
    dicts = [d for _, d in rows]
    present: set[str] = set()
    for d in dicts:
        present.update(d)
    cols: dict[str, Any] = {}
    if idx is not None and batch is not None:
        cols["frame"], cols["time_ns"] = batch.number[idx], batch.time_ns[idx]
    else:
        cols["frame"] = cols["time_ns"] = np.zeros(n, np.int64)
    for name in schema(table).names:
        if name in present and name not in _PER_FRAME:
            if name == "anomalies":
                cols[name], cols["anomaly_details"] = _anomaly_columns(
                    {k: d[name] for k, d in enumerate(dicts) if d.get(name)}, n
                )
            elif name == "anomaly_details":
                continue
            elif name in ("via_data", "via_tcp"):
                cols[name] = [bool(d.get(name)) for d in dicts]
            else:
                cols[name] = [d.get(name) for d in dicts]
    if "anomalies" in schema(table).names and "anomalies" not in cols:
        cols["anomalies"] = cols["anomaly_details"] = _no_anomalies(n)
    if table == "control":
        for name in ("via_data", "via_tcp"):
            cols.setdefault(name, np.zeros(n, np.bool_))
    return make_batch(table, cols, n)


_TEMPLATE_TABLES = ("control", "records", "locators")
_SLOT = operator.attrgetter("slot")


class _TemplateStore:
    """The rows of every cached control payload, per table, in one Arrow table each: a batch
    takes the rows of its control frames from it (one ``take``, no Python object per row).

    Each cached payload (``_Decoded``) has a slot; per table, slot ``k``'s rows are rows
    ``start[k]`` to ``start[k] + count[k]`` of the table."""

    def __init__(self) -> None:
        self.entries: list[_Decoded] = []  # by slot
        self._flagged: list[bool] = []  # by slot: has anomalies or an error
        self._start: dict[str, list[int]] = {t: [] for t in _TEMPLATE_TABLES}
        self._count: dict[str, list[int]] = {t: [] for t in _TEMPLATE_TABLES}
        self._rows = dict.fromkeys(_TEMPLATE_TABLES, 0)
        self._tables: dict[str, pa.Table] = {}
        self._built = dict.fromkeys(_TEMPLATE_TABLES, 0)  # slots whose rows are in _tables
        self._arrays: dict[str, npt.NDArray[np.int64]] = {}  # the lists above, as arrays
        self.nonce_at: list[int] = []  # per control template row (see _Decoded.nonce_at)

    def add(self, d: _Decoded) -> None:
        d.slot = len(self.entries)
        self.entries.append(d)
        self._flagged.append(bool(d.anomalies) or d.error is not None)
        for t in _TEMPLATE_TABLES:
            rows = len(getattr(d, t))
            self._start[t].append(self._rows[t])
            self._count[t].append(rows)
            self._rows[t] += rows
        self.nonce_at.extend(d.nonce_at or [-1] * len(d.control))
        self._arrays.clear()

    def _array(self, name: str, values: list[Any], dtype: Any = np.int64) -> npt.NDArray[Any]:
        if name not in self._arrays:
            self._arrays[name] = np.array(values, dtype)
        return self._arrays[name]

    def flagged(self) -> npt.NDArray[np.bool_]:
        return self._array("flagged", self._flagged, np.bool_)

    def spans(self, table: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Per slot: the first template row in ``table`` and how many rows."""
        return (
            self._array(f"start:{table}", self._start[table]),
            self._array(f"count:{table}", self._count[table]),
        )

    def nonce_offsets(self) -> npt.NDArray[np.int64]:
        return self._array("nonce_at", self.nonce_at)

    def table(self, table: str) -> pa.Table:
        """The template rows of ``table``; the slots added since the last call are built in
        one record batch (a batch per message would cost a millisecond each)."""
        built, current = self._built[table], self._tables.get(table)
        if built < len(self.entries) or current is None:
            new = [(0, r) for d in self.entries[built:] for r in getattr(d, table)]
            if new or current is None:
                part = pa.Table.from_batches([_dict_batch(table, new, None, None)])
                current = part if current is None else pa.concat_tables([current, part])
                current = current.combine_chunks()
                self._tables[table] = current
            self._built[table] = len(self.entries)
        return current


def _from_templates(
    table: str,
    rows: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int64],
    batch: FrameBatch,
    store: _TemplateStore,
    lay: Layers | None = None,
) -> pa.Table | None:
    """The ``table`` rows of the control frames at batch ``rows``, whose payloads are cached
    in ``slots``: their template rows, taken once per frame."""
    start, count = store.spans(table)
    occ_start, occ_len = start[slots], count[slots]
    total = int(occ_len.sum())
    if total == 0:
        return None
    first = np.zeros(len(occ_len), np.int64)
    np.cumsum(occ_len[:-1], out=first[1:])
    take = np.repeat(occ_start - first, occ_len) + np.arange(total)
    frames = np.repeat(rows, occ_len)
    t = store.table(table).take(pa.array(take))
    sch = schema(table)
    t = t.set_column(0, sch.field("frame"), pa.array(batch.number[frames]))
    t = t.set_column(1, sch.field("time_ns"), pa.array(batch.time_ns[frames]))
    if table == "control" and lay is not None:
        t = _patch_nonces(t, take, frames, batch, store, lay)
    return t


def _patch_nonces(
    t: pa.Table,
    take: npt.NDArray[np.int64],
    frames: npt.NDArray[np.int64],
    batch: FrameBatch,
    store: _TemplateStore,
    lay: Layers,
) -> pa.Table:
    """Each occurrence's own nonces (its payload's bytes) into rows taken from templates."""
    at = store.nonce_offsets()[take]
    rows = at >= 0
    if not rows.any():
        return t
    if lay.reassembled:  # their payloads are not in the buffer (they are keyed by bytes)
        rows &= ~np.isin(frames, np.fromiter(lay.reassembled, np.int64))
    start = batch.offset[frames[rows]] + lay.payload_offset[frames[rows]] + at[rows]
    raw = _gather(np.frombuffer(batch.buf, np.uint8), start, 8)
    nonces = raw.copy().view(">u8").ravel().astype(np.uint64)
    col = t.column("nonce")
    valid = col.is_valid().to_numpy(zero_copy_only=False)
    merged = pc.fill_null(col, 0).to_numpy().astype(np.uint64)
    merged[rows] = nonces
    i = t.schema.get_field_index("nonce")
    return t.set_column(i, t.schema.field(i), nullable_array(merged, valid, pa.uint64()))


def _outer_addresses(
    table: str, t: pa.Table, batch: FrameBatch, packets: pa.RecordBatch
) -> pa.Table:
    """Fill the outer addresses (and ports) from the packets rows of the same frames."""
    if table not in ("control", "mobility", "nd_map"):
        return t
    first = int(batch.number[0])
    frames = t.column("frame").to_numpy()
    if (batch.number[-1] - first) == len(batch) - 1:
        rows = frames - first
    else:
        rows = np.searchsorted(batch.number, frames)
    rows_pa = pa.array(rows)
    pairs = [("src", "src"), ("dst", "dst"), ("src_bin", "src_bin"), ("dst_bin", "dst_bin")]
    if table == "control":
        mask = pc.and_(pc.equal(t.column("depth"), 0), pc.is_null(t.column("src")))
        pairs += [("src_port", "src_port"), ("dst_port", "dst_port")]
    else:
        mask = None
    if table == "nd_map":
        pairs = [("router", "src"), ("router_bin", "src_bin")]
    for col, pcol in pairs:
        outer = packets.column(pcol).take(rows_pa)
        if table == "mobility":
            mask = pc.is_null(t.column(col))
        value = outer if mask is None else pc.if_else(mask, outer, t.column(col))
        t = t.set_column(t.schema.get_field_index(col), t.schema.field(col), value)
    return t


def _port(v: Any) -> int | None:
    v = int(v)
    return v if v >= 0 else None


def _bin_of(lay: Layers, i: int, which: str) -> bytes | None:
    if lay.ip_version[i] == 0:
        return None
    return (lay.src if which == "src" else lay.dst)[i].tobytes()


def _v6(raw: bytes) -> Any:
    import ipaddress

    return ipaddress.IPv6Address(raw)


_VLANS = pa.list_(pa.field("element", pa.uint16()))


def _vlans(batch: FrameBatch, lay: Layers) -> pa.Array:
    """802.1Q IDs of Ethernet frames (outermost first); null if untagged. One tag (the IP
    header at byte 18) is read for all such frames at once; stacks frame by frame."""
    n = len(batch)
    tagged = (batch.linktype == 1) & (lay.l3_offset >= 18)
    if not tagged.any():
        return pa.nulls(n, _VLANS)
    counts = np.zeros(n, np.int64)
    ids = np.zeros(n, np.int64)  # the single tag's ID, per row
    one = np.flatnonzero(tagged & (lay.l3_offset == 18))
    if len(one):
        h = _gather(np.frombuffer(batch.buf, np.uint8), batch.offset[one] + 12, 4)
        tpid = h[:, 0].astype(np.int64) << 8 | h[:, 1]
        counts[one] = np.isin(tpid, ETH_VLAN)
        ids[one] = (h[:, 2].astype(np.int64) << 8 | h[:, 3]) & 0x0FFF
    stacks: dict[int, list[int]] = {}
    buf = batch.buf
    for i in np.flatnonzero(tagged & (lay.l3_offset > 18)).tolist():
        off = int(batch.offset[i])
        end, at, tags = off + int(lay.l3_offset[i]), off + 12, []
        while at + 4 <= end and int.from_bytes(buf[at : at + 2], "big") in ETH_VLAN:
            tags.append(int.from_bytes(buf[at + 2 : at + 4], "big") & 0x0FFF)
            at += 4
        counts[i] = len(tags)
        stacks[i] = tags
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = np.repeat(ids, counts)  # the single tags in place; the stacks written over
    for i, tags in stacks.items():
        values[offsets[i] : offsets[i + 1]] = tags
    return pa.ListArray.from_arrays(
        pa.array(offsets),
        pa.array(values.astype(np.uint16)),
        type=_VLANS,
        mask=pa.array(counts == 0),
    )


_MH_FLAGS = ("a", "h", "l", "k", "m", "r", "p", "f", "t", "b", "u", "s", "v", "g")


def _mobility_row(msg: MobilityMessage, lay: Layers, i: int, texts: list[str]) -> dict[str, Any]:
    from dissectors.mip6.mh import status_name

    row: dict[str, Any] = {
        "mh_type": msg.mh_type,
        "type_name": type(msg).NAME or f"type-{msg.mh_type}",
        "label": msg.label,
        "payload_proto": msg.payload_proto,
        # the codec keeps Header Len only when it disagrees with the message (else build
        # derives it), so the received value is the built length in 8-octet units, minus one
        "header_len": msg.header_len if msg.header_len is not None else len(msg.build()) // 8 - 1,
        "checksum": msg.checksum,
        "checksum_ok": msg.checksum_ok,
        "anomalies": texts,
    }
    for name in ("sequence", "lifetime", "status", "code", "br_type", *_MH_FLAGS):
        value = getattr(msg, name, None)
        if isinstance(value, bool | int):
            row[name] = value
    seconds = getattr(msg, "lifetime_seconds", None)
    if isinstance(seconds, int):
        row["lifetime_s"] = seconds
    elif "lifetime" in row:
        row["lifetime_s"] = row["lifetime"]
    if msg.mh_type == 6 and "status" in row:
        row["status_name"] = status_name(row["status"])
    hoa = lay.home_address.get(i)
    if hoa is None and i in lay.rh2_address:
        hoa = lay.rh2_address[i][0]
    rh2 = lay.rh2_address.get(i)
    if rh2 is not None and rh2[1] > 0:
        row["dst"], row["dst_bin"] = str(_v6(rh2[0])), rh2[0]
    if hoa is not None:
        row["home_address"] = str(_v6(hoa))
        row["home_address_bin"] = hoa
    types, names, hnp = [], [], []
    for opt in msg.options:
        t = opt.opt_type
        types.append(t)
        names.append(type(opt).NAME or f"type-{t}")
        cls = type(opt).__name__
        if cls == "AlternateCareOfAddress":
            a = getattr(opt, "address", None)
            if a is not None:
                row["alternate_coa"], row["alternate_coa_bin"] = str(a), a.packed
        elif cls == "HomeNetworkPrefix":
            pfx = getattr(opt, "prefix", None)
            plen = getattr(opt, "prefix_length", None)
            if pfx is not None:
                hnp.append(f"{pfx}/{plen}")
        elif cls == "MobileNodeIdentifier":
            ident = getattr(opt, "identifier", b"")
            try:
                row["mn_id"] = ident.decode()
            except (UnicodeDecodeError, AttributeError):
                row["mn_id"] = bytes(ident).hex()
        elif cls == "HandoffIndicator":
            row["handoff_indicator"] = getattr(opt, "handoff_indicator", None)
        elif cls == "AccessTechnologyType":
            row["access_tech_type"] = getattr(opt, "access_technology_type", None)
        elif cls in ("IPv4HomeAddress", "IPv4HomeAddressRequest", "IPv4HomeAddressReply"):
            a = getattr(opt, "address", None)
            if a is not None:
                row["ipv4_home_address"] = str(a)
        elif cls == "Timestamp":
            row["timestamp"] = getattr(opt, "timestamp", None)
    row["option_types"] = types
    row["options"] = names
    if hnp:
        row["hnp"] = hnp
    return row


# -- the stream -----------------------------------------------------------------------------


def decode_batch(
    batch: FrameBatch,
    reassembler: Reassembler | None = None,
    keys: KeyRing | None = None,
    ports: Ports | None = None,
) -> dict[str, pa.RecordBatch]:
    """The record batches one FrameBatch gives (for tests and small uses)."""
    decoder = BatchDecoder(keys, ports)
    try:
        return decoder.decode(batch, reassembler or Reassembler())
    finally:
        decoder.close()


def decode(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | Reading,
    out: str | os.PathLike[str],
    fmt: str = "parquet",
    tables: Sequence[str] | None = None,
    keys: KeyRing | None = None,
    ports: Ports | None = None,
    progress: Progress | None = None,
    *,
    overwrite: bool = False,
    batch_frames: int = BATCH_FRAMES,
) -> DecodeSummary:
    """Decode captures (merged by time) into ``out`` (one file per table + manifest.json).

    ``paths`` may also be a :class:`~lisptrace.ingest.reading.Reading` already started (its
    ports and batch size then apply); it is closed when the decode ends.

    Raises :class:`~lisptrace.ingest.capture.CaptureError` for an input that is not a capture
    (nothing is written then); a capture cut mid-record is decoded up to the cut and reported
    in ``DecodeSummary.truncated``/``warnings`` (and the manifest).
    """
    t0 = time.perf_counter()
    if tables is not None:
        for t in tables:
            schema(t)
    if isinstance(paths, Reading):
        reading = paths
    else:
        one = isinstance(paths, str | os.PathLike)
        reading = Reading([paths] if one else paths, batch_frames, ports)  # type: ignore[list-item]
    try:
        with block_cache():
            summary = _decode(reading, out, fmt, tables, keys, progress, overwrite)
    finally:
        reading.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _decode(
    reading: Reading,
    out: str | os.PathLike[str],
    fmt: str,
    tables: Sequence[str] | None,
    keys: KeyRing | None,
    progress: Progress | None,
    overwrite: bool,
) -> DecodeSummary:
    decoder = BatchDecoder(keys, reading.ports, tables)
    frames = 0
    with DecodedWriter(
        out,
        fmt=fmt,  # type: ignore[arg-type]
        tables=[t for t in (tables or TABLES) if t != "packets"],
        sources=[c.path for c in reading.captures],
        overwrite=overwrite,
    ) as writer:
        sink = _Sink(writer)
        try:
            for batch, lay in reading:
                sink.put(decoder.tables_of(batch, lay))
                frames += len(batch)
                # the batch's chunk is unmapped before the next is asked for: at most three
                # (this one's successor waiting, the one after being read)
                del batch, lay
                if progress is not None:
                    progress(frames)
        finally:
            decoder.close()
            sink.finish()
        warnings = reading.warnings  # the reading thread is done: it sent the end
        for ev in reading.reassembler.flush():
            warnings.append(f"{ev.anomaly()} (frames {', '.join(map(str, ev.frames))})")
        manifest = writer.close(
            auth_checked=keys is not None,
            extra={
                "warnings": warnings,
                "truncated": reading.truncated,
                "ports": asdict(reading.ports),
            },
        )
    return DecodeSummary(
        out=Path(out),
        frames=manifest["frames"],
        rows=dict(manifest["rows"]),
        anomalies=dict(manifest["anomalies"]),
        errors=manifest["errors"],
        time_span_ns=tuple(manifest["time_span_ns"]) if manifest["time_span_ns"] else None,
        warnings=warnings,
        truncated=reading.truncated,
    )


class _Sink:
    """Writes the record batches on writer threads, one per group of tables (Parquet encoding
    releases the GIL, so the files are written side by side, also when the decode has ended
    and only the writers' backlog is left). A lane holds one batch waiting besides the one
    being written, so that memory stays bounded and does not drift with the capture's length
    (with two, more batches were alive at once the more often the longer the decode; one,
    with the sinks' early writes, took the peak RSS of 4M frames against 1M from +10-14 % to
    +2-7 % at the same speed: docs/performance.md). Their errors surface in the caller."""

    LANES = {"packets": 0, "data": 1}  # every other table: lane 2

    def __init__(self, writer: DecodedWriter, depth: int = 1) -> None:
        self._writer = writer
        self._error: BaseException | None = None
        self._queues: list[queue.Queue[dict[str, pa.RecordBatch] | None]] = []
        self._threads: list[threading.Thread] = []
        for k in range(len(self.LANES) + 1):
            q: queue.Queue[dict[str, pa.RecordBatch] | None] = queue.Queue(depth)
            thread = threading.Thread(
                target=self._run, args=(q,), name=f"lisptrace-writer-{k}", daemon=True
            )
            thread.start()
            self._queues.append(q)
            self._threads.append(thread)

    def _run(self, q: queue.Queue[dict[str, pa.RecordBatch] | None]) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            if self._error is not None:
                continue
            try:
                for table, rb in item.items():
                    self._writer.write(table, rb)
            except BaseException as exc:  # re-raised in the decoding thread
                self._error = exc

    def put(self, item: dict[str, pa.RecordBatch]) -> None:
        if self._error is not None:
            self.finish()
        parts: dict[int, dict[str, pa.RecordBatch]] = {}
        for table, rb in item.items():
            parts.setdefault(self.LANES.get(table, len(self.LANES)), {})[table] = rb
        for k, part in parts.items():
            self._queues[k].put(part)

    def finish(self) -> None:
        for q, thread in zip(self._queues, self._threads, strict=True):
            if thread.is_alive():
                q.put(None)
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
