"""Shared strategies and helpers for the Map-Register / Map-Notify / Info / auth tests."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable

import pytest
from hypothesis import strategies as st

from dissectors.core import DecodeError, Truncated
from dissectors.lisp.afi import Address, IPv4, IPv6
from dissectors.lisp.records import EidRecord, Locator

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)

ipv4 = st.builds(lambda n: IPv4(ipaddress.IPv4Address(n)), u32)
ipv6 = st.builds(lambda n: IPv6(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
ip_address: st.SearchStrategy[Address] = st.one_of(ipv4, ipv6)

locators = st.builds(
    Locator,
    ip_address,
    u8,
    u8,
    u8,
    u8,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 0x1FFF).map(lambda x: x << 3),
)


@st.composite
def eid_records(draw: st.DrawFn) -> EidRecord:
    eid = draw(ip_address)
    bits = 32 if isinstance(eid, IPv4) else 128
    return EidRecord(
        eid,
        draw(st.integers(0, bits)),
        tuple(draw(st.lists(locators, max_size=3))),
        draw(u32),
        draw(st.integers(0, 7)),
        draw(st.booleans()),
        draw(st.integers(0, 0xFFF)),
        draw(st.integers(0, 0xF)),
        draw(st.integers(0, 0xFFF)),
    )


records = st.lists(eid_records(), max_size=3).map(tuple)
auth_data = st.binary(max_size=40)
xtr_ids = st.one_of(
    st.none(), st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8))
)


def assert_prefixes_truncate(parse: Callable[[bytes], object], raw: bytes) -> None:
    """Every proper prefix raises Truncated (a prefix that decodes must report anomalies)."""
    for n in range(len(raw)):
        try:
            value = parse(raw[:n])
        except Truncated:
            continue
        assert getattr(value, "anomalies", ()), f"prefix of {n} bytes decoded silently"


def assert_mutations_safe(
    parse: Callable[[bytes], object], raw: bytes, rounds: int = 3000, seed: int = 1
) -> None:
    """Random bit flips, byte changes, insertions and cuts raise only DecodeError."""
    rng = random.Random(seed)
    for _ in range(rounds):
        b = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.5 and b:
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
            elif op < 0.8 and b:
                b[rng.randrange(len(b))] = rng.randrange(256)
            elif op < 0.9:
                b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
            elif b:
                del b[rng.randrange(len(b)) :]
        try:
            parse(bytes(b))
        except DecodeError:
            pass
        except Exception as exc:  # pragma: no cover - the failure path
            pytest.fail(f"{type(exc).__name__}: {exc} on {bytes(b).hex()}")


def h(text: str) -> bytes:
    """Bytes from hex written with spaces, newlines and # comments."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return bytes.fromhex("".join("".join(lines).split()))
