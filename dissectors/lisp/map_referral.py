"""Map-Referral (type 6, LISP-DDT, RFC 8111 sec. 6.4).

Layout::

    Type=6 | Reserved (20) | Record Count (8)
    Nonce (64)
    Record Count x {
      Record TTL (32)
      Referral Count (8) | EID mask-len (8) | ACT (3) | A (1) | I (1) | Reserved (11)
      SigCnt (4) | Map Version Number (12) | EID-AFI (16) | EID-prefix ...
      Referral Count x referral locator (same layout as a Map-Reply locator)
      SigCnt x Signature section
    }

The record head is the EID-record of :mod:`dissectors.lisp.records` (ACT = referral action,
first reserved bit = Incomplete, the Rsvd nibble = SigCnt). Signature section, as laid out in
draft-ietf-lisp-ddt-09 sec. 6.4.1 (ONOS ``LispSignature``; the RFC 8111 figure itself could
not be read here, so this is [C] from that code/draft, not from the RFC text)::

    Original Record TTL (32)
    Signature Expiration (32)
    Signature Inception (32)
    Key Tag (16) | Sig Length (16, bytes of Signature)
    Sig-Algorithm (8) | Reserved (8) | Reserved (16)
    Signature (Sig Length bytes)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from dissectors.core import RESERVED_BITS, Reader, Value, anomaly_code
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control
from dissectors.lisp.records import EidRecord, Locator, ReferralAction

UNKNOWN_REFERRAL_ACTION = anomaly_code(
    "lisp.referral.unknown_action",
    "warn",
    "Map-Referral record ACT is not one of the six RFC 8111 referral actions",
)

RESERVED_MASK = 0x0FFFFF00
RECORD_RESERVED_MASK = 0x07FF  # the 11 bits after the Incomplete bit
_SIG_HEAD = struct.Struct("!IIIHHBBH")


@dataclass(frozen=True, slots=True)
class Signature(Value):
    """One signature section of a referral record (see the module docstring for its source)."""

    original_record_ttl: int = 0
    signature_expiration: int = 0
    signature_inception: int = 0
    key_tag: int = 0
    sig_algorithm: int = 0
    signature: bytes = b""
    reserved1: int = 0  # the 8 bits after Sig-Algorithm
    reserved2: int = 0  # the 16 bits after that

    @property
    def sig_length(self) -> int:
        return len(self.signature)

    @classmethod
    def read(cls, r: Reader) -> Signature:
        start = r.pos
        original_ttl = r.u32("original_record_ttl")
        expiration = r.u32("signature_expiration")
        inception = r.u32("signature_inception")
        key_tag = r.u16("key_tag")
        length = r.u16("sig_length")
        algorithm = r.u8("sig_algorithm")
        reserved1 = r.u8("reserved1")
        reserved2 = r.u16("reserved2")
        if reserved1 or reserved2:
            r.anomaly(RESERVED_BITS, "signature section reserved fields", start + 17)
        signature = r.raw(length, "signature")
        return cls(
            original_ttl,
            expiration,
            inception,
            key_tag,
            algorithm,
            signature,
            reserved1,
            reserved2,
        )

    def build(self) -> bytes:
        if len(self.signature) > 0xFFFF:
            raise ValueError("a signature is at most 65535 bytes")
        return (
            _SIG_HEAD.pack(
                self.original_record_ttl,
                self.signature_expiration,
                self.signature_inception,
                self.key_tag,
                len(self.signature),
                self.sig_algorithm,
                self.reserved1,
                self.reserved2,
            )
            + self.signature
        )


@dataclass(frozen=True, slots=True)
class ReferralRecord(Value):
    """A referral record: the EID-record head and referral locators, then its signatures.

    SigCnt is derived: ``mapping.rsvd`` is set to ``len(signatures)`` on construction.
    """

    mapping: EidRecord
    signatures: tuple[Signature, ...] = ()

    def __post_init__(self) -> None:
        if len(self.signatures) > 15:
            raise ValueError("at most 15 signatures (4-bit SigCnt)")
        if self.mapping.rsvd != len(self.signatures):
            object.__setattr__(self, "mapping", replace(self.mapping, rsvd=len(self.signatures)))

    # -- the referral view of the record head ----------------------------------------------
    @property
    def action(self) -> int:
        return self.mapping.action

    @property
    def referral_action(self) -> ReferralAction | None:
        try:
            return ReferralAction(self.mapping.action)
        except ValueError:
            return None

    @property
    def incomplete(self) -> bool:
        return self.mapping.incomplete

    @property
    def authoritative(self) -> bool:
        return self.mapping.authoritative

    @property
    def sig_count(self) -> int:
        return len(self.signatures)

    @property
    def referrals(self) -> tuple[Locator, ...]:
        return self.mapping.locators

    @property
    def referral_count(self) -> int:
        return len(self.mapping.locators)

    @property
    def ttl(self) -> int:
        return self.mapping.ttl

    @property
    def eid_prefix(self) -> str:
        return self.mapping.eid_prefix

    @classmethod
    def read(cls, r: Reader) -> ReferralRecord:
        start = r.pos
        with r.scope("mapping"):
            mapping = EidRecord.read(r)
        if mapping.action > max(ReferralAction):
            r.anomaly(UNKNOWN_REFERRAL_ACTION, f"ACT {mapping.action}", start + 6)
        if mapping.reserved & RECORD_RESERVED_MASK:
            r.anomaly(RESERVED_BITS, "referral record reserved bits", start + 6)
        signatures = []
        for i in range(mapping.rsvd):
            with r.scope(f"signatures[{i}]"):
                signatures.append(Signature.read(r))
        return cls(mapping, tuple(signatures))

    def build(self) -> bytes:
        return self.mapping.build() + b"".join(sig.build() for sig in self.signatures)


@register_control
@dataclass(frozen=True, slots=True)
class MapReferral(ControlMessage):
    """A Map-Referral; Record Count is derived from ``records``."""

    TYPE = MessageType.MAP_REFERRAL

    nonce: int = 0
    records: tuple[ReferralRecord, ...] = ()
    reserved: int = 0  # bits 4-23 as on the wire (mask 0x0fffff00)

    @property
    def record_count(self) -> int:
        return len(self.records)

    @classmethod
    def read(cls, r: Reader) -> MapReferral:
        word = read_first_word(
            r,
            cls.TYPE,
            "a Map-Referral",
            ("reserved",),
            RESERVED_MASK,
            "Map-Referral bits 4-23:",
            split_count=True,
        )
        nonce = r.u64("nonce")
        records = []
        for i in range(word & 0xFF):
            with r.scope(f"records[{i}]"):
                records.append(ReferralRecord.read(r))
        return cls(nonce=nonce, records=tuple(records), reserved=word & RESERVED_MASK)

    def build(self) -> bytes:
        if len(self.records) > 0xFF:
            raise ValueError("a Map-Referral carries at most 255 records")
        if self.reserved & ~RESERVED_MASK:
            raise ValueError("reserved is mask 0x0fffff00")
        word = (self.TYPE << 28) | self.reserved | len(self.records)
        return b"".join(
            [
                word.to_bytes(4, "big"),
                self.nonce.to_bytes(8, "big"),
                *(rec.build() for rec in self.records),
            ]
        )
