"""The C renderer of canonical address strings against socket.inet_ntop and its numpy twin."""

from __future__ import annotations

import importlib
import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

schema = importlib.import_module("lisptrace.tables.schema")
_addrtext = pytest.importorskip("lisptrace.tables._addrtext")

# addresses where glibc's choices show: zero runs (first longest wins, a single zero word is
# not compressed), ::a.b.c.d and ::ffff:a.b.c.d as dotted quads, trailing and leading runs
EDGES = [
    "::",
    "::1",
    "1::",
    "::0.0.0.2",
    "::ffff:0.0.0.0",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "::2:3",
    "0:0:1::",
    "1:0:0:2:0:0:3:4",
    "1:0:2:0:3:0:4:0",
    "1::2:0:0:3",
    "1:0:0:2::3",
    "fe80::1:0:0:0:1",
    "2001:db8::ff00:42:8329",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "0:0:0:0:0:fffe:1.2.3.4",
    "::ffff:0:1.2.3.4",
]


def _both(raw: np.ndarray, present=None, ipv6=None) -> tuple[list, list]:
    c = schema.canonical_from_bin(raw, present, ipv6)
    kernel, schema._addrtext = schema._addrtext, None
    try:
        r = schema.canonical_from_bin(raw, present, ipv6)
    finally:
        schema._addrtext = kernel
    assert c.type == r.type and c.null_count == r.null_count
    return c.to_pylist(), r.to_pylist()


def test_glibc_edges_as_inet_ntop() -> None:
    packed = [socket.inet_pton(socket.AF_INET6, t) for t in EDGES]
    raw = np.frombuffer(b"".join(packed), np.uint8).reshape(-1, 16)
    ipv6 = np.ones(len(raw), bool)  # as an IPv6 header: never the IPv4 dotted quad of a mapped
    got, numpy_ = _both(raw, None, ipv6)
    assert got == numpy_ == [socket.inet_ntop(socket.AF_INET6, p) for p in packed]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0xABC, 0x1000]), min_size=8, max_size=8),
            st.booleans(),
            st.booleans(),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_random_rows_equal_numpy_twin(rows: list) -> None:
    raw = np.zeros((len(rows), 16), np.uint8)
    for i, (words, mapped, _, _) in enumerate(rows):
        raw[i] = np.frombuffer(np.array(words, ">u2").tobytes(), np.uint8)
        if mapped:
            raw[i, :10], raw[i, 10:12] = 0, 0xFF
    present = np.array([r[2] for r in rows], bool)
    ipv6 = np.array([r[3] for r in rows], bool)
    for p, v in ((None, None), (present, ipv6), (None, ipv6), (present, None)):
        got, numpy_ = _both(raw, p, v)
        assert got == numpy_


def test_many_random_addresses() -> None:
    rng = np.random.default_rng(7)
    raw = rng.integers(0, 256, (20_000, 16), dtype=np.uint8)
    raw.view(np.uint16)[rng.integers(0, 3, (20_000, 8)) == 0] = 0
    raw[::5, :10], raw[::5, 10:12] = 0, 0xFF
    got, numpy_ = _both(raw, rng.integers(0, 9, 20_000) > 0, rng.integers(0, 2, 20_000) > 0)
    assert got == numpy_


def test_bad_buffers_raise() -> None:
    with pytest.raises(ValueError):
        _addrtext.render(bytes(15), bytes(1))


def test_repeated_addresses_through_the_cache() -> None:
    """Rows repeat a pool of addresses larger than the renderer's cache (entries evict one
    another); a mapped address comes both as IPv4 text and as IPv6 text (same bytes, another
    form), and as null."""
    rng = np.random.default_rng(11)
    pool = rng.integers(0, 256, (3000, 16), dtype=np.uint8)
    pool[::2, :10], pool[::2, 10:12] = 0, 0xFF
    rows = rng.integers(0, len(pool), 50_000)
    raw = np.ascontiguousarray(pool[rows])
    ipv6 = rng.integers(0, 2, len(rows)) > 0
    present = rng.integers(0, 10, len(rows)) > 0
    got, numpy_ = _both(raw, present, ipv6)
    assert got == numpy_
    want = [
        None
        if not p
        else socket.inet_ntop(socket.AF_INET, r[12:].tobytes())
        if not v and r[:12].tobytes() == bytes(10) + b"\xff\xff"
        else socket.inet_ntop(socket.AF_INET6, r.tobytes())
        for r, p, v in zip(raw, present, ipv6, strict=True)
    ]
    assert got == want
