"""Map-Reply (type 2): RFC 6830 sec. 6.1.4 / RFC 9301 sec. 5.4, plus the lispers.net hop count.

Layout::

    Type=2 |P|E|S| Reserved (9) | Hop Count (8, lispers.net) | Record Count (8)
    Nonce (64)
    Record Count x EID-record (see :mod:`dissectors.lisp.records`)

First word (bit 0 = MSB): P probe reply 0x08000000, E echo-nonce capable 0x04000000,
S LISP-SEC 0x02000000 (RFC 9301; reserved in 6830), bits 7-23 reserved in the RFCs. lispers.net
sends a hop count in bits 16-23 (0x0000ff00, non-standard): kept as the named field
``hop_count``; bits 7-15 (0x01ff0000) are ``reserved`` and flagged when set.

A record with no locators is a Negative Map-Reply (its ACT says what to do).
"""

from __future__ import annotations

from dataclasses import dataclass

from dissectors.core import Reader
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control
from dissectors.lisp.records import EidRecord, read_records

P_PROBE = 0x08000000
E_ECHO_NONCE = 0x04000000
S_SECURITY = 0x02000000
RESERVED_MASK = 0x01FF0000
HOP_COUNT_MASK = 0x0000FF00


@register_control
@dataclass(frozen=True, slots=True)
class MapReply(ControlMessage):
    """A Map-Reply; Record Count is derived from ``records``."""

    TYPE = MessageType.MAP_REPLY

    nonce: int = 0
    records: tuple[EidRecord, ...] = ()
    probe: bool = False  # P: reply to an RLOC-probe
    echo_nonce_capable: bool = False  # E
    security: bool = False  # S: LISP-SEC (RFC 9301 / RFC 9303)
    hop_count: int = 0  # bits 16-23, lispers.net only (non-standard; reserved in the RFCs)
    reserved: int = 0  # bits 7-15 as on the wire (mask 0x01ff0000)

    @property
    def record_count(self) -> int:
        return len(self.records)

    @property
    def rloc_probe_reply(self) -> bool:
        return self.probe

    @property
    def lisp_sec(self) -> bool:
        return self.security

    @property
    def negative(self) -> bool:
        """Every record is negative (no locators): a Negative Map-Reply."""
        return bool(self.records) and all(rec.negative for rec in self.records)

    @property
    def reserved_bits(self) -> int:
        """Bits 7-23 as RFC 6830/9301 (and Wireshark) see them: reserved plus the hop count."""
        return self.reserved | (self.hop_count << 8)

    @property
    def flags_word(self) -> int:
        if len(self.records) > 0xFF:
            raise ValueError("a Map-Reply carries at most 255 records")
        if self.reserved & ~RESERVED_MASK or not 0 <= self.hop_count <= 0xFF:
            raise ValueError("reserved is mask 0x01ff0000, hop_count 0..255")
        word = (self.TYPE << 28) | self.reserved | (self.hop_count << 8) | len(self.records)
        if self.probe:
            word |= P_PROBE
        if self.echo_nonce_capable:
            word |= E_ECHO_NONCE
        if self.security:
            word |= S_SECURITY
        return word

    @classmethod
    def read(cls, r: Reader) -> MapReply:
        word = read_first_word(
            r,
            cls.TYPE,
            "a Map-Reply",
            ("probe", "echo_nonce_capable", "security", "reserved", "hop_count"),
            RESERVED_MASK,
            "Map-Reply bits 7-15:",
            split_count=True,
        )
        nonce = r.u64("nonce")
        records = read_records(r, word & 0xFF)
        return cls(
            nonce=nonce,
            records=records,
            probe=bool(word & P_PROBE),
            echo_nonce_capable=bool(word & E_ECHO_NONCE),
            security=bool(word & S_SECURITY),
            hop_count=(word & HOP_COUNT_MASK) >> 8,
            reserved=word & RESERVED_MASK,
        )

    def build(self) -> bytes:
        return b"".join(
            [
                self.flags_word.to_bytes(4, "big"),
                self.nonce.to_bytes(8, "big"),
                *(rec.build() for rec in self.records),
            ]
        )
