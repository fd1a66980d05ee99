"""Fuzzing the capture reader: mutated pcap/pcapng files, lying lengths, cuts, bad gzip.

Invariants on every mutant: only ``CaptureError`` escapes (and only from ``open_capture``);
iterating never raises; the batches are well formed (numbers 1..N, every frame inside its
buffer, at most ``max_frames`` per batch); never more frames than the bytes could hold; and
every frame of the seed whose record ends before the first changed byte comes out unchanged.

``LISPTRACE_FUZZ_RUNS`` sets the number of mutants (default 100,000).
"""

from __future__ import annotations

import gzip
import io
import os
import random
import struct

import numpy as np

from lisptrace.ingest.capture import Capture, CaptureError, open_capture
from lisptrace.ingest.frames import FrameBatch
from tests.lisptrace.ingest.test_capture import (
    NS,
    T0,
    epb,
    frame,
    idb,
    isb,
    mixed_pcapng,
    pcap_file,
    shb,
    spb,
)
from tests.support.mutate import mutate

RUNS = int(os.environ.get("LISPTRACE_FUZZ_RUNS", "100000"))
LYING = (0, 1, 11, 12, 13, 15, 16, 28, 31, 32, 0x7FFF, 65535, 262_144, 262_145, 2**31, 2**32 - 1)


def _seeds() -> list[tuple[bytes, list[int], int]]:
    """(file, end offset of each frame's record/block, smallest record size) per seed."""
    seeds = []
    for order in "<>":
        for nano in (False, True):
            frames = [(T0 + i * 999_999_937, frame(i, i * 11)) for i in range(6)]
            data = pcap_file(frames, order=order, nano=nano)
            ends = np.cumsum([16 + len(f) for _, f in frames]) + 24
            seeds.append((data, ends.tolist(), 16))
    data, _ = mixed_pcapng(">")
    seeds.append((data, _pcapng_ends(data), 12))
    o = ">"
    small = shb(o) + idb(o, 1, 64, tsresol=9)
    small += b"".join(epb(o, 0, T0 + i, frame(i, i)) for i in range(4))
    small += spb(o, frame(9, 70)) + isb(o, 0, T0 + 9, 5, 0)
    seeds.append((small, _pcapng_ends(small), 12))
    return seeds


def _pcapng_ends(data: bytes) -> list[int]:
    ends, off, order = [], 0, "<"
    while off < len(data):
        if data[off : off + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(order + "II", data, off)
        off += blen
        if btype in (2, 3, 6):
            ends.append(off)
    return ends


def _length_positions(data: bytes) -> list[tuple[int, str]]:
    """Where the seed's record/block length fields are (offset, byte order)."""
    out: list[tuple[int, str]] = []
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        off, order = 0, "<"
        while off + 8 <= len(data):
            if data[off : off + 4] == b"\x0a\x0d\x0d\x0a":
                order = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            btype, blen = struct.unpack_from(order + "II", data, off)
            out.append((off + 4, order))  # block total length
            out.append((off + blen - 4, order))  # trailing total length
            if btype == 6:
                out.append((off + 20, order))  # captured length
                out.append((off + 24, order))  # original length
            off += blen
        return out
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(data):
        (caplen,) = struct.unpack_from(order + "I", data, off + 8)
        out.append((off + 8, order))
        out.append((off + 12, order))
        off += 16 + caplen
    return out


def _mutant(seed: bytes, rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.3:  # a lying 32-bit record/block length
        b = bytearray(seed)
        pos, order = rng.choice(_length_positions(seed))
        value = rng.choice(LYING) if rng.random() < 0.7 else rng.randrange(2**32)
        b[pos : pos + 4] = struct.pack(order + "I", value)
        return bytes(b)
    if kind < 0.4:  # a cut anywhere
        return seed[: rng.randrange(len(seed) + 1)]
    data = mutate(seed, rng)
    if rng.random() < 0.25:
        data = mutate(data, rng)
    return data


def _check(batches: list[FrameBatch], max_frames: int, data_len: int, min_record: int) -> int:
    n = 0
    for b in batches:
        k = len(b)
        assert 0 < k <= max_frames
        for name in ("time_ns", "offset", "caplen", "origlen", "linktype", "interface", "source"):
            assert len(getattr(b, name)) == k, name
        assert b.number.tolist() == list(range(n + 1, n + k + 1))
        assert (b.caplen >= 0).all() and (b.offset >= 0).all()
        assert (b.offset + b.caplen <= len(b.buf)).all()
        assert all(n < num <= n + k for num in b.comments)
        n += k
    assert n * min_record <= data_len, (n, data_len)
    return n


def _read(data: bytes, max_frames: int) -> tuple[Capture | None, list[FrameBatch]]:
    try:
        cap = open_capture(io.BytesIO(data))
    except CaptureError as exc:
        assert "\n" not in str(exc)
        return None, []
    return cap, list(cap.batches(max_frames))


def test_fuzz_capture_reader() -> None:
    rng = random.Random(20261121)
    seeds = _seeds()
    references = []
    for data, ends, _ in seeds:
        cap, batches = _read(data, 65536)
        assert cap is not None and cap.truncated is None
        references.append([bytes(b.frame(i)) for b in batches for i in range(len(b))])
        assert len(references[-1]) == len(ends)
    opened = cut = 0
    for run in range(RUNS):
        k = rng.randrange(len(seeds))
        seed, ends, min_record = seeds[k]
        data = _mutant(seed, rng)
        max_frames = rng.choice((1, 2, 3, 65536))
        try:
            cap, batches = _read(data, max_frames)
        except Exception as exc:  # anything but CaptureError is a bug: show the input
            raise AssertionError(
                f"run {run}: {type(exc).__name__}: {exc} on input {data.hex()}"
            ) from exc
        if cap is None:
            continue
        opened += 1
        cut += cap.truncated is not None
        n = _check(batches, max_frames, len(data), min_record)
        assert cap.frames == n
        # frames whose record ends before the first changed byte come out unchanged
        same = next((i for i, (x, y) in enumerate(zip(seed, data, strict=False)) if x != y), None)
        if same is None:
            same = min(len(seed), len(data))
        intact = sum(1 for e in ends if e <= same)
        got = [bytes(b.frame(i)) for b in batches for i in range(min(len(b), intact))][:intact]
        assert got == references[k][:intact], f"run {run} on input {data.hex()}"
    assert opened > RUNS // 2 and cut > RUNS // 20  # the mutants reached the reader's depths


def test_fuzz_gzip_stream() -> None:
    rng = random.Random(7)
    seeds = [gzip.compress(s[0]) for s in _seeds()]
    for run in range(max(RUNS // 50, 200)):
        data = mutate(rng.choice(seeds), rng)
        try:
            cap, batches = _read(data, rng.choice((1, 65536)))
        except Exception as exc:
            raise AssertionError(f"run {run}: {type(exc).__name__}: {exc} on {data.hex()}") from exc
        if cap is not None:
            _check(batches, 65536, 1 << 30, 1)


def test_fuzz_time_stays_int64() -> None:
    """Extreme timestamps and resolutions never raise (they wrap like the C readers do)."""
    o = "<"
    for resol in (0, 9, 19, 20, 127, 0x80, 0x80 | 34, 0x80 | 35, 0x80 | 63, 0xFF):
        data = shb(o) + idb(o, 1, 0, tsresol=resol, tsoffset=2**62)
        data += epb(o, 0, 2**64 - 1, frame(1)) + epb(o, 0, 0, frame(2)) + epb(o, 0, NS, frame(3))
        cap, batches = _read(data, 65536)
        assert cap is not None and sum(len(b) for b in batches) == 3
