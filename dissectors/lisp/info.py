"""Info-Request / Info-Reply (type 7, draft-ermagan-lisp-nat-traversal; lispers.net, LISPmob).

Layout::

    0-3 Type=7 | 4 R (0 request, 1 reply) | 5-31 reserved
    Nonce (64)
    Key ID (16) | Authentication Data Length (16)
    Authentication Data
    TTL (32)
    Reserved (8) | EID mask-len (8) | EID-Prefix-AFI (16) | EID-Prefix
    AFI (16) | ...

The last address (``body``) is AFI 0 in a request (lispers.net sends AFI 17 + its hostname
instead) and the NAT-Traversal LCAF (type 7: MS/ETR ports, global ETR, MS, private ETR and RTR
RLOCs) in a reply. Wireshark raises ``lisp.expected_field`` for a request whose last AFI is not
0 and a reply whose last AFI is not 16387; this module does the same, except that it accepts
the lispers.net hostname (AFI 17) in a request. Authentication as for Map-Register
(:mod:`dissectors.lisp.auth`, same offset 16).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dissectors.core import RESERVED_BITS, Reader, anomaly_code
from dissectors.lisp.afi import Address, Afi, DistinguishedName, Lcaf, NoAddress
from dissectors.lisp.auth import Authenticated, build_auth, read_auth
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control

R_REPLY = 0x08000000
RESERVED_MASK = 0x07FFFFFF
NAT_TRAVERSAL_LCAF = 7

EXPECTED_FIELD = anomaly_code(
    "lisp.expected_field",
    "error",
    "Info-Request whose last AFI is not 0 (or 17, lispers.net hostname), or Info-Reply whose "
    "last AFI is not 16387 (LCAF)",
    "lisp.expected_field",
)
NOT_NAT_LCAF = anomaly_code(
    "lisp.info.not_nat_lcaf",
    "warn",
    "Info-Reply carries an LCAF that is not the NAT-Traversal LCAF (type 7)",
)


@register_control
@dataclass(frozen=True, slots=True)
class Info(Authenticated, ControlMessage):
    """An Info-Request (``reply`` False) or Info-Reply (``reply`` True)."""

    TYPE = MessageType.INFO

    reply: bool = False  # R
    nonce: int = 0
    key_id: int = 0  # raw 16 bits; see key_id_9301 / algorithm_id
    auth_data: bytes = b""
    ttl: int = 0
    eid_mask_len: int = 0
    eid: Address = field(default_factory=NoAddress)
    body: Address = field(default_factory=NoAddress)  # AFI 0 / hostname / NAT-Traversal LCAF
    reserved: int = 0  # bits 5-31 of the first word (mask 0x07FFFFFF)
    reserved2: int = 0  # the 8 bits before EID mask-len

    @property
    def nat_traversal(self) -> Lcaf | None:
        """The reply's NAT-Traversal LCAF (type 7), if that is what ``body`` holds."""
        b = self.body
        return b if isinstance(b, Lcaf) and b.lcaf_type == NAT_TRAVERSAL_LCAF else None

    @property
    def hostname(self) -> bytes | None:
        """The lispers.net requester hostname (AFI 17 as last address), if present."""
        return self.body.name if isinstance(self.body, DistinguishedName) else None

    @property
    def eid_prefix(self) -> str:
        return self.eid.prefix(self.eid_mask_len)

    @classmethod
    def read(cls, r: Reader) -> Info:
        word = read_first_word(
            r, cls.TYPE, "an Info message", ("reply", "reserved"), RESERVED_MASK, "Info bits"
        )
        reply = bool(word & R_REPLY)
        nonce = r.u64("nonce")
        key_id, auth_data = read_auth(r)
        ttl = r.u32("ttl")
        reserved2 = r.u8("reserved2")
        if reserved2:
            r.anomaly(RESERVED_BITS, f"Info reserved byte 0x{reserved2:02x}", r.pos - 1)
        mask_len = r.u8("eid_mask_len")
        eid = r.sub("eid", Address.read)
        body_start = r.pos
        body = r.sub("body", Address.read)
        if reply:
            if body.afi != Afi.LCAF:
                r.anomaly(EXPECTED_FIELD, f"Info-Reply: AFI {body.afi}, not 16387", body_start)
            elif isinstance(body, Lcaf) and body.lcaf_type != NAT_TRAVERSAL_LCAF:
                r.anomaly(NOT_NAT_LCAF, f"LCAF type {body.lcaf_type}", body_start)
        elif body.afi not in (Afi.NONE, Afi.DISTINGUISHED_NAME):
            r.anomaly(EXPECTED_FIELD, f"Info-Request: AFI {body.afi}, not 0", body_start)
        return cls(
            reply=reply,
            nonce=nonce,
            key_id=key_id,
            auth_data=auth_data,
            ttl=ttl,
            eid_mask_len=mask_len,
            eid=eid,
            body=body,
            reserved=word & RESERVED_MASK,
            reserved2=reserved2,
        )

    def build(self) -> bytes:
        word = (self.TYPE << 28) | (R_REPLY if self.reply else 0) | (self.reserved & RESERVED_MASK)
        return b"".join(
            [
                word.to_bytes(4, "big"),
                self.nonce.to_bytes(8, "big"),
                build_auth(self.key_id, self.auth_data),
                self.ttl.to_bytes(4, "big"),
                bytes([self.reserved2, self.eid_mask_len]),
                self.eid.build(),
                self.body.build(),
            ]
        )
