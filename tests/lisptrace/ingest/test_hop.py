"""The C record hop (lisptrace/ingest/_hop.c) against its Python twin in capture.py: the same
batches, cuts and warnings on every seed capture and on mutants of them."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from lisptrace.ingest import capture
from tests.lisptrace.ingest.test_capture_fuzz import _mutant, _read, _seeds

pytest.importorskip("lisptrace.ingest._hop")

ROOT = Path(__file__).parents[3]
CAPTURES = sorted(ROOT.glob("captures/*.pcap*")) + sorted(
    (ROOT.parent / "shared" / "captures").glob("*.pcap*")
)
FIELDS = ("number", "time_ns", "offset", "caplen", "origlen", "linktype", "interface", "source")


def _summary(data: bytes, max_frames: int) -> tuple:
    cap, batches = _read(data, max_frames)
    if cap is None:
        return (None,)
    cols = tuple(
        np.concatenate([getattr(b, f) for b in batches]).tolist() if batches else [] for f in FIELDS
    )
    frames = [bytes(b.frame(i)) for b in batches for i in range(len(b))]
    comments = [b.comments for b in batches]
    return cols, frames, comments, cap.truncated, cap.warnings


def _pure(monkeypatch: pytest.MonkeyPatch, data: bytes, max_frames: int) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(capture, "_hop", None)
        return _summary(data, max_frames)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_captures_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    for max_frames in (1, 7, 65536):
        assert _summary(data, max_frames) == _pure(monkeypatch, data, max_frames)


def test_mutants_read_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(4341)
    seeds = _seeds()
    for run in range(5000):
        data = _mutant(rng.choice(seeds)[0], rng)
        max_frames = rng.choice((1, 2, 3, 65536))
        got = _summary(data, max_frames)
        assert got == _pure(monkeypatch, data, max_frames), f"run {run}: {data.hex()}"


def test_output_buffer_is_checked() -> None:
    from lisptrace.ingest import _hop

    heads = np.empty((4, 4), np.int64)
    with pytest.raises(ValueError):
        _hop.pcap_hop(bytes(64), 0, 4, 16, False, np.empty(3, np.int64), heads)
    with pytest.raises(ValueError):
        _hop.pcap_hop(bytes(64), 0, 4, 16, False, np.empty(4, np.int64), heads[:3])
    with pytest.raises(ValueError):
        _hop.pcapng_hop(bytes(64), 0, 4, False, 6, np.empty(4, np.int32))
    with pytest.raises(ValueError):
        _hop.pcap_hop(bytes(64), -1, 4, 16, False, np.empty(4, np.int64), heads)
