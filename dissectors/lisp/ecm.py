"""Encapsulated Control Message (type 8; RFC 6833 sec. 4.1 / RFC 9301 sec. 5.8, RFC 8111 D bit,
NAT-traversal draft R/N bits).

Layout (bit 0 = MSB)::

    Type=8 (4) | S | D | E/R | M/N | Reserved (24)
    inner IPv4/IPv6 header | inner UDP header | LISP control message

S (0x08000000) security (LISP-SEC); D (0x04000000) DDT-originated (RFC 8111); bit 6
(0x02000000) is E "to-ETR" in RFC 9301 and R "to be processed by an RTR" in the NAT-traversal
draft (OOR); bit 7 (0x01000000) is M "to-MS" in RFC 9301 and N "relayed by an RTR to a
Map-Server" in the NAT-traversal draft. RFC 6833 names S only.

The inner packet's UDP payload is decoded with :func:`read_control` when either inner port is
4342 (else kept raw) - an ECM inside an ECM included, up to :data:`MAX_ECM_DEPTH` deep.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from dissectors.core import RESERVED_BITS, Malformed, Reader, Value
from dissectors.inet import IpPacket, UdpDatagram
from dissectors.lisp.message import ControlMessage, read_control, register_control

CONTROL_PORT = 4342
MAX_ECM_DEPTH = 4

_DEPTH: ContextVar[int] = ContextVar("ecm_depth", default=0)

S_SECURITY = 0x08000000
D_DDT = 0x04000000
E_TO_ETR = 0x02000000
M_TO_MS = 0x01000000


def _inner_control(r: Reader, dgram: UdpDatagram) -> Value | None:
    if CONTROL_PORT in (dgram.src_port, dgram.dst_port) and r.remaining > 0:
        return read_control(r)
    return None


@register_control
@dataclass(frozen=True, slots=True)
class EncapsulatedControlMessage(ControlMessage):
    """ECM: flags and the inner IP packet (whose UDP payload is the inner control message)."""

    TYPE = 8
    inner: IpPacket
    security: bool = False  # S
    ddt_originated: bool = False  # D
    to_etr: bool = False  # E (RFC 9301); the NAT draft's R at the same position
    to_ms: bool = False  # M (RFC 9301); the NAT draft's N at the same position
    reserved: int = 0  # bits 8-31

    @property
    def rtr_process(self) -> bool:
        """NAT-traversal draft R bit: the encapsulated message is to be processed by an RTR."""
        return self.to_etr

    @property
    def rtr_relayed(self) -> bool:
        """NAT-traversal draft N bit: an RTR relays the ECM'd Map-Register to a Map-Server."""
        return self.to_ms

    @property
    def udp(self) -> UdpDatagram | None:
        p = self.inner.payload
        return p if isinstance(p, UdpDatagram) else None

    @property
    def message(self) -> ControlMessage | None:
        """The inner control message, when the inner packet is UDP/4342 and decoded."""
        udp = self.udp
        if udp is not None and isinstance(udp.payload, ControlMessage):
            return udp.payload
        return None

    @property
    def depth(self) -> int:
        """How many ECMs this one wraps (0: the inner message is not an ECM)."""
        msg = self.message
        return msg.depth + 1 if isinstance(msg, EncapsulatedControlMessage) else 0

    @classmethod
    def read(cls, r: Reader) -> EncapsulatedControlMessage:
        start = r.pos
        word = r.u32("type_flags")
        r.alias("type_flags", "security", "ddt_originated", "to_etr", "to_ms", "reserved")
        if word & 0x00FFFFFF:
            r.anomaly(RESERVED_BITS, f"ECM reserved bits 0x{word & 0xFFFFFF:06x}", offset=start)
        depth = _DEPTH.get()
        if depth >= MAX_ECM_DEPTH:
            raise Malformed(start, f"ECM nested deeper than {MAX_ECM_DEPTH}")
        token = _DEPTH.set(depth + 1)
        try:
            inner = r.sub("inner", IpPacket.read_with, _inner_control)
        finally:
            _DEPTH.reset(token)
        return cls(
            inner=inner,
            security=bool(word & S_SECURITY),
            ddt_originated=bool(word & D_DDT),
            to_etr=bool(word & E_TO_ETR),
            to_ms=bool(word & M_TO_MS),
            reserved=word & 0x00FFFFFF,
        )

    def build(self) -> bytes:
        word = (
            self.TYPE << 28
            | self.security * S_SECURITY
            | self.ddt_originated * D_DDT
            | self.to_etr * E_TO_ETR
            | self.to_ms * M_TO_MS
            | self.reserved & 0x00FFFFFF
        )
        return word.to_bytes(4, "big") + self.inner.build()


@register_control
@dataclass(frozen=True, slots=True)
class SharedExtension(ControlMessage):
    """Type 15, LISP Shared Extension Message (RFC 9304): Sub-type (12 bits) and the
    extension-specific rest (the 16 bits after the sub-type, then the body), kept raw."""

    TYPE = 15
    sub_type: int = 0
    extension_specific: int = 0  # the low 16 bits of the first word
    data: bytes = b""

    @classmethod
    def read(cls, r: Reader) -> SharedExtension:
        word = r.u32("type_sub_type")
        r.alias("type_sub_type", "sub_type", "extension_specific")
        return cls(
            sub_type=(word >> 16) & 0xFFF, extension_specific=word & 0xFFFF, data=r.rest("data")
        )

    def build(self) -> bytes:
        word = self.TYPE << 28 | (self.sub_type & 0xFFF) << 16 | self.extension_specific & 0xFFFF
        return word.to_bytes(4, "big") + self.data
