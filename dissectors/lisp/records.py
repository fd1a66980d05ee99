"""EID-records and Locator (RLOC) records: the mapping carried by Map-Reply, Map-Register,
Map-Notify, Map-Notify-Ack, Map-Referral and a Map-Request's piggy-backed Map-Reply record.

Layout (RFC 6830 sec. 6.1.4 / RFC 9301 sec. 5.4)::

    Record TTL (32, minutes)
    Locator Count (8) | EID mask-len (8) | ACT (3) | A (1) | Reserved (12)
    Rsvd (4) | Map-Version Number (12) | EID-Prefix-AFI (16) | EID-Prefix ...
    per locator:
      Priority (8) | Weight (8) | M Priority (8) | M Weight (8)
      Unused Flags (13) | L (1) | p (1) | R (1) | Loc-AFI (16) | Locator ...

In a Map-Referral (RFC 8111) ACT is the referral action, the first reserved bit is the
Incomplete bit and the 4-bit Rsvd is the signature count: see the properties below.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from dissectors.core import Fields, Reader, Value, anomaly_code
from dissectors.lisp.afi import Address
from dissectors.lisp.lcaf import InstanceId

WEIGHTS_NOT_100 = anomaly_code(
    "lisp.weights_not_100",
    "note",
    "locator weights are neither all 0 nor all non-zero summing to 100 (RFC 9301 sec. 5.4 [R]; "
    "RFC 6830 allows any relative weights)",
)
BAD_MASK_LEN = anomaly_code(
    "lisp.mask_len_too_long", "warn", "EID mask-length longer than the address it applies to"
)

TTL_UNLIMITED = 0xFFFFFFFF


class Action(IntEnum):
    """Map-Reply record ACT values (RFC 9301 sec. 5.4 registry; 6 as Wireshark names it)."""

    NO_ACTION = 0
    NATIVELY_FORWARD = 1
    SEND_MAP_REQUEST = 2
    DROP_NO_REASON = 3
    DROP_POLICY_DENIED = 4
    DROP_AUTH_FAILURE = 5
    FORWARD_FOR_UNKNOWN_ADDRESS = 6


class ReferralAction(IntEnum):
    """Map-Referral record ACT values (RFC 8111 sec. 6.4.1)."""

    NODE_REFERRAL = 0
    MS_REFERRAL = 1
    MS_ACK = 2
    MS_NOT_REGISTERED = 3
    DELEGATION_HOLE = 4
    NOT_AUTHORITATIVE = 5


_LOCATOR = struct.Struct("!BBBBH")
_RECORD = struct.Struct("!IBBHH")
_LOCATOR_FIELDS = Fields(
    ("priority", 1),
    ("weight", 1),
    ("m_priority", 1),
    ("m_weight", 1),
    ("flags", 2, "local", "probed", "reachable", "unused_flags"),
)
_RECORD_FIELDS = Fields(
    ("ttl", 4),
    ("locator_count", 1),
    ("eid_mask_len", 1),
    ("act_a_reserved", 2, "action", "authoritative", "reserved"),
    ("map_version", 2, "rsvd"),
)

L_LOCAL, P_PROBED, R_REACHABLE = 0x0004, 0x0002, 0x0001
MAX_BITS = {1: 32, 2: 128, 6: 48, 16389: 48}


@dataclass(frozen=True, slots=True)
class Locator(Value):
    """One RLOC of a locator set. Priority/M-Priority 255 = not to be used."""

    address: Address
    priority: int = 1
    weight: int = 100
    m_priority: int = 255
    m_weight: int = 0
    local: bool = False  # L: the locator is local to the replying/registering xTR
    probed: bool = False  # p: this locator was the one RLOC-probed
    reachable: bool = True  # R: the sender has a route to the locator
    unused_flags: int = 0  # the 13 unused flag bits, as on the wire (mask 0xfff8)

    @classmethod
    def read(cls, r: Reader) -> Locator:
        priority, weight, m_priority, m_weight, flags = r.fields(_LOCATOR_FIELDS)
        address = r.sub("address", Address.read)
        return cls(
            address,
            priority,
            weight,
            m_priority,
            m_weight,
            bool(flags & L_LOCAL),
            bool(flags & P_PROBED),
            bool(flags & R_REACHABLE),
            flags & 0xFFF8,
        )

    def build(self) -> bytes:
        flags = (
            self.unused_flags
            | (L_LOCAL if self.local else 0)
            | (P_PROBED if self.probed else 0)
            | (R_REACHABLE if self.reachable else 0)
        )
        head = _LOCATOR.pack(self.priority, self.weight, self.m_priority, self.m_weight, flags)
        return head + self.address.build()


@dataclass(frozen=True, slots=True)
class EidRecord(Value):
    """A mapping: EID-prefix, TTL (minutes), action, A bit, map-version and locator set.

    A record with no locators is a negative mapping (Negative Map-Reply).
    """

    eid: Address
    eid_mask_len: int
    locators: tuple[Locator, ...] = ()
    ttl: int = 1
    action: int = Action.NO_ACTION
    authoritative: bool = False
    reserved: int = 0  # the 12 bits after A, as on the wire (Map-Referral: Incomplete + 11)
    rsvd: int = 0  # the 4 bits before Map-Version (Map-Referral: signature count)
    map_version: int = 0

    @property
    def negative(self) -> bool:
        return not self.locators

    @property
    def ttl_unlimited(self) -> bool:
        return self.ttl == TTL_UNLIMITED

    @property
    def incomplete(self) -> bool:
        """Map-Referral: the referral set is incomplete (RFC 8111)."""
        return bool(self.reserved & 0x800)

    @property
    def sig_count(self) -> int:
        """Map-Referral: the number of signatures after the locators (RFC 8111)."""
        return self.rsvd

    @property
    def eid_prefix(self) -> str:
        """The canonical EID-prefix string, e.g. ``10.0.0.0/24`` or ``[1000]10.0.0.0/24``."""
        return self.eid.prefix(self.eid_mask_len)

    @classmethod
    def read(cls, r: Reader) -> EidRecord:
        ttl, count, mask_len, word, version_word = r.fields(_RECORD_FIELDS)
        eid = r.sub("eid", Address.read)
        check_mask_len(r, eid, mask_len)
        locators = [r.sub(f"locators[{i}]", Locator.read) for i in range(count)]
        _check_weights(r, locators)
        return cls(
            eid,
            mask_len,
            tuple(locators),
            ttl,
            word >> 13,
            bool(word & 0x1000),
            word & 0x0FFF,
            version_word >> 12,
            version_word & 0x0FFF,
        )

    def build(self) -> bytes:
        word = (self.action << 13) | (0x1000 if self.authoritative else 0) | self.reserved
        head = _RECORD.pack(
            self.ttl,
            len(self.locators),
            self.eid_mask_len,
            word,
            (self.rsvd << 12) | self.map_version,
        )
        return b"".join([head, self.eid.build(), *(loc.build() for loc in self.locators)])


def check_mask_len(r: Reader, eid: Address, mask_len: int) -> None:
    """Anomaly if ``mask_len`` is longer than the EID address (an IID LCAF's inner one)."""
    inner = eid.address if isinstance(eid, InstanceId) else eid  # IID: the mask is the address's
    limit = MAX_BITS.get(inner.afi) if inner is not None else None
    if limit is not None and mask_len > limit:
        r.anomaly(BAD_MASK_LEN, f"mask-length {mask_len} on a {limit}-bit address")


def _check_weights(r: Reader, locators: list[Locator]) -> None:
    weights = [loc.weight for loc in locators]
    if not any(weights):  # no locators, or all weights 0
        return
    if 0 in weights or sum(weights) != 100:
        r.anomaly(WEIGHTS_NOT_100, f"weights {weights}")


def read_records(r: Reader, count: int, name: str = "records") -> tuple[EidRecord, ...]:
    """Read ``count`` EID-records, each under ``name[i]``."""
    return tuple(r.sub(f"{name}[{i}]", EidRecord.read) for i in range(count))
