"""The map-cache: longest-prefix match, TTL expiry (minutes), locator choice."""

from __future__ import annotations

import ipaddress
from collections import Counter

from dissectors.lisp.afi import IPv4, address
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.records import TTL_UNLIMITED, EidRecord, Locator
from lisptrace.stack.map_cache import (
    UNLIMITED_TTL_SECONDS,
    CacheEntry,
    FlowKey,
    MapCache,
    choose_locator,
)

ip = ipaddress.ip_address


def record(prefix: str, ttl: int = 10, *locs: str, iid: int | None = None) -> EidRecord:
    net = ipaddress.ip_network(prefix)
    eid = IPv4(net.network_address)  # type: ignore[arg-type]
    return EidRecord(
        eid if iid is None else InstanceId(iid=iid, address=eid),
        net.prefixlen,
        tuple(Locator(address(a)) for a in locs),
        ttl=ttl,
    )


def cache_of(now: float, *records: EidRecord) -> MapCache:
    cache = MapCache()
    for rec in records:
        entry = CacheEntry.from_record(rec, now)
        assert entry is not None
        cache.install(entry)
    return cache


def flow(i: int) -> FlowKey:
    return FlowKey(ip("10.0.0.1"), ip("10.9.0.1"), 17, 1024 + i, 53)


def test_longest_prefix_wins() -> None:
    cache = cache_of(
        0.0, record("10.0.0.0/8", 10, "192.0.2.8"), record("10.1.0.0/16", 10, "192.0.2.16")
    )
    hit = cache.lookup(0, ip("10.1.2.3"), 1.0)
    assert hit is not None and str(hit.prefix) == "10.1.0.0/16"
    hit = cache.lookup(0, ip("10.2.0.1"), 1.0)
    assert hit is not None and str(hit.prefix) == "10.0.0.0/8"
    assert cache.lookup(0, ip("11.0.0.1"), 1.0) is None


def test_ttl_is_minutes_and_expiry_falls_back_to_the_less_specific() -> None:
    cache = cache_of(100.0, record("10.0.0.0/8", 10, "192.0.2.8"), record("10.1.0.0/16", 1))
    assert cache.next_expiry() == 160.0
    assert str(cache.lookup(0, ip("10.1.0.1"), 159.9).prefix) == "10.1.0.0/16"  # type: ignore[union-attr]
    assert str(cache.lookup(0, ip("10.1.0.1"), 160.0).prefix) == "10.0.0.0/8"  # type: ignore[union-attr]
    assert len(cache) == 1
    assert [str(e.prefix) for e in cache.expire(700.0)] == ["10.0.0.0/8"]
    assert len(cache) == 0


def test_ttl_zero_is_not_cached_and_unlimited_is_bounded() -> None:
    assert CacheEntry.from_record(record("10.0.0.0/8", 0, "192.0.2.1"), 0.0) is None
    entry = CacheEntry.from_record(record("10.0.0.0/8", TTL_UNLIMITED, "192.0.2.1"), 0.0)
    assert entry is not None and entry.expires == UNLIMITED_TTL_SECONDS


def test_instance_ids_never_match_each_other() -> None:
    cache = cache_of(0.0, record("10.0.0.0/8", 10, "192.0.2.1", iid=7))
    assert cache.lookup(0, ip("10.0.0.1"), 1.0) is None
    assert cache.lookup(7, ip("10.0.0.1"), 1.0) is not None


def test_lowest_usable_priority_wins_and_255_is_never_used() -> None:
    locs = [
        Locator(address("192.0.2.1"), priority=255, weight=100),
        Locator(address("192.0.2.2"), priority=2, weight=100),
        Locator(address("192.0.2.3"), priority=3, weight=100),
    ]
    chosen = {choose_locator(locs, flow(i)) for i in range(200)}
    assert chosen == {locs[1]}
    # the best one unreachable from here (no RLOC of its family): the next priority
    assert choose_locator(locs, flow(0), lambda loc: loc is not locs[1]) == locs[2]
    assert choose_locator(locs[:1], flow(0)) is None


def test_equal_priorities_share_flows_by_weight_deterministically() -> None:
    a = Locator(address("192.0.2.1"), priority=1, weight=75)
    b = Locator(address("192.0.2.2"), priority=1, weight=25)
    counts = Counter(choose_locator([a, b], flow(i)) for i in range(4000))
    assert 0.70 < counts[a] / 4000 < 0.80
    # one flow always takes the same locator, whatever the order of the set
    assert all(
        choose_locator([a, b], flow(i)) == choose_locator([b, a], flow(i)) for i in range(50)
    )


def test_all_zero_weights_share_equally_and_zero_beside_nonzero_gets_nothing() -> None:
    a = Locator(address("192.0.2.1"), priority=1, weight=0)
    b = Locator(address("192.0.2.2"), priority=1, weight=0)
    counts = Counter(choose_locator([a, b], flow(i)) for i in range(2000))
    assert 0.45 < counts[a] / 2000 < 0.55
    c = Locator(address("192.0.2.3"), priority=1, weight=100)
    assert {choose_locator([a, c], flow(i)) for i in range(300)} == {c}
