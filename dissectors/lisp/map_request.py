"""Map-Request (type 1): RFC 6830 sec. 6.1.2 / RFC 9301 sec. 5.2, RFC 9437 (PubSub) and the
lispers.net / draft-era bits, side by side.

Layout::

    Type=1 |A|M|P|S|p|s|m/R|I/R| Rsvd (4) |N|L|D| IRC (5) | Record Count (8)
    Nonce (64)
    Source-EID-AFI (16) | Source EID ...            (any AFI; AFI 0 = none)
    (IRC + 1) x { ITR-RLOC-AFI (16) | ITR-RLOC ... } (any AFI, LCAF included)
    Record Count x { N (1) | Reserved (7) | EID mask-len (8) | EID-Prefix-AFI (16) | EID-Prefix }
    Map-Reply Record ...                            (if M: the sender's own mapping)
    xTR-ID (128) | Site-ID (64)                     (if I, RFC 9437 sec. 4)

Bits of the first word (bit 0 = MSB) and who names them:

====  ==========  ===========================================================================
bit   mask        meaning
====  ==========  ===========================================================================
4     0x08000000  A authoritative (all)
5     0x04000000  M map-data present (all): a Map-Reply record follows the EID records
6     0x02000000  P probe (all)
7     0x01000000  S solicit-Map-Request, SMR (all)
8     0x00800000  p sent by a PITR (all)
9     0x00400000  s SMR-invoked (all)
10    0x00200000  m mobile node (LISP-MN drafts, lispers.net); reserved "R" in 6830/9301/9437
11    0x00100000  I xTR-ID present (RFC 9437; lispers.net); reserved "R" in 6830/9301
12-15 0x000f0000  reserved in every dialect
16    0x00008000  N NAT xTR ("decent NAT xTR", lispers.net only); reserved elsewhere
17    0x00004000  L local xTR (RFC 9301; lispers.net); reserved in 6830
18    0x00002000  D dont-map-reply (RFC 9301; lispers.net); reserved in 6830
19-23 0x00001f00  IRC: ITR-RLOC count minus 1
====  ==========  ===========================================================================

The xTR-ID trailer: RFC 9437 appends a 128-bit xTR-ID and a 64-bit Site-ID after the last
record (verified in the draft-ietf-lisp-pubsub text, the RFC 9437 source). lispers.net appends
the 128-bit xTR-ID only; a Map-Request whose I-bit trailer is exactly 16 bytes long decodes as
that dialect (``site_id`` None, with a note anomaly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dissectors.core import RESERVED_BITS, Fields, Reader, Value, anomaly_code
from dissectors.lisp.afi import Address, NoAddress
from dissectors.lisp.map_register import build_xtr_site, read_xtr_site
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control
from dissectors.lisp.records import EidRecord, check_mask_len

XTR_ID_WITHOUT_SITE_ID = anomaly_code(
    "lisp.mreq.xtr_id_without_site_id",
    "note",
    "Map-Request I-bit trailer is a 128-bit xTR-ID without the 64-bit Site-ID (lispers.net "
    "encoding; RFC 9437 appends both)",
)

A_AUTHORITATIVE = 0x08000000
M_MAP_DATA = 0x04000000
P_PROBE = 0x02000000
S_SMR = 0x01000000
P_PITR = 0x00800000
S_SMR_INVOKED = 0x00400000
M_MOBILE_NODE = 0x00200000
I_XTR_ID = 0x00100000
RESERVED_MASK = 0x000F0000
N_NAT_XTR = 0x00008000
L_LOCAL_XTR = 0x00004000
D_DONT_MAP_REPLY = 0x00002000
IRC_MASK = 0x00001F00

N_NOTIFY = 0x80  # bit 0 of an EID record's Reserved byte (RFC 9437 N; lispers.net subscribe)
_RECORD_FIELDS = Fields(("reserved", 1, "notify_requested"), ("eid_mask_len", 1))

_FLAG_NAMES = (
    "authoritative",
    "map_data_present",
    "probe",
    "smr",
    "pitr",
    "smr_invoked",
    "mobile_node",
    "xtr_id_present",
    "reserved",
    "nat_xtr",
    "local_xtr",
    "dont_map_reply",
    "irc",
)


@dataclass(frozen=True, slots=True)
class RequestRecord(Value):
    """One EID record of a Map-Request: the EID-prefix asked for.

    ``notify_requested`` is the RFC 9437 N bit (lispers.net: subscribe bit), the top bit of
    the 8-bit Reserved field; ``reserved`` is the other 7 bits, as on the wire (mask 0x7f).
    """

    eid: Address
    eid_mask_len: int
    notify_requested: bool = False
    reserved: int = 0

    @property
    def reserved_byte(self) -> int:
        """The whole 8-bit Reserved field as RFC 6830/9301 (and Wireshark) see it."""
        return (N_NOTIFY if self.notify_requested else 0) | self.reserved

    @property
    def subscribe(self) -> bool:
        """lispers.net's name for the N bit (its ``subscribe_bit``, same bit 0x80)."""
        return self.notify_requested

    @property
    def eid_prefix(self) -> str:
        return self.eid.prefix(self.eid_mask_len)

    @classmethod
    def read(cls, r: Reader) -> RequestRecord:
        start = r.pos
        byte, mask_len = r.fields(_RECORD_FIELDS)
        eid = r.sub("eid", Address.read)
        if byte & 0x7F:
            r.anomaly(RESERVED_BITS, f"EID record reserved bits 0x{byte & 0x7F:02x}", start)
        check_mask_len(r, eid, mask_len)
        return cls(eid, mask_len, bool(byte & N_NOTIFY), byte & 0x7F)

    def build(self) -> bytes:
        return bytes([self.reserved_byte & 0xFF, self.eid_mask_len]) + self.eid.build()


@register_control
@dataclass(frozen=True, slots=True)
class MapRequest(ControlMessage):
    """A Map-Request. Counts (IRC, Record Count) and the M and I bits are derived on build:
    M from ``map_reply``, I from ``xtr_id``; at least one ITR-RLOC is required by the format.
    """

    TYPE = MessageType.MAP_REQUEST

    nonce: int = 0
    source_eid: Address = field(default_factory=NoAddress)
    itr_rlocs: tuple[Address, ...] = ()
    records: tuple[RequestRecord, ...] = ()
    map_reply: EidRecord | None = None  # the piggy-backed mapping (M bit)
    xtr_id: bytes | None = None  # 16 bytes (I bit, RFC 9437 / lispers.net)
    site_id: bytes | None = None  # 8 bytes (RFC 9437); None in the lispers.net encoding
    authoritative: bool = False  # A
    probe: bool = False  # P: RLOC-probe
    smr: bool = False  # S: solicit-Map-Request
    pitr: bool = False  # p: sent by a PITR
    smr_invoked: bool = False  # s: sent because of an SMR
    mobile_node: bool = False  # bit 10: m (LISP-MN drafts, lispers.net); 9301: reserved R
    nat_xtr: bool = False  # bit 16: N (lispers.net NAT xTR); reserved elsewhere
    local_xtr: bool = False  # bit 17: L (RFC 9301)
    dont_map_reply: bool = False  # bit 18: D (RFC 9301)
    reserved: int = 0  # bits 12-15 as on the wire (mask 0x000f0000)

    # -- derived -----------------------------------------------------------------------------
    @property
    def map_data_present(self) -> bool:
        """M bit: a Map-Reply record follows the EID records."""
        return self.map_reply is not None

    @property
    def xtr_id_present(self) -> bool:
        """Bit 11: I (RFC 9437, lispers.net): the xTR-ID (+ Site-ID) trailer is present."""
        return self.xtr_id is not None

    @property
    def irc(self) -> int:
        """ITR-RLOC Count as on the wire: the number of ITR-RLOCs minus one."""
        return len(self.itr_rlocs) - 1

    @property
    def record_count(self) -> int:
        return len(self.records)

    @property
    def rloc_probe(self) -> bool:
        return self.probe

    @property
    def is_smr(self) -> bool:
        """A solicit-Map-Request (S=1): "your mapping of me changed, ask again"."""
        return self.smr

    @property
    def is_smr_invoked(self) -> bool:
        """A Map-Request sent in answer to an SMR (s=1)."""
        return self.smr_invoked

    @property
    def is_rloc_probe(self) -> bool:
        return self.probe

    @property
    def notify_requested(self) -> bool:
        """Any record carries the RFC 9437 N bit (a PubSub subscription request)."""
        return any(rec.notify_requested for rec in self.records)

    @property
    def kind(self) -> str:
        """smr / smr-invoked / rloc-probe / request (in that order of precedence)."""
        if self.smr:
            return "smr"
        if self.smr_invoked:
            return "smr-invoked"
        if self.probe:
            return "rloc-probe"
        return "request"

    @property
    def flags_word(self) -> int:
        """The first 32-bit word as built (type, every flag, IRC, Record Count)."""
        if not 1 <= len(self.itr_rlocs) <= 32:
            raise ValueError("a Map-Request carries 1 to 32 ITR-RLOCs")
        if len(self.records) > 0xFF:
            raise ValueError("a Map-Request carries at most 255 records")
        if self.reserved & ~RESERVED_MASK:
            raise ValueError("reserved holds only bits 12-15 (mask 0x000f0000)")
        word = (self.TYPE << 28) | self.reserved | (self.irc << 8) | len(self.records)
        for flag, mask in (
            (self.authoritative, A_AUTHORITATIVE),
            (self.map_data_present, M_MAP_DATA),
            (self.probe, P_PROBE),
            (self.smr, S_SMR),
            (self.pitr, P_PITR),
            (self.smr_invoked, S_SMR_INVOKED),
            (self.mobile_node, M_MOBILE_NODE),
            (self.xtr_id_present, I_XTR_ID),
            (self.nat_xtr, N_NAT_XTR),
            (self.local_xtr, L_LOCAL_XTR),
            (self.dont_map_reply, D_DONT_MAP_REPLY),
        ):
            if flag:
                word |= mask
        return word

    # -- codec -------------------------------------------------------------------------------
    @classmethod
    def read(cls, r: Reader) -> MapRequest:
        word = read_first_word(
            r,
            cls.TYPE,
            "a Map-Request",
            _FLAG_NAMES,
            RESERVED_MASK,
            "Map-Request bits 12-15:",
            split_count=True,
        )
        nonce = r.u64("nonce")
        source_eid = r.sub("source_eid", Address.read)
        irc = (word & IRC_MASK) >> 8
        itr_rlocs = [r.sub(f"itr_rlocs[{i}]", Address.read) for i in range(irc + 1)]
        records = [r.sub(f"records[{i}]", RequestRecord.read) for i in range(word & 0xFF)]
        map_reply = None
        if word & M_MAP_DATA:
            map_reply = r.sub("map_reply", EidRecord.read)
        xtr_id = site_id = None
        if word & I_XTR_ID:
            xtr_id, site_id = read_xtr_site(r, site_id_optional=True)
            if site_id is None:
                r.anomaly(XTR_ID_WITHOUT_SITE_ID, f"{r.remaining} bytes after the xTR-ID")
        return cls(
            nonce=nonce,
            source_eid=source_eid,
            itr_rlocs=tuple(itr_rlocs),
            records=tuple(records),
            map_reply=map_reply,
            xtr_id=xtr_id,
            site_id=site_id,
            authoritative=bool(word & A_AUTHORITATIVE),
            probe=bool(word & P_PROBE),
            smr=bool(word & S_SMR),
            pitr=bool(word & P_PITR),
            smr_invoked=bool(word & S_SMR_INVOKED),
            mobile_node=bool(word & M_MOBILE_NODE),
            nat_xtr=bool(word & N_NAT_XTR),
            local_xtr=bool(word & L_LOCAL_XTR),
            dont_map_reply=bool(word & D_DONT_MAP_REPLY),
            reserved=word & RESERVED_MASK,
        )

    def build(self) -> bytes:
        return b"".join(
            [
                self.flags_word.to_bytes(4, "big"),
                self.nonce.to_bytes(8, "big"),
                self.source_eid.build(),
                *(rloc.build() for rloc in self.itr_rlocs),
                *(rec.build() for rec in self.records),
                self.map_reply.build() if self.map_reply is not None else b"",
                build_xtr_site(self.xtr_id, self.site_id, site_id_optional=True),
            ]
        )
