"""The LISP data plane: the 8-byte data header (RFC 6830/9300 sec. 5.3, RFC 8061 KK, RFC 9305
LISP-GPE) and the packet it carries.

Layout (bit 0 = MSB)::

    N L E V I R|P K K | Nonce/Map-Version (24)          [P=1: Nonce (16) | Next Protocol (8)]
    Instance ID/Locator-Status-Bits (32)               [I=1: Instance ID (24) | LSBs (8)]

N 0x80 nonce present, L 0x40 LSBs valid, E 0x20 echo-nonce request (with N only), V 0x10
map-versions present (source 12 + destination 12; never with N), I 0x08 instance ID present;
bit 5 is R (RFC 9300, reserved) or P (RFC 9305: the low byte of the first word is the Next
Protocol: 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH); bits 6-7 KK (RFC 8061 key phase; KK != 0 =
payload encrypted). RFC 6830 calls bits 5-7 "flags" (reserved).

The payload: IPv4/IPv6 by the version nibble; Ethernet for L2 LISP (``payload_kind="ethernet"``,
a GPE next protocol 3, or an instance ID listed in ``l2_instance_ids``); KK != 0 or anything
else raw. An inner UDP packet to 4341 is decoded again as LISP data (LISP-in-LISP, up to
:data:`MAX_NESTING` headers deep); an inner UDP packet to or from 4342 as a control message,
and so is a non-IP payload behind IID 0xFFFFFF (lispers.net control-in-data; unverified).
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from dissectors.core import (
    TRAILING_BYTES,
    DecodeError,
    Malformed,
    Reader,
    Value,
    anomaly_code,
    attach,
)
from dissectors.inet import EthernetFrame, IpPacket, UdpDatagram
from dissectors.lisp.message import ControlMessage, read_control

EN_INVALID = anomaly_code(
    "lisp-data.flags.en_invalid",
    "warn",
    "invalid flag combination: if E is set, N must be set",
    "lisp-data.flags.en_invalid",
)
NV_INVALID = anomaly_code(
    "lisp-data.flags.nv_invalid",
    "warn",
    "invalid flag combination: N and V cannot both be set",
    "lisp-data.flags.nv_invalid",
)
PAYLOAD_UNKNOWN = anomaly_code(
    "lisp-data.payload_undecoded",
    "note",
    "data payload is neither IPv4 nor IPv6 (nor a known GPE next protocol); kept raw",
)
INNER_CONTROL_UNDECODABLE = anomaly_code(
    "lisp-data.inner_control_undecodable",
    "warn",
    "a control message inside a data packet (inner UDP/4342 or IID 0xFFFFFF) does not decode; "
    "kept raw",
)

DATA_PORT = 4341
CONTROL_PORT = 4342
GPE_PORT = 4790  # VXLAN-GPE; LISP-GPE itself uses 4341 with the P bit (RFC 9305)
MAX_NESTING = 4  # LISP data headers in one packet (outer, middle, inner, + one spare)

GPE_IPV4, GPE_IPV6, GPE_ETHERNET, GPE_NSH = 1, 2, 3, 4

PayloadKind = Literal["auto", "ip", "ethernet", "control", "raw"]
CONTROL_IID = 0xFFFFFF  # lispers.net: a control message right behind a data header [C, unverified]

_HDR = struct.Struct("!II")


@dataclass(frozen=True, slots=True)
class DataHeader(Value):
    """The 8-byte LISP data header; both 32-bit words kept whole, their meanings as properties."""

    nonce_present: bool = False  # N
    lsb_enabled: bool = False  # L
    echo_nonce_request: bool = False  # E
    map_version_present: bool = False  # V
    instance_id_present: bool = False  # I
    p: bool = False  # bit 5: R (RFC 9300, reserved) / P (RFC 9305, Next Protocol present)
    key_phase: int = 0  # KK (RFC 8061): 0 = not encrypted, 1/2 = key 1/2, 3 = reserved
    nonce_map_version: int = 0  # 24 bits "Nonce/Map-Version" (P=1: Nonce 16 + Next Protocol)
    iid_lsbs: int = 0  # 32 bits "Instance ID/Locator-Status-Bits"

    @property
    def flags(self) -> int:
        return (
            self.nonce_present << 7
            | self.lsb_enabled << 6
            | self.echo_nonce_request << 5
            | self.map_version_present << 4
            | self.instance_id_present << 3
            | self.p << 2
            | self.key_phase
        )

    @property
    def r(self) -> bool:
        """Bit 5 under its RFC 9300 name."""
        return self.p

    @property
    def nonce(self) -> int | None:
        if not self.nonce_present:
            return None
        return self.nonce_map_version >> 8 if self.p else self.nonce_map_version

    @property
    def source_map_version(self) -> int | None:
        return self.nonce_map_version >> 12 if self.map_version_present else None

    @property
    def dest_map_version(self) -> int | None:
        return self.nonce_map_version & 0xFFF if self.map_version_present else None

    @property
    def next_protocol(self) -> int | None:
        return self.nonce_map_version & 0xFF if self.p else None

    @property
    def instance_id(self) -> int | None:
        return self.iid_lsbs >> 8 if self.instance_id_present else None

    @property
    def lsbs(self) -> int:
        """Locator-Status-Bits: 8 with I=1, else 32 (meaningful when L=1)."""
        return self.iid_lsbs & 0xFF if self.instance_id_present else self.iid_lsbs

    @property
    def encrypted(self) -> bool:
        return self.key_phase != 0

    @classmethod
    def make(
        cls,
        *,
        nonce: int | None = None,
        map_versions: tuple[int, int] | None = None,
        instance_id: int | None = None,
        lsbs: int | None = None,
        echo_nonce_request: bool = False,
        next_protocol: int | None = None,
        key_phase: int = 0,
    ) -> DataHeader:
        """A header from its meanings (sets N/V/I/L/P to match what is given)."""
        word = 0
        if nonce is not None:
            word = nonce << 8 if next_protocol is not None else nonce
        if map_versions is not None:
            word = map_versions[0] << 12 | map_versions[1]
        if next_protocol is not None:
            word = (word & 0xFFFF00) | next_protocol
        second = lsbs or 0
        if instance_id is not None:
            second = instance_id << 8 | (lsbs or 0) & 0xFF
        return cls(
            nonce_present=nonce is not None,
            lsb_enabled=lsbs is not None,
            echo_nonce_request=echo_nonce_request,
            map_version_present=map_versions is not None,
            instance_id_present=instance_id is not None,
            p=next_protocol is not None,
            key_phase=key_phase,
            nonce_map_version=word,
            iid_lsbs=second,
        )

    @classmethod
    def read(cls, r: Reader) -> DataHeader:
        start = r.need(8, "lisp_header")
        w0, w1 = _HDR.unpack_from(r.buf, start)
        r.pos = start + 8
        spans = r.spans
        prefix = r.prefix
        spans[prefix + "flags"] = (start, 1)
        spans[prefix + "nonce_map_version"] = (start + 1, 3)
        spans[prefix + "iid_lsbs"] = (start + 4, 4)
        f = w0 >> 24
        if f & 0x20 and not f & 0x80:
            r.anomaly(EN_INVALID, offset=start)
        if f & 0x90 == 0x90:
            r.anomaly(NV_INVALID, offset=start)
        return cls(
            bool(f & 0x80),
            bool(f & 0x40),
            bool(f & 0x20),
            bool(f & 0x10),
            bool(f & 0x08),
            bool(f & 0x04),
            f & 3,
            w0 & 0xFFFFFF,
            w1,
        )

    def build(self) -> bytes:
        return _HDR.pack(self.flags << 24 | self.nonce_map_version & 0xFFFFFF, self.iid_lsbs)


@dataclass(frozen=True, slots=True)
class InnerFlow:
    """What the ``data`` table needs of a data packet: the innermost flow and the depth."""

    src: str | None
    dst: str | None
    protocol: int | None
    src_port: int | None
    dst_port: int | None
    depth: int  # LISP data headers crossed (1 = a plain data packet)
    instance_id: int | None  # of the innermost LISP header
    kind: str  # "ipv4", "ipv6", "ethernet", "control", "encrypted", "raw"


@dataclass(frozen=True, slots=True)
class DataPacket(Value):
    """A LISP data packet (the UDP/4341 payload): header + decoded inner packet or raw bytes."""

    header: DataHeader
    payload: IpPacket | EthernetFrame | ControlMessage | bytes = b""

    @classmethod
    def read(cls, r: Reader) -> DataPacket:
        return cls.read_with(r)

    @classmethod
    def read_with(
        cls,
        r: Reader,
        payload_kind: PayloadKind = "auto",
        l2_instance_ids: Collection[int] = (),
        depth: int = 1,
    ) -> DataPacket:
        if depth > MAX_NESTING:
            raise Malformed(r.pos, f"LISP-in-LISP nested deeper than {MAX_NESTING} headers")
        header = DataHeader.read(r)
        kind = _payload_kind(r, header, payload_kind, l2_instance_ids)
        if kind == "raw" or r.pos >= r.end:
            return cls(header, r.rest("payload"))
        if kind == "control":
            msg = _try_control(r)
            return cls(header, msg if msg is not None else r.rest("payload"))

        def udp(rr: Reader, dgram: UdpDatagram) -> Value | None:
            return _inner_udp(rr, dgram, l2_instance_ids, depth)

        start, saved_prefix = r.pos, r.prefix
        r.prefix = saved_prefix + "payload."
        try:
            if kind == "ethernet":
                payload: IpPacket | EthernetFrame = EthernetFrame.read_with(r, udp)
            else:
                payload = IpPacket.read_with(r, udp)
        finally:
            r.prefix = saved_prefix
        r.spans[saved_prefix + "payload"] = (start, r.pos - start)
        return cls(header, payload)

    def build(self) -> bytes:
        p = self.payload
        return self.header.build() + (p if isinstance(p, bytes) else p.build())

    def innermost(self) -> InnerFlow:
        """The innermost EIDs, protocol, ports and the nesting depth."""
        pkt, depth = self, 1
        while True:
            payload = pkt.payload
            if isinstance(payload, EthernetFrame):
                payload = payload.payload
            if isinstance(payload, IpPacket):
                udp = payload.payload
                if isinstance(udp, UdpDatagram) and isinstance(udp.payload, DataPacket):
                    pkt, depth = udp.payload, depth + 1
                    continue
                ports = (udp.src_port, udp.dst_port) if isinstance(udp, UdpDatagram) else None
                return InnerFlow(
                    str(payload.src),
                    str(payload.dst),
                    payload.protocol,
                    ports[0] if ports else None,
                    ports[1] if ports else None,
                    depth,
                    pkt.header.instance_id,
                    f"ipv{payload.header.version}",
                )
            if isinstance(pkt.payload, EthernetFrame):
                kind = "ethernet"
            elif isinstance(pkt.payload, ControlMessage):
                kind = "control"
            else:
                kind = "encrypted" if pkt.header.encrypted else "raw"
            return InnerFlow(None, None, None, None, None, depth, pkt.header.instance_id, kind)


def _payload_kind(
    r: Reader, header: DataHeader, wanted: PayloadKind, l2_instance_ids: Collection[int]
) -> PayloadKind:
    if header.key_phase or wanted == "raw":
        return "raw"
    if wanted != "auto":
        return wanted
    if header.p:
        nxt = header.next_protocol
        if nxt in (GPE_IPV4, GPE_IPV6):
            return "ip"
        if nxt == GPE_ETHERNET:
            return "ethernet"
        r.anomaly(PAYLOAD_UNKNOWN, f"GPE next protocol {nxt}")
        return "raw"
    if header.instance_id_present and header.iid_lsbs >> 8 in l2_instance_ids:
        return "ethernet"
    if r.pos < r.end and r.buf[r.pos] >> 4 not in (4, 6):
        if header.instance_id_present and header.iid_lsbs >> 8 == CONTROL_IID:
            return "control"
        r.anomaly(PAYLOAD_UNKNOWN, f"version nibble {r.buf[r.pos] >> 4}")
        return "raw"
    return "ip"


def _inner_udp(
    r: Reader, dgram: UdpDatagram, l2_instance_ids: Collection[int], depth: int
) -> Value | None:
    if dgram.dst_port == DATA_PORT:
        return DataPacket.read_with(r, "auto", l2_instance_ids, depth + 1)
    if CONTROL_PORT in (dgram.src_port, dgram.dst_port) and r.remaining > 0:
        return _try_control(r)
    return None


def _try_control(r: Reader) -> ControlMessage | None:
    """A control message at ``r.pos``, or None (position restored, anomaly) if undecodable."""
    start, n_anomalies, prefix = r.pos, len(r.anomalies), r.prefix
    try:
        return read_control(r)
    except DecodeError as exc:
        r.pos, r.prefix = start, prefix
        del r.anomalies[n_anomalies:]
        r.anomaly(INNER_CONTROL_UNDECODABLE, exc.reason, offset=exc.offset)
    return None


def parse_data(
    buf: bytes | bytearray | memoryview,
    payload_kind: PayloadKind = "auto",
    l2_instance_ids: Collection[int] = (),
) -> DataPacket:
    """Decode a whole UDP/4341 payload (trailing bytes: anomaly)."""
    r = Reader(bytes(buf))
    pkt = DataPacket.read_with(r, payload_kind, l2_instance_ids)
    if r.pos < r.end:
        r.anomaly(TRAILING_BYTES, f"{r.end - r.pos} bytes after the data packet")
    return attach(pkt, r)
