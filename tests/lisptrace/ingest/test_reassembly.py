"""Fragment reassembly: order, overlaps, gaps, limits, and nothing given up silently."""

from __future__ import annotations

import pytest

from lisptrace.ingest.reassembly import (
    BAD_LENGTH,
    DUPLICATE,
    INCONSISTENT,
    OVERLAP,
    OVERLAP_CONFLICT,
    REASON_CONFLICT,
    REASON_COUNT,
    REASON_END,
    REASON_INCONSISTENT,
    REASON_MEMORY,
    REASON_TIMEOUT,
    REASON_TOO_BIG,
    TOO_BIG,
    Fragment,
    FragmentKey,
    Reassembler,
)

KEY: FragmentKey = (4, b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02", 0x1234, 17)
DATA = bytes(range(256)) * 12  # 3072 bytes
S = 1_000_000_000


def frag(number: int, offset: int, length: int, more: bool, key: FragmentKey = KEY, t: int = 0):
    return Fragment(number, t, key, offset, more, DATA[offset : offset + length])


def pieces(size: int = 1200) -> list[Fragment]:
    """DATA cut in 1200-byte fragments, frames 1, 2, 3."""
    out = []
    for n, off in enumerate(range(0, len(DATA), size), start=1):
        out.append(frag(n, off, min(size, len(DATA) - off), off + size < len(DATA)))
    return out


def test_in_order() -> None:
    r = Reassembler()
    a, b, c = pieces()
    assert r.feed(a).reassembled is None
    assert r.feed(b).reassembled is None
    assert r.pending_datagrams == 1 and r.pending_bytes == 2400
    res = r.feed(c)
    done = res.reassembled
    assert done is not None and not res.anomalies and not res.evicted
    assert done.data == DATA and done.number == 3 and done.frames == (1, 2, 3)
    assert done.key == KEY and done.protocol == 17
    assert r.pending_datagrams == 0 and r.pending_bytes == 0


@pytest.mark.parametrize("order", [(2, 0, 1), (2, 1, 0), (1, 2, 0), (0, 2, 1)])
def test_out_of_order(order: tuple[int, int, int]) -> None:
    r = Reassembler()
    parts = pieces()
    results = [r.feed(parts[i]) for i in order]
    assert [x.reassembled is None for x in results] == [True, True, False]
    done = results[-1].reassembled
    assert done is not None and done.data == DATA
    assert done.number == order[-1] + 1
    assert done.frames == tuple(i + 1 for i in order)


def test_duplicate_is_ignored_with_an_anomaly() -> None:
    r = Reassembler()
    a, b, c = pieces()
    r.feed(a)
    res = r.feed(a)
    assert res.anomalies and res.anomalies[0].startswith(DUPLICATE)
    assert r.pending_bytes == 1200
    r.feed(b)
    done = r.feed(c).reassembled
    assert done is not None and done.data == DATA and done.frames == (1, 1, 2, 3)


def test_consistent_overlap_is_kept_with_an_anomaly() -> None:
    r = Reassembler()
    r.feed(frag(1, 0, 1600, True))
    res = r.feed(frag(2, 800, 1600, True))  # bytes 800-1600 again, the same
    assert any(a.startswith(OVERLAP + ":") for a in res.anomalies)
    done = r.feed(frag(3, 2400, 672, False)).reassembled
    assert done is not None and done.data == DATA


def test_conflicting_overlap_evicts_the_datagram() -> None:
    r = Reassembler()
    r.feed(frag(1, 0, 1600, True))
    bad = Fragment(2, 0, KEY, 800, True, bytes(800))
    res = r.feed(bad)
    assert any(a.startswith(OVERLAP_CONFLICT) for a in res.anomalies)
    assert len(res.evicted) == 1
    ev = res.evicted[0]
    assert ev.reason == REASON_CONFLICT and ev.frames == (1, 2) and ev.key == KEY
    assert r.pending_datagrams == 0 and r.pending_bytes == 0
    assert "evicted" in ev.anomaly()


def test_second_last_fragment_with_another_end_is_inconsistent() -> None:
    r = Reassembler()
    r.feed(frag(1, 1200, 1200, False))
    res = r.feed(frag(2, 0, 1600, False))
    assert any(a.startswith(INCONSISTENT) for a in res.anomalies)
    assert res.evicted[0].reason == REASON_INCONSISTENT


def test_data_past_the_known_end_is_inconsistent() -> None:
    r = Reassembler()
    r.feed(frag(1, 800, 800, False))  # the datagram ends at byte 1600
    res = r.feed(frag(2, 1600, 800, True))
    assert res.evicted and res.evicted[0].reason == REASON_INCONSISTENT


def test_last_fragment_before_data_held_is_inconsistent() -> None:
    r = Reassembler()
    r.feed(frag(1, 1600, 800, True))
    res = r.feed(frag(2, 0, 800, False))
    assert res.evicted and res.evicted[0].reason == REASON_INCONSISTENT


def test_missing_fragment_never_completes_and_flush_reports_it() -> None:
    r = Reassembler()
    a, _, c = pieces()
    assert r.feed(a).reassembled is None
    assert r.feed(c).reassembled is None
    evicted = r.flush()
    assert [(e.frames, e.reason, e.bytes_held) for e in evicted] == [((1, 3), REASON_END, 1872)]
    assert r.pending_datagrams == 0 and r.pending_bytes == 0


def test_timeout_in_capture_time() -> None:
    r = Reassembler(timeout_ns=30 * S)
    r.feed(frag(1, 0, 1200, True, t=0))
    other: FragmentKey = (4, b"\x01\x01\x01\x01", b"\x02\x02\x02\x02", 1, 17)
    assert not r.feed(frag(2, 0, 1200, True, key=other, t=29 * S)).evicted
    res = r.feed(frag(3, 1200, 1200, True, key=other, t=31 * S))
    assert [(e.key, e.reason, e.frames) for e in res.evicted] == [(KEY, REASON_TIMEOUT, (1,))]
    assert [e.frames for e in r.expire(60 * S)] == [(2, 3)]


def test_max_datagrams_evicts_the_oldest() -> None:
    r = Reassembler(max_datagrams=2)
    keys = [(4, b"\x01\x01\x01\x01", b"\x02\x02\x02\x02", i, 17) for i in range(3)]
    for n, k in enumerate(keys, start=1):
        res = r.feed(frag(n, 0, 8, True, key=k))
    assert [(e.key, e.reason) for e in res.evicted] == [(keys[0], REASON_COUNT)]
    assert r.pending_datagrams == 2


def test_max_pending_bytes_evicts_the_oldest() -> None:
    r = Reassembler(max_pending_bytes=3000)
    k2: FragmentKey = (4, b"\x01\x01\x01\x01", b"\x02\x02\x02\x02", 7, 17)
    assert not r.feed(frag(1, 0, 1600, True)).evicted
    res = r.feed(frag(2, 0, 1600, True, key=k2))
    assert [(e.key, e.reason, e.bytes_held) for e in res.evicted] == [(KEY, REASON_MEMORY, 1600)]
    assert r.pending_bytes == 1600


def test_datagram_larger_than_the_limit() -> None:
    r = Reassembler()
    res = r.feed(Fragment(1, 0, KEY, 65528, False, bytes(16)))  # ends at 65544
    assert any(a.startswith(TOO_BIG) for a in res.anomalies)
    assert res.evicted[0].reason == REASON_TOO_BIG and r.pending_datagrams == 0
    small = Reassembler(max_datagram=2000)
    assert small.feed(frag(1, 1600, 800, True)).evicted[0].reason == REASON_TOO_BIG


def test_non_last_fragment_not_a_multiple_of_8() -> None:
    r = Reassembler()
    res = r.feed(frag(1, 0, 1001, True))
    assert res.anomalies[0].startswith(BAD_LENGTH)
    done = r.feed(frag(2, 1001, len(DATA) - 1001, False)).reassembled
    assert done is not None and done.data == DATA


def test_keys_do_not_mix() -> None:
    r = Reassembler()
    k2: FragmentKey = (6, bytes(16), bytes(15) + b"\x01", 0x1234, 17)
    r.feed(frag(1, 0, 1200, True))
    r.feed(frag(2, 1200, 1872, False, key=k2))
    assert r.pending_datagrams == 2
    done = r.feed(frag(3, 1200, 1872, False)).reassembled
    assert done is not None and done.key == KEY and done.frames == (1, 3)
