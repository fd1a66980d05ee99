"""Map-Notify (type 4, RFC 6833 sec. 6.1.7 / RFC 9301 sec. 5.7) and Map-Notify-Ack (type 5,
RFC 9301 only), with the NAT-traversal draft's I and R bits.

First word (bit 0 = MSB)::

    0-3 Type=4/5 | 4 I xTR-ID present | 5 R MS-RTR authentication appended
    6-23 reserved | 24-31 Record Count

Then Nonce (64), Key ID (16), Authentication Data Length (16), Authentication Data, the
EID-records, the xTR-ID (128) + Site-ID (64) when I=1, and when R=1 the MS-RTR
authentication block: MS-RTR Key ID (16), MS-RTR Authentication Data Length (16), MS-RTR
Authentication Data (the order Wireshark's ``dissect_lisp_map_notify`` reads [C]).

RFC 9301 defines no flags for either type; the Map-Notify-Ack has the same layout, so the
NAT-draft bits are decoded for it as well. The main Authentication Data is checked with
:mod:`dissectors.lisp.auth` exactly as for a Map-Register (the same key). The MS-RTR block's
coverage is not specified in anything readable here, so it is decoded but never verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from dissectors.core import Reader, Value
from dissectors.lisp.auth import algorithm_of, build_auth, read_auth
from dissectors.lisp.map_register import Registration
from dissectors.lisp.message import ControlMessage, MessageType, read_first_word, register_control
from dissectors.lisp.records import EidRecord

I_XTR_ID = 0x08000000
R_MS_RTR = 0x04000000
RESERVED_MASK = 0x03FFFF00  # bits 6-23


@dataclass(frozen=True, slots=True)
class MsRtrAuth(Value):
    """The MS-RTR authentication block of a Map-Notify with R=1 (NAT traversal draft)."""

    key_id: int = 0
    auth_data: bytes = b""

    @property
    def algorithm_id(self) -> int:
        return algorithm_of(self.key_id)

    @classmethod
    def read(cls, r: Reader) -> MsRtrAuth:
        return cls(*read_auth(r, aliases=()))

    def build(self) -> bytes:
        return build_auth(self.key_id, self.auth_data)


@dataclass(frozen=True, slots=True)
class _Notify(Registration, ControlMessage):
    """Common body of Map-Notify and Map-Notify-Ack."""

    NAME: ClassVar[str] = "Map-Notify"

    nonce: int = 0
    key_id: int = 0  # raw 16 bits; see key_id_9301 / algorithm_id
    auth_data: bytes = b""
    records: tuple[EidRecord, ...] = ()
    reserved: int = 0  # bits 6-23 as on the wire (mask 0x03FFFF00)
    xtr_id: bytes | None = None
    site_id: bytes | None = None
    ms_rtr: MsRtrAuth | None = None  # present iff the R bit is set

    @property
    def built_for_rtr(self) -> bool:
        """The R bit: an MS-RTR authentication block follows."""
        return self.ms_rtr is not None

    @property
    def flags(self) -> int:
        return (
            (I_XTR_ID if self.xtr_id_present else 0)
            | (R_MS_RTR if self.built_for_rtr else 0)
            | (self.reserved & RESERVED_MASK)
        )

    @classmethod
    def read(cls, r: Reader) -> Self:
        word = read_first_word(
            r,
            cls.TYPE,
            f"a {cls.NAME}",
            ("xtr_id_present", "built_for_rtr", "reserved", "record_count"),
            RESERVED_MASK,
            f"{cls.NAME} bits",
        )
        body = cls.read_body(r, word, I_XTR_ID)
        ms_rtr = None
        if word & R_MS_RTR:
            with r.scope("ms_rtr"):
                ms_rtr = MsRtrAuth.read(r)
        return cls(**body, reserved=word & RESERVED_MASK, ms_rtr=ms_rtr)

    def build_tail(self) -> bytes:
        """The MS-RTR authentication block (R bit)."""
        return self.ms_rtr.build() if self.ms_rtr is not None else b""


@register_control
@dataclass(frozen=True, slots=True)
class MapNotify(_Notify):
    """A Map-Notify (type 4)."""

    TYPE = MessageType.MAP_NOTIFY
    NAME = "Map-Notify"


@register_control
@dataclass(frozen=True, slots=True)
class MapNotifyAck(_Notify):
    """A Map-Notify-Ack (type 5, RFC 9301): the Map-Notify layout."""

    TYPE = MessageType.MAP_NOTIFY_ACK
    NAME = "Map-Notify-Ack"
