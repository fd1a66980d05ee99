"""Link, network and transport layers of a :class:`FrameBatch`, as numpy columns.

:func:`decode_layers` finds, for every frame, where the IP packet starts, its outer
addresses, the upper-layer protocol (after IPv6 extension headers), where the transport
header and its payload are, the ports, and a :class:`Kind` that tells the decode stage which
codec to run. One result row per frame, always: what cannot be decoded is a row of kind
``UNDECODABLE`` with an error string; oddities that still decode are anomaly strings
(``"code: detail"``).

Two paths share the work:

* the **vectorised path** (numpy over ``np.frombuffer(batch.buf)``) takes every frame that is
  plain: Ethernet (at most one 802.1Q tag), Linux SLL/SLL2, raw IP, BSD null/loopback;
  IPv4 without options and not a fragment, with a correct header checksum; IPv6 whose next
  header is not an extension header; UDP with a consistent length, TCP with a sane data offset,
  or any other upper layer; the whole IP packet captured.
* the **per-frame path** (plain ``struct``) takes the rest: VLAN stacks (QinQ), other link
  types, IPv4 options, IPv6 extension headers (hop-by-hop, routing incl. type 2, fragment,
  destination options incl. Home Address, AH), fragments (fed to a
  :class:`~lisptrace.ingest.reassembly.Reassembler`), truncated or lying headers. It records
  errors and anomalies.

Offsets are relative to the start of the frame, except in a row that completed a reassembled
datagram: there ``l4_offset``/``payload_offset`` index :attr:`Reassembled.data` (see
:meth:`Layers.l4_bytes`). Addresses are 16 bytes, IPv4 as IPv4-mapped IPv6
(``::ffff:a.b.c.d``); :meth:`Layers.address` renders the canonical string (dotted quad for
IPv4, RFC 5952 for IPv6) lazily.
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from dissectors.core import DecodeError, Reader
from dissectors.inet import IP_CHECKSUM_BAD, UDP_LENGTH_BAD, internet_checksum
from dissectors.mip6.ext import DestinationOptions, HomeAddressOption, Type2RoutingHeader
from lisptrace.ingest import anomalies as A
from lisptrace.ingest.frames import FrameBatch
from lisptrace.ingest.reassembly import Evicted, Fragment, FragmentKey, Reassembled, Reassembler
from lisptrace.kernels import load

_fastpath = load("lisptrace.ingest._fastpath")  # C twin of _fast (None: not built, or pure)

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_DLT12 = 12  # DLT_RAW on most systems, seen in old files
LINKTYPE_RAW_DLT14 = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100)
AF_INET6_VALUES = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS

PROTO_HOPOPT = 0
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ROUTING = 43
PROTO_FRAGMENT = 44
PROTO_AH = 51
PROTO_ICMPV6 = 58
PROTO_DSTOPTS = 60
PROTO_MH_LEGACY = 62  # the Mobility Header's number in early MIPv6 drafts
PROTO_MH = 135
IPV6_EXTENSIONS = (PROTO_HOPOPT, PROTO_ROUTING, PROTO_FRAGMENT, PROTO_AH, PROTO_DSTOPTS)
ICMPV6_ROUTER_ADVERTISEMENT = 134

_WINDOW = 56  # bytes gathered from the IP header on: IPv6 (40) + a TCP header up to byte 14


class Kind(enum.IntEnum):
    """What a frame carries, i.e. which codec the decode stage runs on it."""

    OTHER = 0  # decoded, nothing for us (also: not IP)
    LISP_CONTROL = 1  # UDP, either port == control port
    LISP_DATA = 2  # UDP, destination port == data port
    LISP_GPE = 3  # UDP, destination port == GPE port
    LISP_TCP = 4  # TCP, either port == control port (payload range exposed, no stream)
    MIP6 = 5  # IPv6 Mobility Header (next header 135, or legacy 62)
    ICMPV6_RA = 6  # ICMPv6 Router Advertisement
    FRAGMENT = 7  # an IP fragment that did not (yet) complete a datagram
    UNDECODABLE = 8  # link or IP layer could not be decoded: see the error


class Fragmentation(enum.IntEnum):
    NONE = 0
    HELD = 1  # a fragment; the datagram completes in a later frame (or is evicted)
    COMPLETES = 2  # the fragment that completed a datagram: the row shows the datagram


@dataclass(frozen=True, slots=True)
class Ports:
    control: int = 4342
    data: int = 4341
    gpe: int = 4790


I8 = npt.NDArray[np.int8]
U8 = npt.NDArray[np.uint8]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
B = npt.NDArray[np.bool_]


@dataclass(slots=True)
class Layers:
    """Per-frame columns (row ``i`` is frame ``batch.number[i]``); -1 / 0 mean "absent"."""

    l3_offset: I32  # start of the (outer) IP header in the frame, -1 if none
    ip_version: U8  # 4, 6 or 0
    src: U8  # (n, 16) outer source address, IPv4-mapped for IPv4; zeros if none
    dst: U8  # (n, 16)
    ip_proto: I16  # upper-layer protocol after extension headers, -1 if none
    l4_offset: I32  # start of the upper-layer header, -1 if none
    l4_length: I32  # bytes of the upper layer per the IP lengths (clipped to what was captured)
    payload_offset: I32  # UDP/TCP payload (other protocols: = l4_offset), -1 if none
    payload_length: I32
    sport: I32  # -1 if not UDP/TCP (or not readable)
    dport: I32
    kind: U8  # Kind
    fragment: U8  # Fragmentation
    fast: B  # decoded by the vectorised path
    error: dict[int, str] = field(default_factory=dict)  # row -> why it is UNDECODABLE
    anomalies: dict[int, list[str]] = field(default_factory=dict)  # row -> "code: detail"
    home_address: dict[int, bytes] = field(default_factory=dict)  # row -> HoA option address
    rh2_address: dict[int, tuple[bytes, int]] = field(default_factory=dict)  # (HoA, seg. left)
    reassembled: dict[int, Reassembled] = field(default_factory=dict)  # completing row -> it
    fragment_of: dict[int, FragmentKey] = field(default_factory=dict)  # fragment row -> key
    evicted: list[Evicted] = field(default_factory=list)  # datagrams given up in this batch

    def __len__(self) -> int:
        return len(self.kind)

    # -- lazy renderings ----------------------------------------------------------------------
    def address(self, i: int, which: str = "src") -> str | None:
        """Canonical string of the source/destination address of row ``i`` (None: no IP)."""
        v = int(self.ip_version[i])
        raw = (self.src if which == "src" else self.dst)[i].tobytes()
        if v == 4:
            return socket.inet_ntop(socket.AF_INET, raw[12:])
        if v == 6:
            return socket.inet_ntop(socket.AF_INET6, raw)
        return None

    def addresses(self, which: str = "src") -> list[str | None]:
        return [self.address(i, which) for i in range(len(self))]

    def error_column(self) -> list[str | None]:
        return [self.error.get(i) for i in range(len(self))]

    def anomaly_column(self) -> list[list[str]]:
        return [self.anomalies.get(i, []) for i in range(len(self))]

    def checksum_addresses(self, i: int) -> tuple[bytes, bytes]:
        """Pseudo-header addresses for an upper-layer checksum (MH, ICMPv6, UDP, TCP) of row
        ``i``: the Home Address option replaces the source, a Type 2 Routing Header with
        Segments Left > 0 the destination (RFC 6275 sec. 6.3, 6.4)."""
        s, d = self.src[i].tobytes(), self.dst[i].tobytes()
        if i in self.home_address:
            s = self.home_address[i]
        rh2 = self.rh2_address.get(i)
        if rh2 is not None and rh2[1] > 0:
            d = rh2[0]
        return s, d

    def l4_bytes(self, i: int, batch: FrameBatch) -> bytes:
        """The upper layer (header + payload) of row ``i``: from the frame, or the reassembled
        datagram for the row that completed one."""
        return self._slice(i, batch, int(self.l4_offset[i]), int(self.l4_length[i]))

    def payload_bytes(self, i: int, batch: FrameBatch) -> bytes:
        """The UDP/TCP payload (other protocols: the upper layer) of row ``i``."""
        return self._slice(i, batch, int(self.payload_offset[i]), int(self.payload_length[i]))

    def _slice(self, i: int, batch: FrameBatch, off: int, length: int) -> bytes:
        if off < 0 or length < 0:
            return b""
        r = self.reassembled.get(i)
        if r is not None:
            return r.data[off : off + length]
        start = int(batch.offset[i]) + off
        return batch.buf[start : start + length]


def _empty(n: int) -> Layers:
    return Layers(
        l3_offset=np.full(n, -1, np.int32),
        ip_version=np.zeros(n, np.uint8),
        src=np.zeros((n, 16), np.uint8),
        dst=np.zeros((n, 16), np.uint8),
        ip_proto=np.full(n, -1, np.int16),
        l4_offset=np.full(n, -1, np.int32),
        l4_length=np.full(n, -1, np.int32),
        payload_offset=np.full(n, -1, np.int32),
        payload_length=np.full(n, -1, np.int32),
        sport=np.full(n, -1, np.int32),
        dport=np.full(n, -1, np.int32),
        kind=np.zeros(n, np.uint8),
        fragment=np.zeros(n, np.uint8),
        fast=np.zeros(n, np.bool_),
    )


def classify(version: int, proto: int, sport: int, dport: int, first_byte: int, p: Ports) -> Kind:
    """The kind of a packet from its upper-layer protocol, ports and first upper-layer byte."""
    if proto == PROTO_UDP and sport >= 0:
        if p.control in (sport, dport):
            return Kind.LISP_CONTROL
        if dport == p.data:
            return Kind.LISP_DATA
        if dport == p.gpe:
            return Kind.LISP_GPE
    elif proto == PROTO_TCP and sport >= 0:
        if p.control in (sport, dport):
            return Kind.LISP_TCP
    elif version == 6 and proto in (PROTO_MH, PROTO_MH_LEGACY):
        return Kind.MIP6
    elif version == 6 and proto == PROTO_ICMPV6 and first_byte == ICMPV6_ROUTER_ADVERTISEMENT:
        return Kind.ICMPV6_RA
    return Kind.OTHER


# -- the vectorised path ---------------------------------------------------------------------


def _gather(a: U8, idx: npt.NDArray[np.int64], width: int) -> U8:
    """``(n, width)`` bytes starting at each ``idx``; bytes past the buffer's end read as 0."""
    size = len(a)
    inside = (idx + width <= size) & (idx >= 0)
    if size >= width:
        # one item of ``width`` bytes per row (a memcpy each), not ``width`` single bytes
        items = np.ndarray(
            shape=(size - width + 1,), dtype=np.dtype((np.void, width)), buffer=a, strides=(1,)
        )
        out = items[np.where(inside, idx, 0)].view(np.uint8).reshape(-1, width)
    else:
        out = np.zeros((len(idx), width), np.uint8)
    if not inside.all():  # the last frames of the buffer: read from a zero-padded tail
        t0 = max(0, size - width)
        tail = np.zeros(size - t0 + width, np.uint8)
        tail[: size - t0] = a[t0:]
        rows = np.flatnonzero(~inside & (idx < size) & (idx >= 0))
        out[rows] = sliding_window_view(tail, width)[idx[rows] - t0]
        out[~inside & ((idx >= size) | (idx < 0))] = 0
    return out


def _be16(cols: U8) -> npt.NDArray[np.int32]:
    return cols[:, 0].astype(np.int32) << 8 | cols[:, 1]


def _fast_kernel(batch: FrameBatch, out: Layers, p: Ports) -> None:
    """:func:`_fast` by the C kernel (``_fastpath.layers``): the same rows, the same values."""
    assert _fastpath is not None
    _fastpath.layers(
        batch.buf,
        np.ascontiguousarray(batch.offset, np.int64),
        np.ascontiguousarray(batch.caplen.astype(np.int32, copy=False)),
        np.ascontiguousarray(batch.linktype, np.int64),
        p.control,
        p.data,
        p.gpe,
        out.fast,
        out.l3_offset,
        out.ip_version,
        out.ip_proto,
        out.l4_offset,
        out.l4_length,
        out.payload_offset,
        out.payload_length,
        out.sport,
        out.dport,
        out.kind,
        out.src,
        out.dst,
    )


def _fast(batch: FrameBatch, out: Layers, p: Ports) -> None:
    """Fill the rows the vectorised path can decode and set ``out.fast`` for them."""
    n = len(batch)
    if n == 0:
        return
    if _fastpath is not None:
        _fast_kernel(batch, out, p)
        return
    a = np.frombuffer(batch.buf, np.uint8)
    start = batch.offset.astype(np.int64, copy=False)
    cap = batch.caplen.astype(np.int32, copy=False)
    lt = batch.linktype

    # link layer: l3 offset and the family the link layer announces (0: the version nibble)
    l3 = np.full(n, -1, np.int32)
    fam = np.zeros(n, np.uint8)
    link = _gather(a, start, 20)  # enough for every fast link header
    for linktype, at, hlen in (
        (LINKTYPE_ETHERNET, 12, 14),
        (LINKTYPE_LINUX_SLL, 14, 16),
        (LINKTYPE_LINUX_SLL2, 0, 20),
    ):
        m = lt == linktype
        if not m.any():
            continue
        et = _be16(link[:, at : at + 2])
        off = np.full(n, hlen, np.int32)
        if linktype == LINKTYPE_ETHERNET:  # one 802.1Q tag
            tagged = et == 0x8100
            et = np.where(tagged, _be16(link[:, 16:18]), et)
            off += tagged.astype(np.int32) * 4
        is4, is6 = et == ETH_IPV4, et == ETH_IPV6
        m &= is4 | is6
        np.copyto(l3, off, where=m)
        np.copyto(fam, np.where(is4, 4, 6).astype(np.uint8), where=m)
    for linktype, family in (
        (LINKTYPE_RAW, 0),
        (LINKTYPE_RAW_DLT12, 0),
        (LINKTYPE_RAW_DLT14, 0),
        (LINKTYPE_IPV4, 4),
        (LINKTYPE_IPV6, 6),
    ):
        m = lt == linktype
        l3[m] = 0
        fam[m] = family
    null = (lt == LINKTYPE_NULL) | (lt == LINKTYPE_LOOP)
    if null.any():
        le = link[:, :4].copy().view("<u4")[:, 0].astype(np.int64)
        be = link[:, :4].copy().view(">u4")[:, 0].astype(np.int64)
        af = np.where(lt == LINKTYPE_LOOP, be, np.where(le > 0xFFFF, be, le))
        v6 = np.isin(af, AF_INET6_VALUES)
        null &= (af == 2) | v6
        l3[null] = 4
        np.copyto(fam, np.where(v6, 6, 4).astype(np.uint8), where=null)

    base = start + l3  # absolute start of the IP header
    good = (l3 >= 0) & (cap >= l3 + 20)  # each protocol checks its own lengths below
    h = _gather(a, np.where(good, base, 0), _WINDOW)  # (n, 56) copy of the header bytes
    ver = h[:, 0] >> 4
    good &= (fam == 0) | (fam == ver)
    v4 = good & (h[:, 0] == 0x45)
    v6 = good & (ver == 6)
    # IPv4: no options, total length covers the header and fits, no fragment, checksum right.
    # The one's complement sum does not depend on byte order: sum native 16-bit words.
    w = h.view(np.uint16)
    csum = w[:, 0].astype(np.uint32)
    for k in range(1, 10):
        csum += w[:, k]
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    tlen4 = _be16(h[:, 2:4])
    frag4 = (h[:, 6] & 0x3F) | h[:, 7]
    v4 &= (tlen4 >= 20) & (cap >= l3 + tlen4) & (frag4 == 0) & (csum == 0xFFFF)
    # IPv6: no extension header, payload captured (jumbograms need a hop-by-hop header)
    plen6 = _be16(h[:, 4:6])
    nh6 = h[:, 6]
    v6 &= (cap >= l3 + 40 + plen6) & ~np.isin(nh6, IPV6_EXTENSIONS)
    ok = v4 | v6
    l4 = np.where(v4, np.int32(20), np.int32(40))
    l4len = np.where(v4, tlen4 - 20, plen6)
    proto = np.where(v4, h[:, 9], nh6)
    t = np.where(v4[:, None], h[:, 20:34], h[:, 40:54])  # (n, 14) UDP/TCP/... header bytes
    sp = _be16(t[:, 0:2])
    dp = _be16(t[:, 2:4])
    ulen = _be16(t[:, 4:6])
    udp = proto == PROTO_UDP
    tcp = proto == PROTO_TCP
    doff = (t[:, 12] >> 4).astype(np.int32) * 4
    ok &= ~udp | ((ulen >= 8) & (ulen == l4len))
    ok &= ~tcp | ((l4len >= 20) & (doff >= 20) & (doff <= l4len))
    ports = udp | tcp
    hdr = np.where(udp, np.int32(8), np.where(tcp, doff, np.int32(0)))

    kind = np.zeros(n, np.uint8)
    ctl = (sp == p.control) | (dp == p.control)
    kind[udp & (dp == p.gpe)] = Kind.LISP_GPE
    kind[udp & (dp == p.data)] = Kind.LISP_DATA
    kind[udp & ctl] = Kind.LISP_CONTROL
    kind[tcp & ctl] = Kind.LISP_TCP
    kind[v6 & ((proto == PROTO_MH) | (proto == PROTO_MH_LEGACY))] = Kind.MIP6
    ra = v6 & (proto == PROTO_ICMPV6) & (l4len >= 1) & (t[:, 0] == ICMPV6_ROUTER_ADVERTISEMENT)
    kind[ra] = Kind.ICMPV6_RA

    out.fast[:] = ok
    np.copyto(out.l3_offset, l3, where=ok)
    np.copyto(out.ip_version, np.where(v4, 4, 6).astype(np.uint8), where=ok)
    np.copyto(out.ip_proto, proto, where=ok, casting="unsafe")
    np.copyto(out.l4_offset, l3 + l4, where=ok)
    np.copyto(out.l4_length, l4len, where=ok)
    np.copyto(out.payload_offset, l3 + l4 + hdr, where=ok)
    np.copyto(out.payload_length, l4len - hdr, where=ok)
    np.copyto(out.sport, sp, where=ok & ports)
    np.copyto(out.dport, dp, where=ok & ports)
    np.copyto(out.kind, kind, where=ok)
    ok4, ok6 = (v4 & ok)[:, None], (v6 & ok)[:, None]
    for col, at6, at4 in ((out.src, 8, 12), (out.dst, 24, 16)):
        np.copyto(col, h[:, at6 : at6 + 16], where=ok6)
        np.copyto(col[:, 10:12], np.uint8(0xFF), where=ok4)
        np.copyto(col[:, 12:], h[:, at4 : at4 + 4], where=ok4)


# -- the per-frame path ----------------------------------------------------------------------

_U16 = struct.Struct("!H")
_U32BE = struct.Struct("!I")
_U32LE = struct.Struct("<I")


class _Undecodable(Exception):
    """Raised inside the per-frame path: the frame's row becomes UNDECODABLE with this text."""


def _note(out: Layers, i: int, text: str) -> None:
    out.anomalies.setdefault(i, []).append(text)


def _link(data: bytes, linktype: int) -> tuple[int, int]:
    """(l3 offset, family 4/6/0 from the link layer), or (-1, 0) for a frame that is not IP."""
    n = len(data)
    if linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        hlen, at, name = {
            LINKTYPE_ETHERNET: (14, 12, "Ethernet"),
            LINKTYPE_LINUX_SLL: (16, 14, "Linux cooked (SLL)"),
            LINKTYPE_LINUX_SLL2: (20, 0, "Linux cooked v2 (SLL2)"),
        }[linktype]
        if n < hlen:
            raise _Undecodable(f"truncated {name} header: {n} of {hlen} bytes")
        et = _U16.unpack_from(data, at)[0]
        off = hlen
        while et in ETH_VLAN:
            if n < off + 4:
                raise _Undecodable(f"truncated VLAN tag at byte {off}")
            et = _U16.unpack_from(data, off + 2)[0]
            off += 4
        if et == ETH_IPV4:
            return off, 4
        if et == ETH_IPV6:
            return off, 6
        return -1, 0
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_DLT12, LINKTYPE_RAW_DLT14):
        return 0, 0
    if linktype == LINKTYPE_IPV4:
        return 0, 4
    if linktype == LINKTYPE_IPV6:
        return 0, 6
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            raise _Undecodable(f"truncated null/loopback header: {n} of 4 bytes")
        if linktype == LINKTYPE_LOOP:
            af = _U32BE.unpack_from(data)[0]
        else:
            af = _U32LE.unpack_from(data)[0]
            if af > 0xFFFF:
                af = _U32BE.unpack_from(data)[0]
        if af == 2:
            return 4, 4
        if af in AF_INET6_VALUES:
            return 4, 6
        return -1, 0
    raise _Undecodable(f"unsupported link type {linktype}")


def _mapped(addr4: bytes) -> bytes:
    return b"\x00" * 10 + b"\xff\xff" + addr4


def _ipv6_chain(
    data: bytes, cur: int, end: int, nh: int, out: Layers, i: int
) -> tuple[int, int, tuple[int, int, bool] | None]:
    """Walk IPv6 extension headers from ``cur`` (next header ``nh``); record Home Address and
    Type 2 RH addresses. Returns (upper protocol, upper offset, fragment (next header, offset,
    more) or None). Stops after a Fragment header."""
    while nh in IPV6_EXTENSIONS:
        if cur + 2 > end:
            raise _Undecodable(f"truncated IPv6 extension header {nh} at byte {cur}")
        nxt, hlen = data[cur], data[cur + 1]
        if nh == PROTO_FRAGMENT:
            size = 8
        elif nh == PROTO_AH:
            size = (hlen + 2) * 4
        else:
            size = (hlen + 1) * 8
        if cur + size > end:
            raise _Undecodable(
                f"IPv6 extension header {nh} at byte {cur} ({size} bytes) runs past the payload"
            )
        body = data[cur : cur + size]
        if nh == PROTO_FRAGMENT:
            word = _U16.unpack_from(body, 2)[0]
            return nxt, cur + 8, (nxt, word & 0xFFF8, bool(word & 1))
        if nh == PROTO_DSTOPTS or (nh == PROTO_ROUTING and body[2] == 2):
            r = Reader(body)
            try:
                if nh == PROTO_DSTOPTS:
                    for o in DestinationOptions.read(r).options:
                        if isinstance(o, HomeAddressOption):
                            out.home_address[i] = o.home_address.packed
                else:
                    rh2 = Type2RoutingHeader.read(r)
                    out.rh2_address[i] = (rh2.home_address.packed, rh2.segments_left)
            except DecodeError as exc:
                _note(out, i, f"{A.IPV6_EXT_MALFORMED}: header {nh} at byte {cur}: {exc}")
            for anomaly in r.anomalies:
                _note(out, i, f"{anomaly.code}: {anomaly.detail}".rstrip(": "))
        nh = nxt
        cur += size
    return nh, cur, None


def _upper(
    data: bytes, l4: int, end: int, version: int, proto: int, out: Layers, i: int, p: Ports
) -> None:
    """Fill the upper-layer columns of row ``i`` from ``data[l4:end]``."""
    out.ip_proto[i] = proto
    out.l4_offset[i] = l4
    out.l4_length[i] = end - l4
    out.payload_offset[i] = l4
    out.payload_length[i] = end - l4
    sport = dport = -1
    if proto == PROTO_UDP:
        if end - l4 < 8:
            _note(out, i, f"{A.UDP_TRUNCATED}: {end - l4} bytes of the 8-byte header")
        else:
            sport, dport, ulen = struct.unpack_from("!HHH", data, l4)
            if ulen < 8:
                _note(out, i, f"{UDP_LENGTH_BAD}: UDP length {ulen} is below 8")
                ulen = end - l4
            elif ulen > end - l4:
                _note(out, i, f"{A.UDP_TRUNCATED}: UDP length {ulen}, {end - l4} bytes present")
                ulen = end - l4
            elif ulen < end - l4:
                _note(out, i, f"{UDP_LENGTH_BAD}: UDP length {ulen}, {end - l4} in IP")
            out.payload_offset[i] = l4 + 8
            out.payload_length[i] = ulen - 8
    elif proto == PROTO_TCP:
        if end - l4 < 20:
            _note(out, i, f"{A.TCP_TRUNCATED}: {end - l4} bytes of the 20-byte header")
        else:
            sport, dport = struct.unpack_from("!HH", data, l4)
            doff = (data[l4 + 12] >> 4) * 4
            if doff < 20 or doff > end - l4:
                _note(out, i, f"{A.TCP_BAD_HEADER_LENGTH}: data offset {doff} bytes")
                doff = max(20, min(doff, end - l4))
            out.payload_offset[i] = l4 + doff
            out.payload_length[i] = end - l4 - doff
    out.sport[i] = sport
    out.dport[i] = dport
    first = data[l4] if end > l4 else -1
    out.kind[i] = classify(version, proto, sport, dport, first, p)


def _slow(batch: FrameBatch, i: int, out: Layers, p: Ports, reassembler: Reassembler) -> None:
    data = batch.frame(i)
    l3, fam = _link(data, int(batch.linktype[i]))
    if l3 < 0:
        return  # not IP: kind OTHER
    out.l3_offset[i] = l3
    n = len(data)
    if n <= l3:
        raise _Undecodable(f"no IP header: frame ends at byte {n}")
    version = data[l3] >> 4
    if version not in (4, 6):
        raise _Undecodable(f"IP version {version} at byte {l3}")
    if fam and fam != version:
        raise _Undecodable(f"link layer announces IPv{fam}, the header says IPv{version}")
    out.ip_version[i] = version
    if version == 4:
        if n < l3 + 20:
            raise _Undecodable(f"truncated IPv4 header: {n - l3} of 20 bytes")
        hlen = (data[l3] & 0xF) * 4
        tlen, ident, frag = struct.unpack_from("!HHH", data, l3 + 2)
        proto = data[l3 + 9]
        out.src[i] = np.frombuffer(_mapped(data[l3 + 12 : l3 + 16]), np.uint8)
        out.dst[i] = np.frombuffer(_mapped(data[l3 + 16 : l3 + 20]), np.uint8)
        if hlen < 20:
            raise _Undecodable(f"bad IPv4 header length {hlen}")
        if n < l3 + hlen:
            raise _Undecodable(f"truncated IPv4 options: header length {hlen}, {n - l3} bytes")
        if tlen < hlen:
            raise _Undecodable(f"bad IPv4 total length {tlen} < header length {hlen}")
        if internet_checksum(data[l3 : l3 + hlen]) != 0:
            _note(out, i, f"{IP_CHECKSUM_BAD}: IPv4 header checksum is wrong")
        end = l3 + tlen
        if end > n:
            _note(out, i, f"{A.IP_TRUNCATED}: total length {tlen}, {n - l3} bytes captured")
            end = n
        l4 = l3 + hlen
        offset, more = (frag & 0x1FFF) * 8, bool(frag & 0x2000)
        if more or offset:
            src, dst = data[l3 + 12 : l3 + 16], data[l3 + 16 : l3 + 20]
            _fragment(
                batch,
                i,
                out,
                p,
                reassembler,
                (4, src, dst, ident, proto),
                offset,
                more,
                data[l4:end],
                end < l3 + tlen,
                l4,
            )
            return
        _upper(data, l4, end, 4, proto, out, i, p)
        return
    if n < l3 + 40:
        raise _Undecodable(f"truncated IPv6 header: {n - l3} of 40 bytes")
    plen = _U16.unpack_from(data, l3 + 4)[0]
    nh = data[l3 + 6]
    src, dst = data[l3 + 8 : l3 + 24], data[l3 + 24 : l3 + 40]
    out.src[i] = np.frombuffer(src, np.uint8)
    out.dst[i] = np.frombuffer(dst, np.uint8)
    end = l3 + 40 + plen
    if plen == 0 and nh == PROTO_HOPOPT:
        end = n  # a jumbogram (RFC 2675): the length is in the hop-by-hop option
    if end > n:
        _note(out, i, f"{A.IPV6_TRUNCATED}: payload length {plen}, {n - l3 - 40} bytes captured")
        end = n
    proto, l4, frag = _ipv6_chain(data, l3 + 40, end, nh, out, i)
    if frag is not None:
        nxt, offset, more = frag
        ident = _U32BE.unpack_from(data, l4 - 4)[0]
        if more or offset:
            _fragment(
                batch,
                i,
                out,
                p,
                reassembler,
                (6, src, dst, ident, nxt),
                offset,
                more,
                data[l4:end],
                end < l3 + 40 + plen,
                l4,
            )
            return
        _note(out, i, f"{A.IPV6_ATOMIC_FRAGMENT}: Fragment header with offset 0 and M = 0")
        proto, l4, _ = _ipv6_chain(data, l4, end, nxt, out, i)
    _upper(data, l4, end, 6, proto, out, i, p)


def _fragment(
    batch: FrameBatch,
    i: int,
    out: Layers,
    p: Ports,
    reassembler: Reassembler,
    key: FragmentKey,
    offset: int,
    more: bool,
    payload: bytes,
    truncated: bool,
    l4: int,
) -> None:
    out.kind[i] = Kind.FRAGMENT
    out.fragment[i] = Fragmentation.HELD
    out.fragment_of[i] = key
    out.ip_proto[i] = key[4]
    out.l4_offset[i] = l4
    out.l4_length[i] = len(payload)
    out.payload_offset[i] = l4
    out.payload_length[i] = len(payload)
    if truncated:
        _note(out, i, f"{A.FRAGMENT_TRUNCATED}: fragment not captured whole, not reassembled")
        return
    number, time_ns = int(batch.number[i]), int(batch.time_ns[i])
    result = reassembler.feed(Fragment(number, time_ns, key, offset, more, payload))
    for text in result.anomalies:
        _note(out, i, text)
    _record_evictions(batch, out, result.evicted)
    done = result.reassembled
    if done is None:
        return
    out.fragment[i] = Fragmentation.COMPLETES
    out.reassembled[i] = done
    version, proto, data = key[0], key[4], done.data
    try:
        if version == 6:
            proto, l4_, frag = _ipv6_chain(data, 0, len(data), proto, out, i)
            if frag is not None:
                raise _Undecodable("a Fragment header inside a reassembled datagram")
        else:
            l4_ = 0
        _upper(data, l4_, len(data), version, proto, out, i, p)
    except _Undecodable as exc:
        out.kind[i] = Kind.UNDECODABLE
        out.error[i] = f"reassembled datagram: {exc}"


def _record_evictions(batch: FrameBatch, out: Layers, evicted: tuple[Evicted, ...]) -> None:
    """Keep the evictions, and note them on the rows of this batch they concern."""
    if not evicted:
        return
    out.evicted.extend(evicted)
    first = int(batch.number[0])
    for ev in evicted:
        for number in ev.frames:
            row = number - first
            if not (0 <= row < len(batch) and int(batch.number[row]) == number):
                hits = np.flatnonzero(batch.number == number)  # numbers not consecutive
                row = int(hits[0]) if len(hits) else -1
            if row >= 0:
                _note(out, row, ev.anomaly())


def decode_layers(
    batch: FrameBatch, ports: Ports | None = None, reassembler: Reassembler | None = None
) -> Layers:
    """The layer columns of every frame of ``batch`` (one row per frame, never an exception).

    Pass the same ``reassembler`` for every batch of a capture so that datagrams fragmented
    across batches complete, and call its ``flush()`` at the end of the capture. Without one,
    a reassembler local to this batch is used and flushed at its end (its evictions are in
    :attr:`Layers.evicted` and noted on the rows).
    """
    p = ports or Ports()
    n = len(batch)
    out = _empty(n)
    _fast(batch, out, p)
    local = reassembler is None
    reasm = reassembler if reassembler is not None else Reassembler()
    for i in np.flatnonzero(~out.fast).tolist():
        try:
            _slow(batch, i, out, p, reasm)
        except _Undecodable as exc:
            out.kind[i] = Kind.UNDECODABLE
            out.error[i] = str(exc)
        except Exception as exc:  # a bug: still one row, and the reason says so
            out.kind[i] = Kind.UNDECODABLE
            out.error[i] = f"internal error: {type(exc).__name__}: {exc}"
    if n:
        _record_evictions(batch, out, tuple(reasm.expire(int(batch.time_ns[-1]))))
    if local:
        _record_evictions(batch, out, tuple(reasm.flush()))
    return out
