"""LCAF bodies (RFC 8060 and its successors), one class per type, registered by type number.

Each class decodes the body that follows the 6-byte LCAF header (see :class:`Lcaf`); the
reader is limited to the header's Length, so a body that stops short of it is reported as
trailing bytes and one that needs more raises :class:`Truncated`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dissectors.core import Reader
from dissectors.lisp.afi import Address, Lcaf, register_lcaf


@register_lcaf
@dataclass(frozen=True, slots=True)
class NullLcaf(Lcaf):
    """Type 0: Null Body (RFC 8060 sec. 3)."""

    LCAF_TYPE = 0

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> NullLcaf:
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2)

    def lcaf_body(self) -> bytes:
        return b""

    def canonical(self) -> str:
        return "null"


@register_lcaf
@dataclass(frozen=True, slots=True)
class AfiList(Lcaf):
    """Type 1: AFI List (RFC 8060 sec. 4.1): addresses of any AFI, nested LCAF included.

    Canonical form: ``{a,b,...}``.
    """

    LCAF_TYPE = 1
    addresses: tuple[Address, ...] = ()

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> AfiList:
        items: list[Address] = []
        while r.remaining > 0:
            with r.scope(f"addresses[{len(items)}]"):
                items.append(Address.read(r))
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, addresses=tuple(items))

    def lcaf_body(self) -> bytes:
        return b"".join(a.build() for a in self.addresses)

    def canonical(self) -> str:
        return "{" + ",".join(a.canonical() for a in self.addresses) + "}"


@register_lcaf
@dataclass(frozen=True, slots=True)
class InstanceId(Lcaf):
    """Type 2: Instance ID (RFC 8060 sec. 4.2). ``rsvd2`` carries the IID mask-length.

    Canonical form: ``[iid]address``; as a prefix ``[iid]address/len``.
    """

    LCAF_TYPE = 2
    iid: int = 0
    address: Address | None = None

    @property
    def iid_mask_len(self) -> int:
        return self.rsvd2

    @classmethod
    def read_lcaf(cls, r: Reader, lcaf_type: int, rsvd1: int, flags: int, rsvd2: int) -> InstanceId:
        iid = r.u32("iid")
        with r.scope("address"):
            inner = Address.read(r)
        return cls(rsvd1=rsvd1, flags=flags, rsvd2=rsvd2, iid=iid, address=inner)

    def lcaf_body(self) -> bytes:
        assert self.address is not None, "an Instance-ID LCAF needs an address"
        return self.iid.to_bytes(4, "big") + self.address.build()

    def canonical(self) -> str:
        return f"[{self.iid}]{self.address}"

    def prefix(self, mask_len: int) -> str:
        assert self.address is not None
        return f"[{self.iid}]{self.address.prefix(mask_len)}"
