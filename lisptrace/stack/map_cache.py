"""An ITR's map-cache: EID-prefix -> mapping, longest-prefix match, TTL expiry, and the
locator choice (priority, then a per-flow hash over the weights).

Times are the caller's (``now``); nothing here reads a clock. Record TTLs are in **minutes**
(RFC 6830 sec. 6.1.4): 0 = do not cache, 0xFFFFFFFF = the receiver decides
(:data:`UNLIMITED_TTL_SECONDS`).

The longest-prefix match is the shared :class:`~lisptrace.stack.prefixes.PrefixTable`
(instance IDs never match each other).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dissectors.lisp.records import TTL_UNLIMITED, Action, EidRecord, Locator
from lisptrace.stack.prefixes import EidPrefix, PrefixTable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNUSABLE_PRIORITY = 255
UNLIMITED_TTL_SECONDS = 24 * 3600.0  # what "receiver decides" (TTL 0xFFFFFFFF) means here


def ttl_seconds(ttl_minutes: int) -> float | None:
    """A record TTL in seconds; ``None`` for TTL 0 (do not cache)."""
    if ttl_minutes == 0:
        return None
    if ttl_minutes == TTL_UNLIMITED:
        return UNLIMITED_TTL_SECONDS
    return ttl_minutes * 60.0


def record_prefix(record: EidRecord) -> EidPrefix | None:
    """A record's EID-prefix; ``None`` for non-IP EIDs or impossible mask lengths."""
    try:
        return EidPrefix.from_wire(record.eid, record.eid_mask_len)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One mapping in the cache. ``expires`` None never happens for cached entries (TTL 0
    mappings are used once and not stored); ``negative`` entries carry the record's action."""

    prefix: EidPrefix
    locators: tuple[Locator, ...]
    action: int
    installed: float
    expires: float
    authoritative: bool = False

    @property
    def negative(self) -> bool:
        return not self.locators

    @classmethod
    def from_record(cls, record: EidRecord, now: float) -> CacheEntry | None:
        """The entry for ``record`` (``None``: TTL 0 or a non-IP EID)."""
        where = record_prefix(record)
        seconds = ttl_seconds(record.ttl)
        if where is None or seconds is None:
            return None
        return cls(
            where,
            record.locators,
            record.action,
            now,
            now + seconds,
            record.authoritative,
        )


class MapCache:
    """EID-prefix -> :class:`CacheEntry`, longest-prefix match, lazy and ticked TTL expiry."""

    def __init__(self) -> None:
        self._table: PrefixTable[CacheEntry] = PrefixTable()

    def install(self, entry: CacheEntry) -> None:
        """Install or replace the mapping of ``entry.prefix``."""
        self._table.insert(entry.prefix, entry)

    def lookup(self, iid: int, eid: IPAddress, now: float) -> CacheEntry | None:
        """The longest live prefix covering ``eid`` in instance ``iid``; expired entries on
        the way are removed (a less specific live one may then answer)."""
        while True:
            hit = self._table.lookup(eid, iid)
            if hit is None:
                return None
            entry = hit[1]
            if entry.expires > now:
                return entry
            self._table.remove(entry.prefix)

    def remove(self, prefix: EidPrefix) -> CacheEntry | None:
        return self._table.remove(prefix)

    def clear(self) -> None:
        self._table.clear()

    def expire(self, now: float) -> list[CacheEntry]:
        """Remove and return every entry whose TTL has elapsed."""
        gone = [e for _, e in self._table.items() if e.expires <= now]
        for entry in gone:
            self._table.remove(entry.prefix)
        return gone

    def next_expiry(self) -> float | None:
        times = [e.expires for _, e in self._table.items()]
        return min(times) if times else None

    def entries(self) -> list[CacheEntry]:
        return [e for _, e in self._table.items()]

    def __len__(self) -> int:
        return len(self._table)


# -- locator choice ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowKey:
    """The inner 5-tuple a flow is hashed on (ports 0 for protocols without them)."""

    src: IPAddress
    dst: IPAddress
    protocol: int
    src_port: int = 0
    dst_port: int = 0

    def digest(self) -> int:
        """A 64-bit hash, stable across processes and runs (not Python's salted ``hash``)."""
        raw = b"".join(
            [
                self.src.packed,
                self.dst.packed,
                bytes([self.protocol & 0xFF]),
                self.src_port.to_bytes(2, "big"),
                self.dst_port.to_bytes(2, "big"),
            ]
        )
        return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def usable(locators: Iterable[Locator], can_reach: Callable[[Locator], bool]) -> list[Locator]:
    """The best-priority usable locators: priority < 255 and reachable by ``can_reach``."""
    candidates = [loc for loc in locators if loc.priority < UNUSABLE_PRIORITY and can_reach(loc)]
    if not candidates:
        return []
    best = min(loc.priority for loc in candidates)
    return [loc for loc in candidates if loc.priority == best]


def choose_locator(
    locators: Iterable[Locator],
    flow: FlowKey,
    can_reach: Callable[[Locator], bool] = lambda loc: True,
) -> Locator | None:
    """The locator a flow goes to: lowest usable priority (255 never), then among those a
    deterministic per-flow hash spread by weight (all weights 0 = equal shares; a zero
    weight beside non-zero ones gets no flows)."""
    best = usable(locators, can_reach)
    if not best:
        return None
    best.sort(key=lambda loc: (loc.address.afi, loc.address.build()))
    weights = [loc.weight for loc in best]
    if not any(weights):
        weights = [1] * len(best)
    point = flow.digest() % sum(weights)
    for loc, weight in zip(best, weights, strict=True):
        if point < weight:
            return loc
        point -= weight
    return best[-1]  # pragma: no cover - the weights cover every point


def is_negative_forward(action: int) -> bool:
    """Negative-entry actions under which traffic still leaves (natively or to a PETR)."""
    return action in (Action.NO_ACTION, Action.NATIVELY_FORWARD, 6)
