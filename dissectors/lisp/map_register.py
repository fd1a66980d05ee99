"""Map-Register (type 3): RFC 6833 sec. 6.1.6 / RFC 9301 sec. 5.6, NAT-traversal draft bits,
rfc6833bis-era / lispers.net bits, side by side.

First word (bit 0 = MSB)::

    0-3 Type=3 | 4 P proxy-Map-Reply | 5 S LISP-SEC | 6 I xTR-ID present | 7 R built for RTR
    8-14 reserved | 15-17 encryption key-id | 18 e encrypt | 19 F refresh | 20 T TTL as
    timeout | 21 a merge | 22 m mobile node | 23 M want-Map-Notify | 24-31 Record Count

Then Nonce (64), Key ID (16: 6830 key id, or 9301 key id 8 + algorithm id 8), Authentication
Data Length (16), Authentication Data, the EID-records, and when I=1 the xTR-ID (128) and
Site-ID (64). RFC 6830 names only P and M; the NAT draft adds I and R; the lispers.net bits
(15-22) are decoded as named fields (their presence in final RFC 9301 is unverified) and are
never flagged. Only bits 8-14 are reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dissectors.core import Reader
from dissectors.lisp.auth import Authenticated, build_auth, read_auth
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control
from dissectors.lisp.records import EidRecord, read_records

P_PROXY = 0x08000000
S_LISP_SEC = 0x04000000
I_XTR_ID = 0x02000000
R_RTR = 0x01000000
RESERVED_MASK = 0x00FE0000  # bits 8-14
ENCRYPTION_KEY_ID_SHIFT = 14  # bits 15-17
ENCRYPTION_KEY_ID_MASK = 0x7 << ENCRYPTION_KEY_ID_SHIFT
E_ENCRYPT = 0x00002000
F_REFRESH = 0x00001000
T_TTL_TIMEOUT = 0x00000800
A_MERGE = 0x00000400
MN_MOBILE_NODE = 0x00000200
M_WANT_MAP_NOTIFY = 0x00000100

XTR_ID_LEN = 16
SITE_ID_LEN = 8

_FLAG_NAMES = (
    "proxy_map_reply",
    "lisp_sec",
    "xtr_id_present",
    "built_for_rtr",
    "reserved",
    "encryption_key_id",
    "encrypt",
    "refresh",
    "ttl_as_timeout",
    "merge",
    "mobile_node",
    "want_map_notify",
)


def read_xtr_site(r: Reader, *, site_id_optional: bool = False) -> tuple[bytes, bytes | None]:
    """The xTR-ID (16 bytes) and Site-ID (8 bytes) trailer.

    With ``site_id_optional`` (the lispers.net Map-Request) a Site-ID is read only when 8 bytes
    are left; otherwise it is None.
    """
    xtr_id = r.raw(XTR_ID_LEN, "xtr_id")
    if site_id_optional and r.remaining < SITE_ID_LEN:
        return xtr_id, None
    return xtr_id, r.raw(SITE_ID_LEN, "site_id")


def build_xtr_site(
    xtr_id: bytes | None, site_id: bytes | None, *, site_id_optional: bool = False
) -> bytes:
    """The trailer as on the wire (empty without an xTR-ID); with ``site_id_optional`` an
    xTR-ID may go without a Site-ID (the lispers.net Map-Request)."""
    if xtr_id is None and site_id is None:
        return b""
    if site_id_optional and xtr_id is None:
        raise ValueError("a Site-ID is sent only after an xTR-ID")
    if site_id_optional and xtr_id is not None and site_id is None:
        if len(xtr_id) != XTR_ID_LEN:
            raise ValueError("an xTR-ID is 16 bytes")
        return xtr_id
    if xtr_id is None or site_id is None or len(xtr_id) != 16 or len(site_id) != 8:
        raise ValueError("xTR-ID (16 bytes) and Site-ID (8 bytes) go together")
    return xtr_id + site_id


def word0(msg_type: int, flags: int, count: int) -> bytes:
    if count > 0xFF:
        raise ValueError("more than 255 records")
    return ((msg_type << 28) | flags | count).to_bytes(4, "big")


class Registration(Authenticated):
    """Mixin for Map-Register, Map-Notify and Map-Notify-Ack (slots-compatible): the shared
    layout ``first word | Nonce | Key ID, Authentication Data | EID-records | xTR-ID + Site-ID
    (when the I bit is set)``, followed by what :meth:`build_tail` adds."""

    __slots__ = ()
    TYPE: ClassVar[int]
    nonce: int
    records: tuple[EidRecord, ...]
    xtr_id: bytes | None
    site_id: bytes | None

    @property
    def xtr_id_present(self) -> bool:
        """The I bit."""
        return self.xtr_id is not None

    @property
    def flags(self) -> int:  # pragma: no cover - every message overrides it
        raise NotImplementedError

    @staticmethod
    def read_body(r: Reader, word: int, i_bit: int) -> dict[str, Any]:
        """Nonce, authentication, the EID-records (Record Count: the low byte of ``word``) and,
        when ``word`` has ``i_bit``, the xTR-ID + Site-ID: as keyword arguments of the class."""
        nonce = r.u64("nonce")
        key_id, auth_data = read_auth(r)
        records = read_records(r, word & 0xFF)
        xtr_id = site_id = None
        if word & i_bit:
            xtr_id, site_id = read_xtr_site(r)
        return {
            "nonce": nonce,
            "key_id": key_id,
            "auth_data": auth_data,
            "records": records,
            "xtr_id": xtr_id,
            "site_id": site_id,
        }

    def build_tail(self) -> bytes:
        """What follows the xTR-ID trailer (nothing for a Map-Register)."""
        return b""

    def build(self) -> bytes:
        return b"".join(
            [
                word0(self.TYPE, self.flags, len(self.records)),
                self.nonce.to_bytes(8, "big"),
                build_auth(self.key_id, self.auth_data),
                *(rec.build() for rec in self.records),
                build_xtr_site(self.xtr_id, self.site_id),
                self.build_tail(),
            ]
        )


@register_control
@dataclass(frozen=True, slots=True)
class MapRegister(Registration, ControlMessage):
    """A Map-Register. ``xtr_id``/``site_id`` are present (and the I bit set) together."""

    TYPE = MessageType.MAP_REGISTER

    nonce: int = 0
    key_id: int = 0  # raw 16 bits; see key_id_9301 / algorithm_id
    auth_data: bytes = b""
    records: tuple[EidRecord, ...] = ()
    proxy_map_reply: bool = False  # P
    lisp_sec: bool = False  # S (LISP-SEC capable)
    built_for_rtr: bool = False  # R (NAT traversal draft)
    want_map_notify: bool = False  # M
    encryption_key_id: int = 0  # bits 15-17 (lispers.net LISP-crypto key-id)
    encrypt: bool = False  # e (bit 18)
    refresh: bool = False  # F (bit 19), map-register refresh
    ttl_as_timeout: bool = False  # T (bit 20), use the record TTL as registration timeout
    merge: bool = False  # a (bit 21), merge semantics requested
    mobile_node: bool = False  # m (bit 22)
    reserved: int = 0  # bits 8-14 as on the wire (mask 0x00FE0000)
    xtr_id: bytes | None = None
    site_id: bytes | None = None

    @property
    def flags(self) -> int:
        """The 20 flag bits of the first word, in place (mask 0x0FFFFF00)."""
        return (
            (P_PROXY if self.proxy_map_reply else 0)
            | (S_LISP_SEC if self.lisp_sec else 0)
            | (I_XTR_ID if self.xtr_id_present else 0)
            | (R_RTR if self.built_for_rtr else 0)
            | (self.reserved & RESERVED_MASK)
            | ((self.encryption_key_id & 0x7) << ENCRYPTION_KEY_ID_SHIFT)
            | (E_ENCRYPT if self.encrypt else 0)
            | (F_REFRESH if self.refresh else 0)
            | (T_TTL_TIMEOUT if self.ttl_as_timeout else 0)
            | (A_MERGE if self.merge else 0)
            | (MN_MOBILE_NODE if self.mobile_node else 0)
            | (M_WANT_MAP_NOTIFY if self.want_map_notify else 0)
        )

    @classmethod
    def read(cls, r: Reader) -> MapRegister:
        word = read_first_word(
            r,
            cls.TYPE,
            "a Map-Register",
            (*_FLAG_NAMES, "record_count"),
            RESERVED_MASK,
            "Map-Register bits",
        )
        return cls(
            **cls.read_body(r, word, I_XTR_ID),
            proxy_map_reply=bool(word & P_PROXY),
            lisp_sec=bool(word & S_LISP_SEC),
            built_for_rtr=bool(word & R_RTR),
            want_map_notify=bool(word & M_WANT_MAP_NOTIFY),
            encryption_key_id=(word & ENCRYPTION_KEY_ID_MASK) >> ENCRYPTION_KEY_ID_SHIFT,
            encrypt=bool(word & E_ENCRYPT),
            refresh=bool(word & F_REFRESH),
            ttl_as_timeout=bool(word & T_TTL_TIMEOUT),
            merge=bool(word & A_MERGE),
            mobile_node=bool(word & MN_MOBILE_NODE),
            reserved=word & RESERVED_MASK,
        )
