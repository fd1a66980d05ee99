"""EidPrefix and PrefixTable: parsing, wire conversion, LPM over IPv4/IPv6/instance IDs."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissectors.lisp.afi import IPv4, IPv6, NoAddress
from dissectors.lisp.lcaf import InstanceId
from dissectors.lisp.records import EidRecord
from lisptrace.stack.prefixes import EidPrefix, PrefixTable

P = EidPrefix.parse


def test_parse_and_text_forms() -> None:
    assert str(P("10.1.0.0/16")) == "10.1.0.0/16"
    assert str(P("[1000]2001:db8::/32")) == "[1000]2001:db8::/32"
    assert P("[0x10]10.0.0.0/8").iid == 16
    assert P("10.1.2.3").prefixlen == 32 and P("2001:db8::1").prefixlen == 128
    for bad in ("10.1.0.1/16", "[1000", "[x]10.0.0.0/8", "10.0.0.0/33", "nonsense"):
        with pytest.raises(ValueError):
            P(bad)
    with pytest.raises(ValueError):
        EidPrefix(1 << 32, ipaddress.ip_network("10.0.0.0/8"))


def test_text_matches_the_codec_canonical_prefix() -> None:
    for text in ("10.1.0.0/16", "[1000]10.0.0.0/24", "2001:db8::/48", "[7]2001:db8::1/128"):
        eid, mask = P(text).to_wire()
        record = EidRecord(eid, mask)
        assert record.eid_prefix == text
        assert EidPrefix.from_wire(eid, mask) == P(text)


def test_from_wire_drops_host_bits_and_rejects_other_afis() -> None:
    assert EidPrefix.from_wire(IPv4.of("10.1.2.3"), 16) == P("10.1.0.0/16")
    assert EidPrefix.from_wire(InstanceId(iid=5, address=IPv6.of("2001:db8::1")), 32) == P(
        "[5]2001:db8::/32"
    )
    with pytest.raises(ValueError):
        EidPrefix.from_wire(IPv4.of("10.1.2.3"), 40)
    with pytest.raises(ValueError):
        EidPrefix.from_wire(InstanceId(iid=5, address=None), 8)
    with pytest.raises(ValueError):
        EidPrefix.from_wire(NoAddress(), 0)


def test_contains_respects_family_and_instance() -> None:
    assert P("10.0.0.0/8").contains(P("10.1.0.0/16"))
    assert not P("10.1.0.0/16").contains(P("10.0.0.0/8"))
    assert P("10.0.0.0/8").contains(ipaddress.ip_address("10.9.9.9"))
    assert not P("[1]10.0.0.0/8").contains(P("[2]10.1.0.0/16"))
    assert not P("[1]10.0.0.0/8").contains(ipaddress.ip_address("10.9.9.9"))
    assert P("[1]10.0.0.0/8").contains(ipaddress.ip_address("10.9.9.9"), iid=1)
    assert not P("::/0").contains(P("10.0.0.0/8"))
    assert P("10.1.2.3/32").supernet(8) == P("10.0.0.0/8")


def test_lpm_ipv4_ipv6_and_iids() -> None:
    t: PrefixTable[str] = PrefixTable()
    t.insert(P("0.0.0.0/0"), "default")
    t.insert(P("10.0.0.0/8"), "a")
    t.insert(P("10.1.0.0/16"), "b")
    t.insert(P("10.1.2.3/32"), "host")
    t.insert(P("2001:db8::/32"), "v6")
    t.insert(P("[1000]10.0.0.0/8"), "iid")
    assert len(t) == 6
    assert t.lookup("10.1.2.3") == (P("10.1.2.3/32"), "host")
    assert t.lookup("10.1.2.4")[1] == "b"  # type: ignore[index]
    assert t.lookup("10.2.0.1")[1] == "a"  # type: ignore[index]
    assert t.lookup("192.0.2.1")[1] == "default"  # type: ignore[index]
    assert t.lookup("2001:db8::5")[1] == "v6"  # type: ignore[index]
    assert t.lookup("2001:db9::5") is None
    assert t.lookup("10.1.2.3", iid=1000)[1] == "iid"  # type: ignore[index]
    assert t.lookup("11.0.0.1", iid=1000) is None
    assert t.lookup(P("10.1.0.0/20"))[1] == "b"  # type: ignore[index]
    assert t.lookup(P("10.0.0.0/7"))[1] == "default"  # type: ignore[index]
    assert [v for _, v in t.covering("10.1.2.3")] == ["host", "b", "a", "default"]
    assert sorted(v for _, v in t.covered(P("10.0.0.0/8"))) == ["a", "b", "host"]
    assert P("10.1.0.0/16") in t and P("10.1.0.0/17") not in t and "x" not in t
    assert t.remove(P("10.1.2.3/32")) == "host"
    assert t.remove(P("10.1.2.3/32")) is None
    assert t.remove(P("10.9.0.0/16")) is None
    assert t.remove(P("[9]10.0.0.0/8")) is None
    assert t.lookup("10.1.2.3")[1] == "b"  # type: ignore[index]
    t.insert(P("10.1.0.0/16"), "b2")
    assert len(t) == 5 and t.get(P("10.1.0.0/16")) == "b2"
    for prefix in list(t):
        t.remove(prefix)
    assert len(t) == 0 and t.lookup("10.1.2.3") is None and list(t.items()) == []
    t.insert(P("10.0.0.0/8"), "again")
    t.clear()
    assert len(t) == 0


def test_uncovered_gives_the_widest_non_lisp_block() -> None:
    t: PrefixTable[None] = PrefixTable()
    t.insert(P("10.1.0.0/16"), None)
    t.insert(P("10.3.0.0/16"), None)
    # 10.2.0.1 shares 15 bits with 10.3/16 (14 with 10.1/16): only the /16 around it is free
    assert t.uncovered("10.2.0.1") == P("10.2.0.0/16")
    assert t.uncovered("10.4.0.1") == P("10.4.0.0/14")
    # far away: share only the first bit with 10/8 -> 128.0.0.0/1
    assert t.uncovered("192.0.2.1") == P("128.0.0.0/1")
    assert t.uncovered("10.1.9.9") is None
    # nothing stored in that family/instance: the whole space
    assert t.uncovered("2001:db8::1") == P("::/0")
    assert t.uncovered("10.1.9.9", iid=5) == P("[5]0.0.0.0/0")
    # floor keeps the answer inside an enclosing block
    assert t.uncovered("192.0.2.1", floor=24) == P("192.0.2.0/24")
    # a stored host route right next to the address
    t.insert(P("10.2.0.0/32"), None)
    assert t.uncovered("10.2.0.1") == P("10.2.0.1/32")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=0, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_lpm_and_uncovered_agree_with_brute_force(
    entries: list[tuple[int, int]], probe: int
) -> None:
    t: PrefixTable[int] = PrefixTable()
    stored: dict[EidPrefix, int] = {}
    for i, (addr, length) in enumerate(entries):
        p = EidPrefix.of(ipaddress.IPv4Address(addr), length)
        t.insert(p, i)
        stored[p] = i
    assert len(t) == len(stored)
    ip = ipaddress.IPv4Address(probe)
    best = max((p for p in stored if p.contains(ip)), key=lambda p: p.prefixlen, default=None)
    hit = t.lookup(ip)
    assert (hit[0] if hit else None) == best
    if best is not None:
        assert hit is not None and hit[1] == stored[best]
        assert t.uncovered(ip) is None
    else:
        block = t.uncovered(ip)
        assert block is not None and block.contains(ip)
        assert not any(block.contains(p) or p.contains(block) for p in stored)
        if block.prefixlen:  # one bit wider would overlap something
            wider = block.supernet(block.prefixlen - 1)
            assert any(wider.contains(p) for p in stored)


def test_many_random_prefixes_ipv6() -> None:
    rng = random.Random(4)
    t: PrefixTable[int] = PrefixTable()
    nets = []
    for i in range(300):
        p = EidPrefix.of(ipaddress.IPv6Address(rng.getrandbits(128)), rng.choice([32, 48, 64, 128]))
        t.insert(p, i)
        nets.append(p)
    for p in nets:
        hit = t.lookup(p.address)
        assert hit is not None and hit[0].contains(p.address)
        assert hit[0].prefixlen >= p.prefixlen
