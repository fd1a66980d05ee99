"""Lean codecs for the packets LISP encapsulates: IPv4, IPv6 (+ extension headers), UDP, IGMP,
Ethernet II.

These run on every data packet (and in the reference stack), so they read with ``struct`` and
record one span per field only. Lengths and checksums are kept as decoded (``build(parse(b))
== b``); ``None`` in a length or checksum field means "compute it on build".

* :class:`Ipv4Header` (RFC 791): options kept raw; the header checksum is verified
  (anomaly ``ip.checksum_bad``).
* :class:`Ipv6Header` (RFC 8200): the extension-header chain (hop-by-hop 0, routing 43,
  fragment 44, destination options 60, AH 51) as :class:`Ipv6Extension` values, enough to
  reach the upper layer.
* :class:`UdpDatagram` (RFC 768): checksum verified with the pseudo-header when the whole
  payload is present; zero = "no checksum" (fine for IPv4, a note for IPv6: RFC 6935/6936).
* :class:`Igmp` (RFC 2236 v1/v2 messages, RFC 3376 v3 query) and :class:`IgmpV3Report`
  (RFC 3376 sec. 4.2: group records - the mobile node's (S-EID, G) join).
* :class:`EthernetFrame` (Ethernet II, 802.1Q/802.1ad tags) for L2 LISP.
* :class:`IpPacket`: header + decoded upper layer (UDP / IGMP) or raw payload.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass

from dissectors.core import (
    TRAILING_BYTES,
    Malformed,
    Reader,
    Truncated,
    Value,
    anomaly_code,
    ip_of,
)

IP_CHECKSUM_BAD = anomaly_code(
    "ip.checksum_bad", "warn", "IPv4 header checksum is wrong", "ip.checksum_bad.expert"
)
UDP_CHECKSUM_BAD = anomaly_code(
    "udp.checksum_bad", "warn", "UDP checksum is wrong", "udp.checksum.bad"
)
UDP_CHECKSUM_ZERO_V6 = anomaly_code(
    "udp.checksum_zero_ipv6",
    "note",
    "UDP over IPv6 with a zero checksum (allowed for tunnels by RFC 6935/6936, e.g. LISP)",
    "udp.checksum.zero",
)
UDP_LENGTH_BAD = anomaly_code(
    "udp.length_bad", "warn", "UDP length disagrees with the IP payload length"
)
IGMP_CHECKSUM_BAD = anomaly_code(
    "igmp.checksum_bad", "warn", "IGMP checksum is wrong", "igmp.bad_checksum"
)

PROTO_HOPOPT = 0
PROTO_IGMP = 2
PROTO_UDP = 17
PROTO_ROUTING = 43
PROTO_FRAGMENT = 44
PROTO_AH = 51
PROTO_DSTOPTS = 60
IPV6_EXTENSIONS = frozenset({PROTO_HOPOPT, PROTO_ROUTING, PROTO_FRAGMENT, PROTO_AH, PROTO_DSTOPTS})

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})

_V4 = struct.Struct("!BBHHHBBH4s4s")
_V6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
_HH = struct.Struct("!HH")


def internet_checksum(data: bytes, initial: int = 0) -> int:
    """The 16-bit one's complement of the one's complement sum (RFC 1071)."""
    if len(data) & 1:
        data += b"\x00"
    total = initial + sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# -- IPv4 -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ipv4Header(Value):
    """IPv4 header (RFC 791). ``flags`` is the 3-bit field (reserved, DF, MF)."""

    src: ipaddress.IPv4Address
    dst: ipaddress.IPv4Address
    protocol: int = PROTO_UDP
    ttl: int = 64
    dscp: int = 0
    ecn: int = 0
    identification: int = 0
    flags: int = 0
    fragment_offset: int = 0  # in 8-byte units
    options: bytes = b""
    total_length: int | None = None  # None: header + payload length on build
    checksum: int | None = None  # None: computed on build
    ihl: int | None = None  # None: from the options' length

    version = 4

    @property
    def header_length(self) -> int:
        return (self.ihl if self.ihl is not None else 5 + (len(self.options) + 3) // 4) * 4

    @property
    def reserved_flag(self) -> bool:
        return bool(self.flags & 4)

    @property
    def dont_fragment(self) -> bool:
        return bool(self.flags & 2)

    @property
    def more_fragments(self) -> bool:
        return bool(self.flags & 1)

    @property
    def is_fragment(self) -> bool:
        return self.more_fragments or self.fragment_offset != 0

    @classmethod
    def read(cls, r: Reader) -> Ipv4Header:
        start = r.need(20, "ipv4")
        buf = r.buf
        vihl, tos, tlen, ident, frag, ttl, proto, csum, src, dst = _V4.unpack_from(buf, start)
        if vihl >> 4 != 4:
            raise Malformed(start, f"{r.key('version')}: {vihl >> 4} is not 4")
        ihl = vihl & 0xF
        if ihl < 5:
            raise Malformed(start, f"{r.key('ihl')}: {ihl} is below 5")
        hlen = ihl * 4
        r.need(hlen, "options")
        if tlen < hlen:
            raise Malformed(start + 2, f"{r.key('total_length')}: {tlen} < header length {hlen}")
        r.pos = start + hlen
        r.mark("ipv4", start)
        if hlen > 20:
            r.mark("options", start + 20)
        header = buf[start : start + hlen]
        if internet_checksum(header) != 0:
            r.anomaly(IP_CHECKSUM_BAD, f"checksum 0x{csum:04x}", offset=start + 10)
        return cls(
            src=ip_of(ipaddress.IPv4Address, src),
            dst=ip_of(ipaddress.IPv4Address, dst),
            protocol=proto,
            ttl=ttl,
            dscp=tos >> 2,
            ecn=tos & 3,
            identification=ident,
            flags=frag >> 13,
            fragment_offset=frag & 0x1FFF,
            options=header[20:],
            total_length=tlen,
            checksum=csum,
            ihl=ihl,
        )

    def pack(self, payload_length: int = 0) -> bytes:
        """The header bytes; a ``None`` total length becomes header + ``payload_length``."""
        hlen = self.header_length
        options = self.options + b"\x00" * (hlen - 20 - len(self.options))
        tlen = self.total_length if self.total_length is not None else hlen + payload_length
        words = _V4.pack(
            0x40 | hlen // 4,
            self.dscp << 2 | self.ecn,
            tlen,
            self.identification,
            self.flags << 13 | self.fragment_offset,
            self.ttl,
            self.protocol,
            0,
            self.src.packed,
            self.dst.packed,
        )
        csum = self.checksum
        if csum is None:
            csum = internet_checksum(words + options)
        return words[:10] + csum.to_bytes(2, "big") + words[12:] + options

    def build(self) -> bytes:
        return self.pack()

    def pseudo_header_sum(self, protocol: int, length: int) -> int:
        s, d = int(self.src), int(self.dst)  # the sum of each address's two 16-bit halves
        return (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + protocol + length


# -- IPv6 -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ipv6Extension(Value):
    """One IPv6 extension header: its type (the previous Next Header), its own Next Header and
    ``data``, every byte after the Next Header byte (Hdr Ext Len included, so that odd
    lengths round-trip; for a fragment header the reserved byte, offset/flags and ID)."""

    header_type: int
    next_header: int
    data: bytes = b"\x00" * 7

    @property
    def length(self) -> int:
        return 1 + len(self.data)

    # -- fragment header (44) -----------------------------------------------------------------
    @property
    def fragment_offset(self) -> int:
        return struct.unpack_from("!H", self.data, 1)[0] >> 3

    @property
    def more_fragments(self) -> bool:
        return bool(self.data[2] & 1)

    @property
    def identification(self) -> int:
        return struct.unpack_from("!I", self.data, 3)[0]

    # -- routing header (43) ------------------------------------------------------------------
    @property
    def routing_type(self) -> int:
        return self.data[1]

    @property
    def segments_left(self) -> int:
        return self.data[2]

    @classmethod
    def fragment_header(
        cls, next_header: int, offset: int, more: bool, identification: int
    ) -> Ipv6Extension:
        data = struct.pack("!BHI", 0, offset << 3 | int(more), identification)
        return cls(PROTO_FRAGMENT, next_header, data)

    @classmethod
    def options_header(cls, header_type: int, next_header: int, options: bytes) -> Ipv6Extension:
        """A hop-by-hop / destination-options / routing header; ``options`` padded to 8n+6."""
        pad = (-(len(options) + 2)) % 8
        body = options + b"\x00" * pad
        return cls(header_type, next_header, bytes([(len(body) + 2) // 8 - 1]) + body)

    @classmethod
    def read(cls, r: Reader) -> Ipv6Extension:  # pragma: no cover - needs the type
        raise Malformed(r.pos, "an IPv6 extension header is read with read_as(r, type)")

    @classmethod
    def read_as(cls, r: Reader, header_type: int) -> Ipv6Extension:
        start = r.need(2, "next_header")
        nxt, hlen = r.buf[start], r.buf[start + 1]
        if header_type == PROTO_FRAGMENT:
            size = 8
        elif header_type == PROTO_AH:
            size = (hlen + 2) * 4
        else:
            size = (hlen + 1) * 8
        r.need(size, "data")
        r.pos = start + size
        r.mark("next_header", start, start + 1)
        r.mark("data", start + 1)
        return cls(header_type, nxt, r.buf[start + 1 : start + size])

    def build(self) -> bytes:
        return bytes([self.next_header]) + self.data


@dataclass(frozen=True, slots=True)
class Ipv6Header(Value):
    """IPv6 header (RFC 8200) with its extension-header chain; ``protocol`` is the upper layer
    (the last Next Header of the chain)."""

    src: ipaddress.IPv6Address
    dst: ipaddress.IPv6Address
    next_header: int = PROTO_UDP
    hop_limit: int = 64
    traffic_class: int = 0
    flow_label: int = 0
    extensions: tuple[Ipv6Extension, ...] = ()
    payload_length: int | None = None  # None: extensions + upper layer on build

    version = 6

    @property
    def protocol(self) -> int:
        return self.extensions[-1].next_header if self.extensions else self.next_header

    @property
    def header_length(self) -> int:
        return 40 + sum(e.length for e in self.extensions)

    @property
    def fragment(self) -> Ipv6Extension | None:
        for ext in self.extensions:
            if ext.header_type == PROTO_FRAGMENT:
                return ext
        return None

    @property
    def is_fragment(self) -> bool:
        frag = self.fragment
        return frag is not None and (frag.fragment_offset != 0 or frag.more_fragments)

    @classmethod
    def read(cls, r: Reader) -> Ipv6Header:
        start = r.need(40, "ipv6")
        word, plen, nxt, hlim, src, dst = _V6.unpack_from(r.buf, start)
        if word >> 28 != 6:
            raise Malformed(start, f"{r.key('version')}: {word >> 28} is not 6")
        r.pos = start + 40
        r.mark("ipv6", start)
        if plen > r.end - r.pos:
            raise Truncated(start + 4, f"{r.key('payload_length')}: {plen} > {r.remaining} left")
        exts: list[Ipv6Extension] = []
        proto = nxt
        saved_end, r.end = r.end, r.pos + plen
        try:
            while proto in IPV6_EXTENSIONS:
                with r.scope(f"extensions[{len(exts)}]"):
                    ext = Ipv6Extension.read_as(r, proto)
                exts.append(ext)
                proto = ext.next_header
        finally:
            r.end = saved_end
        return cls(
            src=ip_of(ipaddress.IPv6Address, src),
            dst=ip_of(ipaddress.IPv6Address, dst),
            next_header=nxt,
            hop_limit=hlim,
            traffic_class=(word >> 20) & 0xFF,
            flow_label=word & 0xFFFFF,
            extensions=tuple(exts),
            payload_length=plen,
        )

    def pack(self, payload_length: int = 0) -> bytes:
        ext = b"".join(e.build() for e in self.extensions)
        plen = self.payload_length
        if plen is None:
            plen = len(ext) + payload_length
        word = 6 << 28 | self.traffic_class << 20 | self.flow_label
        return (
            _V6.pack(word, plen, self.next_header, self.hop_limit, self.src.packed, self.dst.packed)
            + ext
        )

    def build(self) -> bytes:
        return self.pack()

    def pseudo_header_sum(self, protocol: int, length: int) -> int:
        words = struct.unpack("!16H", self.src.packed + self.dst.packed)
        return sum(words) + (length >> 16) + (length & 0xFFFF) + protocol


IpHeader = Ipv4Header | Ipv6Header


# -- UDP ------------------------------------------------------------------------------------

PayloadDecoder = Callable[[Reader, "UdpDatagram"], Value | None]


@dataclass(frozen=True, slots=True)
class UdpDatagram(Value):
    """UDP header + payload (raw bytes, or a value a caller-supplied decoder made of it)."""

    src_port: int
    dst_port: int
    payload: bytes | Value = b""
    length: int | None = None  # None: 8 + payload length on build
    checksum: int | None = 0  # 0: no checksum; None: computed on build (needs the IP header)

    def payload_bytes(self) -> bytes:
        p = self.payload
        return p if isinstance(p, bytes) else p.build()

    @classmethod
    def read(cls, r: Reader) -> UdpDatagram:
        return cls.read_with(r)

    @classmethod
    def read_with(
        cls, r: Reader, decoder: PayloadDecoder | None = None, ip: IpHeader | None = None
    ) -> UdpDatagram:
        start = r.need(8, "udp")
        sport, dport, length, csum = _UDP.unpack_from(r.buf, start)
        r.pos = start + 8
        spans, prefix = r.spans, r.prefix
        spans[prefix + "src_port"] = (start, 2)
        spans[prefix + "dst_port"] = (start + 2, 2)
        spans[prefix + "length"] = (start + 4, 2)
        spans[prefix + "checksum"] = (start + 6, 2)
        if length < 8:
            raise Malformed(start + 4, f"{r.key('length')}: {length} is below 8")
        if length - 8 > r.remaining:
            raise Truncated(start + 4, f"{r.key('length')}: {length - 8} > {r.remaining} left")
        if length - 8 < r.remaining:
            r.anomaly(UDP_LENGTH_BAD, f"UDP length {length}, {r.remaining + 8} in IP", start + 4)
        if ip is not None:
            if csum == 0:
                if ip.version == 6:
                    r.anomaly(UDP_CHECKSUM_ZERO_V6, offset=start + 6)
            else:
                total = ip.pseudo_header_sum(PROTO_UDP, length)
                if internet_checksum(r.buf[start : start + length], total) != 0:
                    r.anomaly(UDP_CHECKSUM_BAD, f"checksum 0x{csum:04x}", offset=start + 6)
        payload: bytes | Value | None = None
        end = start + length
        if decoder is not None:
            # r.limit + r.scope inlined (hot path): zero-cost try/finally instead of generators
            saved_end, saved_prefix, r.end = r.end, r.prefix, end
            r.prefix = saved_prefix + "payload."
            try:
                payload = decoder(r, cls(sport, dport, b"", length, csum))
                if payload is not None and r.pos < end:
                    r.anomaly(TRAILING_BYTES, f"{end - r.pos} unread bytes in the UDP payload")
            finally:
                r.end, r.prefix = saved_end, saved_prefix
        if payload is None:
            r.pos = start + 8
            payload = r.raw(length - 8, "payload")
        else:
            r.spans[r.prefix + "payload"] = (start + 8, length - 8)
            r.pos = end
        return cls(sport, dport, payload, length, csum)

    def pack(self, ip: IpHeader | None = None) -> bytes:
        payload = self.payload_bytes()
        length = self.length if self.length is not None else 8 + len(payload)
        csum = self.checksum
        if csum is None:
            if ip is None:
                csum = 0
            else:
                head = _UDP.pack(self.src_port, self.dst_port, length, 0)
                csum = internet_checksum(head + payload, ip.pseudo_header_sum(PROTO_UDP, length))
                csum = csum or 0xFFFF
        return _UDP.pack(self.src_port, self.dst_port, length, csum) + payload

    def build(self) -> bytes:
        return self.pack()


# -- IGMP -----------------------------------------------------------------------------------

IGMP_QUERY = 0x11
IGMP_V1_REPORT = 0x12
IGMP_V2_REPORT = 0x16
IGMP_LEAVE = 0x17
IGMP_V3_REPORT = 0x22

MODE_IS_INCLUDE, MODE_IS_EXCLUDE = 1, 2
CHANGE_TO_INCLUDE, CHANGE_TO_EXCLUDE = 3, 4
ALLOW_NEW_SOURCES, BLOCK_OLD_SOURCES = 5, 6


def _check_igmp_checksum(r: Reader, start: int, csum: int) -> None:
    """Anomaly if the IGMP message from ``start`` to the position does not sum to zero."""
    if internet_checksum(r.buf[start : r.pos]) != 0:
        r.anomaly(IGMP_CHECKSUM_BAD, f"checksum 0x{csum:04x}", offset=start + 2)


def _with_igmp_checksum(message: bytes, checksum: int | None) -> bytes:
    """``message`` (checksum bytes zero) with ``checksum`` (None: computed) at bytes 2-3."""
    csum = checksum if checksum is not None else internet_checksum(message)
    return message[:2] + csum.to_bytes(2, "big") + message[4:]


@dataclass(frozen=True, slots=True)
class Igmp(Value):
    """An IGMP message other than the v3 report: v1/v2 report, leave, v1/v2/v3 query.

    ``extra`` holds what follows the 8 fixed bytes (the v3 query's S/QRV, QQIC and sources).
    """

    type: int
    group: ipaddress.IPv4Address
    max_resp: int = 0
    extra: bytes = b""
    checksum: int | None = None

    @property
    def sources(self) -> tuple[ipaddress.IPv4Address, ...]:
        """v3 query sources (RFC 3376 sec. 4.1)."""
        if self.type != IGMP_QUERY or len(self.extra) < 4:
            return ()
        n = struct.unpack_from("!H", self.extra, 2)[0]
        body = self.extra[4 : 4 + 4 * n]
        return tuple(ipaddress.IPv4Address(body[i : i + 4]) for i in range(0, len(body) - 3, 4))

    @classmethod
    def read(cls, r: Reader) -> Igmp | IgmpV3Report:
        start = r.need(1, "type")
        if r.buf[start] == IGMP_V3_REPORT:
            return IgmpV3Report.read(r)
        kind = r.u8("type")
        max_resp = r.u8("max_resp")
        csum = r.u16("checksum")
        group = ipaddress.IPv4Address(r.raw(4, "group"))
        extra = r.rest("extra")
        _check_igmp_checksum(r, start, csum)
        return cls(kind, group, max_resp, extra, csum)

    def build(self) -> bytes:
        body = bytes([self.type, self.max_resp]) + b"\x00\x00" + self.group.packed + self.extra
        return _with_igmp_checksum(body, self.checksum)


@dataclass(frozen=True, slots=True)
class IgmpGroupRecord(Value):
    """RFC 3376 sec. 4.2.4: record type, multicast address, sources, auxiliary data."""

    record_type: int
    multicast_address: ipaddress.IPv4Address
    sources: tuple[ipaddress.IPv4Address, ...] = ()
    aux_data: bytes = b""  # a multiple of 4 bytes

    @classmethod
    def read(cls, r: Reader) -> IgmpGroupRecord:
        rtype = r.u8("record_type")
        aux_len = r.u8("aux_data_len")
        nsrc = r.u16("number_of_sources")
        group = ipaddress.IPv4Address(r.raw(4, "multicast_address"))
        body = r.raw(4 * nsrc, "sources")
        sources = tuple(ipaddress.IPv4Address(body[i : i + 4]) for i in range(0, len(body), 4))
        aux = r.raw(4 * aux_len, "aux_data")
        return cls(rtype, group, sources, aux)

    def build(self) -> bytes:
        if len(self.aux_data) % 4:
            raise ValueError("IGMPv3 auxiliary data must be a multiple of 4 bytes")
        return (
            struct.pack("!BBH", self.record_type, len(self.aux_data) // 4, len(self.sources))
            + self.multicast_address.packed
            + b"".join(s.packed for s in self.sources)
            + self.aux_data
        )


@dataclass(frozen=True, slots=True)
class IgmpV3Report(Value):
    """IGMPv3 Membership Report (type 0x22, RFC 3376 sec. 4.2)."""

    records: tuple[IgmpGroupRecord, ...] = ()
    reserved1: int = 0
    reserved2: int = 0
    checksum: int | None = None

    type = IGMP_V3_REPORT

    @classmethod
    def read(cls, r: Reader) -> IgmpV3Report:
        start = r.pos
        r.u8("type")
        res1 = r.u8("reserved1")
        csum = r.u16("checksum")
        res2 = r.u16("reserved2")
        count = r.u16("number_of_group_records")
        records = []
        for i in range(count):
            with r.scope(f"records[{i}]"):
                records.append(IgmpGroupRecord.read(r))
        _check_igmp_checksum(r, start, csum)
        return cls(tuple(records), res1, res2, csum)

    def build(self) -> bytes:
        body = b"".join(g.build() for g in self.records)
        head = struct.pack(
            "!BBHHH", IGMP_V3_REPORT, self.reserved1, 0, self.reserved2, len(self.records)
        )
        return _with_igmp_checksum(head + body, self.checksum)


# -- IP packet ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IpPacket(Value):
    """An IPv4 or IPv6 packet: header + UDP/IGMP decoded, anything else (or a fragment) raw."""

    header: Ipv4Header | Ipv6Header
    payload: UdpDatagram | Igmp | IgmpV3Report | bytes = b""

    @property
    def src(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return self.header.src

    @property
    def dst(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        return self.header.dst

    @property
    def protocol(self) -> int:
        return self.header.protocol

    @classmethod
    def read(cls, r: Reader) -> IpPacket:
        return cls.read_with(r)

    @classmethod
    def read_with(cls, r: Reader, udp_decoder: PayloadDecoder | None = None) -> IpPacket:
        """Decode an IP packet by its version nibble; ``udp_decoder`` may decode UDP payloads."""
        start = r.need(1, "version")
        version = r.buf[start] >> 4
        header: Ipv4Header | Ipv6Header
        saved_prefix = r.prefix
        r.prefix = saved_prefix + "header."
        try:
            if version == 4:
                header = Ipv4Header.read(r)
                body_len = header.total_length - (r.pos - start) if header.total_length else 0
            elif version == 6:
                header = Ipv6Header.read(r)
                body_len = (header.payload_length or 0) - (r.pos - start - 40)
            else:
                raise Malformed(start, f"{r.key('version')}: {version} is neither 4 nor 6")
        finally:
            r.prefix = saved_prefix
        r.spans[saved_prefix + "header"] = (start, r.pos - start)
        if body_len < 0:
            raise Malformed(start, "extension headers run past the IPv6 payload length")
        if body_len > r.remaining:
            raise Truncated(r.pos, f"IP payload needs {body_len} bytes, {r.remaining} left")
        payload: UdpDatagram | Igmp | IgmpV3Report | bytes
        body_start = r.pos
        end = body_start + body_len
        saved_end, saved_prefix, r.end = r.end, r.prefix, end
        try:
            proto = header.protocol
            if header.is_fragment:  # never a whole upper layer: keep it raw
                payload = r.rest("payload")
            elif proto == PROTO_UDP:
                r.prefix = saved_prefix + "udp."
                payload = UdpDatagram.read_with(r, udp_decoder, header)
                r.spans[saved_prefix + "udp"] = (body_start, r.pos - body_start)
            elif proto == PROTO_IGMP and version == 4:
                r.prefix = saved_prefix + "igmp."
                payload = Igmp.read(r)
                r.spans[saved_prefix + "igmp"] = (body_start, r.pos - body_start)
            else:
                payload = r.rest("payload")
            r.prefix = saved_prefix
            if r.pos < end:
                r.anomaly(TRAILING_BYTES, f"{end - r.pos} unread bytes in the IP payload")
        finally:
            r.end, r.prefix = saved_end, saved_prefix
        r.pos = end
        return cls(header, payload)

    def build(self) -> bytes:
        h = self.header
        p = self.payload
        if isinstance(p, UdpDatagram):
            body = p.pack(h)
        elif isinstance(p, bytes):
            body = p
        else:
            body = p.build()
        return h.pack(len(body)) + body


# -- Ethernet -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EthernetFrame(Value):
    """Ethernet II header (+ 802.1Q/802.1ad tags as (TPID, TCI) pairs) and its payload."""

    dst: bytes
    src: bytes
    ethertype: int
    payload: IpPacket | bytes = b""
    vlan_tags: tuple[tuple[int, int], ...] = ()

    @classmethod
    def read(cls, r: Reader) -> EthernetFrame:
        return cls.read_with(r)

    @classmethod
    def read_with(cls, r: Reader, udp_decoder: PayloadDecoder | None = None) -> EthernetFrame:
        dst = r.raw(6, "dst")
        src = r.raw(6, "src")
        etype = r.u16("ethertype")
        tags: list[tuple[int, int]] = []
        while etype in ETH_VLAN:
            with r.scope(f"vlan_tags[{len(tags)}]"):
                tags.append((etype, r.u16("tci")))
                etype = r.u16("ethertype")
        payload: IpPacket | bytes
        if etype in (ETH_IPV4, ETH_IPV6) and r.remaining > 0:
            with r.scope("payload"):
                payload = IpPacket.read_with(r, udp_decoder)
            if r.pos < r.end:  # Ethernet padding after a short IP packet
                r.raw(r.end - r.pos, "padding")
        else:
            payload = r.rest("payload")
        return cls(dst, src, etype, payload, tuple(tags))

    def build(self) -> bytes:
        out = [self.dst, self.src]
        for tpid, tci in self.vlan_tags:
            out.append(_HH.pack(tpid, tci))
        out.append(struct.pack("!H", self.ethertype))
        p = self.payload
        out.append(p if isinstance(p, bytes) else p.build())
        return b"".join(out)
