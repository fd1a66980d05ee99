"""The block cache (lisptrace/_blocks.c): numpy's large arrays from reused blocks, by size class."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import ModuleType

import numpy as np
import pytest

from lisptrace.kernels import block_cache, load

LARGE = 256 << 10  # the smallest cached block (with its 64-byte header)


@pytest.fixture
def blocks() -> Iterator[ModuleType]:
    module = load("lisptrace._blocks")
    if module is None:
        pytest.skip("the block cache is not built (LISPTRACE_PURE or no C compiler)")
    with block_cache():
        yield module


def _handler() -> str:
    return str(np._core.multiarray.get_handler_name())


def test_block_cache_is_this_threads_allocator_inside_the_block_only() -> None:
    if load("lisptrace._blocks") is None:
        pytest.skip("the block cache is not built")
    before = _handler()
    seen: list[str] = []
    with block_cache():
        assert _handler() == "lisptrace_blocks"
        thread = threading.Thread(target=lambda: seen.append(_handler()))
        thread.start()
        thread.join()
    assert _handler() == before
    assert seen == [before]  # numpy keeps the allocator per thread (a context variable)


def test_without_the_extension_block_cache_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LISPTRACE_PURE", "1")
    before = _handler()
    with block_cache():
        assert _handler() == before
        assert not np.zeros(LARGE, np.uint8).any()


def test_a_freed_block_serves_the_next_array_of_its_class(blocks: ModuleType) -> None:
    np.ones(100_000, np.int64)  # maps a block of its class (or takes one cached)
    first = blocks.stats()
    for k in range(50):  # sizes within one class (8 per power of two)
        a = np.empty(100_000 + k, np.int64)
        a[:] = k
        del a
    after = blocks.stats()
    assert after["maps"] == first["maps"]
    assert after["hits"] >= first["hits"] + 50


def test_a_class_without_a_cached_block_takes_one_of_a_class_just_above(blocks: ModuleType) -> None:
    """A slightly larger batch leaves blocks of a larger class in the cache: later arrays of the
    classes below use them rather than map more (at most two classes, ~25 %, above)."""
    mib = 1 << 20
    far = np.empty(13 * mib + mib // 2, np.uint8)  # classes of 1 MiB from 8 MiB: 14 MiB
    near = np.empty(10 * mib + mib // 2, np.uint8)  # 11 MiB
    near_at = near.ctypes.data
    del far, near
    before = blocks.stats()
    taken = np.empty(9 * mib + mib // 2, np.uint8)  # 10 MiB: none cached, the 11 MiB one is
    assert taken.ctypes.data == near_at
    assert blocks.stats()["maps"] == before["maps"]
    another = np.empty(9 * mib + mib // 2, np.uint8)  # the 14 MiB block is too large to take
    assert blocks.stats()["maps"] == before["maps"] + 1
    del taken, another


def test_the_cache_is_emptied_when_the_last_block_ends() -> None:
    blocks = load("lisptrace._blocks")
    if blocks is None:
        pytest.skip("the block cache is not built")
    inner_done = threading.Event()

    def inner() -> None:
        with block_cache():
            np.ones(1 << 20, np.uint8)  # freed at once: cached
        inner_done.set()

    with block_cache():
        thread = threading.Thread(target=inner)
        thread.start()
        thread.join()
        assert inner_done.is_set()
        assert blocks.stats()["cached"] > 0  # this thread's block is still open: kept
    assert blocks.stats()["cached"] == 0


def test_zeros_are_zero_in_a_reused_block(blocks: ModuleType) -> None:
    for size in (LARGE, 300_000, 1 << 20, 5_000_000):
        dirty = np.full(size, 0xFF, np.uint8)
        del dirty  # back to the cache, all ones
        hits = blocks.stats()["hits"]
        clean = np.zeros(size, np.uint8)
        assert blocks.stats()["hits"] == hits + 1
        assert not clean.any()
    maps = blocks.stats()["maps"]
    fresh = np.zeros((48 << 20) + 12_345, np.uint8)  # a class no array used yet: a new mapping
    assert blocks.stats()["maps"] == maps + 1
    assert not fresh.any()


@pytest.mark.parametrize(
    ("old", "new"),
    [(10, 400_000), (400_000, 10), (300_000, 900_000), (900_000, 300_000), (500_000, 500_001)],
)
def test_resize_keeps_the_contents(blocks: ModuleType, old: int, new: int) -> None:
    a = np.arange(old, dtype=np.int64)
    a.resize(new, refcheck=False)
    keep = min(old, new)
    assert (a[:keep] == np.arange(keep)).all()
    assert not a[keep:].any()  # numpy zero-fills what it grew


def test_small_and_huge_arrays_round_trip(blocks: ModuleType) -> None:
    small = np.arange(1000, dtype=np.int32)
    huge = np.ones(80 << 20, np.uint8)  # above the largest cached class: mapped and unmapped
    assert small.sum() == 499_500
    assert huge.sum() == 80 << 20
    unmaps = blocks.stats()["unmaps"]
    del huge
    assert blocks.stats()["unmaps"] == unmaps + 1


def test_the_cache_stays_within_its_limit(blocks: ModuleType) -> None:
    limit = blocks.stats()["limit"]
    arrays = [np.ones((8 << 20) + k * (1 << 20), np.uint8) for k in range(20)]  # ~350 MB
    del arrays
    stats = blocks.stats()
    assert 0 < stats["cached"] <= limit
    assert stats["unmaps"] > 0


def test_arrays_outlive_the_block_and_other_threads_free_them(blocks: ModuleType) -> None:
    made: list[np.ndarray] = []

    def make() -> None:
        with block_cache():
            made.append(np.arange(200_000, dtype=np.int64))

    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    (a,) = made
    assert int(a[-1]) == 199_999
    made.clear()
    del a  # freed here, by its own (the cache's) allocator
    assert blocks.stats()["cached"] > 0
