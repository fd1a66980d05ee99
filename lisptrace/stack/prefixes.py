"""EID-prefixes with instance IDs, and a longest-prefix-match table over them.

Shared by every role that maps EIDs: the Map-Server's sites and registrations, the
Map-Resolver's LISP space, the xTR's map-cache, the PETR's registration check.

* :class:`EidPrefix` - an instance ID (0 = none) and an IPv4/IPv6 network. Text form is the
  canonical one of the dissectors (``10.1.0.0/16``, ``[1000]2001:db8::/32``), so it joins with
  ``EidRecord.eid_prefix``. :meth:`EidPrefix.from_wire` / :meth:`EidPrefix.to_wire` convert
  from/to the codec's ``(Address, mask_len)`` pair (an Instance-ID LCAF when iid != 0).
* :class:`PrefixTable` - prefix -> value, with exact get/insert/remove, longest-prefix match
  (:meth:`~PrefixTable.lookup`), every covering prefix (:meth:`~PrefixTable.covering`), every
  stored more-specific (:meth:`~PrefixTable.covered`) and the largest prefix around an address
  that overlaps nothing stored (:meth:`~PrefixTable.uncovered`, for negative Map-Replies).

The table keeps one dict per (instance ID, IP version, prefix length): a lookup costs at most
one dict probe per distinct prefix length in use (<= 33 for IPv4, <= 129 for IPv6), which for
the few lengths real tables use beats a bitwise trie in Python. Instance IDs never match each
other: ``[1]10.0.0.0/8`` does not cover ``[2]10.0.0.1``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from dissectors.lisp.afi import Address, IPv4, IPv6
from dissectors.lisp.lcaf import InstanceId

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

T = TypeVar("T")

MAX_IID = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class EidPrefix:
    """An EID-prefix: instance ID (0 = none) and an IPv4 or IPv6 network."""

    iid: int
    network: IPNetwork

    def __post_init__(self) -> None:
        if not 0 <= self.iid <= MAX_IID:
            raise ValueError(f"instance ID {self.iid} is not in 0..{MAX_IID}")

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> EidPrefix:
        """``10.0.0.0/8``, ``2001:db8::/32``, ``[1000]10.0.0.0/8``; a bare address is a host
        prefix. Host bits must be zero (ValueError otherwise)."""
        text = text.strip()
        iid = 0
        if text.startswith("["):
            end = text.find("]")
            if end < 0:
                raise ValueError(f"{text!r}: unterminated instance ID")
            try:
                iid = int(text[1:end], 0)
            except ValueError:
                raise ValueError(f"{text!r}: instance ID is not a number") from None
            text = text[end + 1 :]
        return cls(iid, ipaddress.ip_network(text, strict=True))

    @classmethod
    def host(cls, address: IPAddress | str, iid: int = 0) -> EidPrefix:
        """The host prefix (/32 or /128) of ``address``."""
        return cls(iid, ipaddress.ip_network(address))

    @classmethod
    def of(cls, address: IPAddress | str, mask_len: int, iid: int = 0) -> EidPrefix:
        """The prefix of ``mask_len`` bits around ``address`` (host bits dropped)."""
        ip = ipaddress.ip_address(address)
        return cls(iid, ipaddress.ip_network((ip, mask_len), strict=False))

    @classmethod
    def from_wire(cls, eid: Address, mask_len: int) -> EidPrefix:
        """From a record's EID address and mask length (IPv4, IPv6, or an Instance-ID LCAF
        around one of them). ValueError for any other AFI or a mask longer than the address."""
        iid = 0
        if isinstance(eid, InstanceId):
            iid = eid.iid
            if eid.address is None:
                raise ValueError("Instance-ID LCAF without an address")
            eid = eid.address
        if not isinstance(eid, IPv4 | IPv6):
            raise ValueError(f"EID {eid} is not an IPv4/IPv6 address")
        bits = eid.address.max_prefixlen
        if not 0 <= mask_len <= bits:
            raise ValueError(f"mask length {mask_len} for a {bits}-bit address")
        return cls.of(eid.address, mask_len, iid)

    def to_wire(self) -> tuple[Address, int]:
        """The ``(eid, eid_mask_len)`` pair for an EidRecord / RequestRecord."""
        inner: IPv4 | IPv6 = (
            IPv4(self.network.network_address)
            if isinstance(self.network, ipaddress.IPv4Network)
            else IPv6(self.network.network_address)
        )
        if self.iid:
            return InstanceId(iid=self.iid, address=inner), self.prefixlen
        return inner, self.prefixlen

    # -- properties -----------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.network.version

    @property
    def prefixlen(self) -> int:
        return self.network.prefixlen

    @property
    def max_prefixlen(self) -> int:
        return self.network.max_prefixlen

    @property
    def address(self) -> IPAddress:
        """The network address."""
        return self.network.network_address

    @property
    def is_host(self) -> bool:
        return self.prefixlen == self.max_prefixlen

    def contains(self, other: EidPrefix | IPAddress, iid: int = 0) -> bool:
        """Whether ``other`` (a prefix, or an address in instance ``iid``) lies inside."""
        if not isinstance(other, EidPrefix):
            other = EidPrefix.host(other, iid)
        return (
            other.iid == self.iid
            and other.version == self.version
            and other.prefixlen >= self.prefixlen
            and other.network.subnet_of(self.network)  # type: ignore[arg-type]
        )

    def supernet(self, mask_len: int) -> EidPrefix:
        """The prefix of ``mask_len`` (<= own length) bits containing this one."""
        return EidPrefix.of(self.address, mask_len, self.iid)

    def __str__(self) -> str:
        return f"[{self.iid}]{self.network}" if self.iid else str(self.network)

    def __lt__(self, other: EidPrefix) -> bool:
        return (self.iid, self.version, int(self.address), self.prefixlen) < (
            other.iid,
            other.version,
            int(other.address),
            other.prefixlen,
        )


class PrefixTable(Generic[T]):
    """EID-prefix -> value with longest-prefix match; see the module docstring."""

    __slots__ = ("_count", "_lengths", "_tables")

    def __init__(self) -> None:
        # (iid, version) -> prefixlen -> network int -> (prefix, value)
        self._tables: dict[tuple[int, int], dict[int, dict[int, tuple[EidPrefix, T]]]] = {}
        # (iid, version) -> prefix lengths in use, longest first
        self._lengths: dict[tuple[int, int], list[int]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, prefix: object) -> bool:
        return isinstance(prefix, EidPrefix) and self.get(prefix) is not None

    def __iter__(self) -> Iterator[EidPrefix]:
        for prefix, _ in self.items():
            yield prefix

    def items(self) -> Iterator[tuple[EidPrefix, T]]:
        """Every (prefix, value), in no particular order."""
        for by_len in self._tables.values():
            for entries in by_len.values():
                yield from entries.values()

    def get(self, prefix: EidPrefix) -> T | None:
        """The value stored for exactly ``prefix``."""
        by_len = self._tables.get((prefix.iid, prefix.version))
        if by_len is None:
            return None
        hit = by_len.get(prefix.prefixlen, {}).get(int(prefix.address))
        return hit[1] if hit is not None else None

    def insert(self, prefix: EidPrefix, value: T) -> None:
        """Store (or replace) ``value`` for ``prefix``."""
        key = (prefix.iid, prefix.version)
        by_len = self._tables.setdefault(key, {})
        entries = by_len.get(prefix.prefixlen)
        if entries is None:
            entries = by_len[prefix.prefixlen] = {}
            self._lengths[key] = sorted(by_len, reverse=True)
        net = int(prefix.address)
        if net not in entries:
            self._count += 1
        entries[net] = (prefix, value)

    def remove(self, prefix: EidPrefix) -> T | None:
        """Drop ``prefix``; its value, or None if it was not stored."""
        key = (prefix.iid, prefix.version)
        by_len = self._tables.get(key)
        if by_len is None:
            return None
        entries = by_len.get(prefix.prefixlen)
        if entries is None:
            return None
        hit = entries.pop(int(prefix.address), None)
        if hit is None:
            return None
        self._count -= 1
        if not entries:
            del by_len[prefix.prefixlen]
            if by_len:
                self._lengths[key] = sorted(by_len, reverse=True)
            else:
                del self._tables[key]
                del self._lengths[key]
        return hit[1]

    def clear(self) -> None:
        self._tables.clear()
        self._lengths.clear()
        self._count = 0

    def _key(self, key: EidPrefix | IPAddress | str, iid: int) -> EidPrefix:
        if isinstance(key, EidPrefix):
            return key
        return EidPrefix.host(key, iid)

    def covering(self, key: EidPrefix | IPAddress | str, iid: int = 0) -> list[tuple[EidPrefix, T]]:
        """Every stored prefix that contains ``key`` (itself included), longest first."""
        return list(self._covering(self._key(key, iid)))

    def lookup(self, key: EidPrefix | IPAddress | str, iid: int = 0) -> tuple[EidPrefix, T] | None:
        """Longest-prefix match: the most specific stored prefix containing ``key`` (an address
        in instance ``iid``, or a whole prefix), with its value; None when nothing covers it."""
        return next(self._covering(self._key(key, iid)), None)

    def _covering(self, want: EidPrefix) -> Iterator[tuple[EidPrefix, T]]:
        """The stored prefixes containing ``want``, longest first, one dict probe per length."""
        table_key = (want.iid, want.version)
        by_len = self._tables.get(table_key)
        if by_len is None:
            return
        addr = int(want.address)
        width = want.max_prefixlen
        for length in self._lengths[table_key]:
            if length > want.prefixlen:
                continue
            net = addr & (((1 << length) - 1) << (width - length)) if length else 0
            hit = by_len[length].get(net)
            if hit is not None:
                yield hit

    def covered(self, prefix: EidPrefix) -> Iterator[tuple[EidPrefix, T]]:
        """Every stored prefix inside ``prefix`` (itself included)."""
        by_len = self._tables.get((prefix.iid, prefix.version))
        if by_len is None:
            return
        for length, entries in by_len.items():
            if length < prefix.prefixlen:
                continue
            for stored, value in entries.values():
                if prefix.contains(stored):
                    yield stored, value

    def uncovered(self, address: IPAddress | str, iid: int = 0, floor: int = 0) -> EidPrefix | None:
        """The largest prefix (of at least ``floor`` bits) around ``address`` that neither
        contains nor lies inside any stored prefix; None if a stored prefix covers ``address``.

        This is the covering "non-LISP" prefix of a negative Map-Reply: with the configured
        LISP EID-prefixes stored, every address outside them gets the widest block that holds
        no LISP space. ``floor`` bounds it from above (e.g. to stay inside a site prefix when
        the table holds that site's registrations).
        """
        want = EidPrefix.host(address, iid)
        width = want.max_prefixlen
        if self.lookup(want) is not None:
            return None
        addr = int(want.address)
        need = max(0, floor)
        by_len = self._tables.get((want.iid, want.version), {})
        for entries in by_len.values():
            # A block of L bits around the address holds a stored prefix iff L <= the bits they
            # share (the stored prefix does not cover the address, so they share < its length):
            # the answer is one bit more than the most any stored network shares with it.
            for net in entries:
                shared = width - (addr ^ net).bit_length()
                if shared >= need:
                    need = shared + 1
        return EidPrefix.of(want.address, min(need, width), want.iid)
