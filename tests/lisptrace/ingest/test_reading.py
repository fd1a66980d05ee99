"""The reading stage: captures read, hopped and layer-walked on a thread, ahead of the tables."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from lisptrace.ingest.capture import CaptureError, merge_captures
from lisptrace.ingest.layers import Ports, decode_layers
from lisptrace.ingest.reading import ReadAhead, Reading
from lisptrace.ingest.reassembly import Reassembler
from tests.support.tshark import udp_frame, write_pcap

LAYER_COLUMNS = ("l3_offset", "ip_version", "src", "dst", "ip_proto", "payload_offset", "kind")


def test_read_ahead_keeps_order_raises_after_the_items_and_stops_early() -> None:
    def items():
        yield from range(5)
        raise ValueError("cut")

    got = []
    reader = ReadAhead(items(), depth=1)
    with pytest.raises(ValueError, match="cut"):
        for b in reader:
            got.append(b)
    reader.close()
    assert got == [0, 1, 2, 3, 4]
    endless = ReadAhead(iter(int, 1), depth=1)
    assert next(iter(endless)) == 0
    endless.close()  # the producer, blocked on a full queue, stops
    assert not endless._thread.is_alive()


def test_read_ahead_holds_no_item_it_handed_over_while_the_caller_waits() -> None:
    """A batch pins its mapped chunk: once the caller drops it and asks for the next, neither
    side may hold it (else a fourth chunk is mapped while the next ones are read)."""

    class Item:
        pass

    resume = threading.Event()

    def items():
        yield Item()
        resume.wait()  # the caller waits for the second item meanwhile
        yield Item()

    reader = ReadAhead(items(), depth=1)
    batches = iter(reader)
    first = weakref.ref(next(batches))
    waiting = threading.Thread(target=next, args=(batches,))
    waiting.start()
    deadline = time.monotonic() + 10
    while first() is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    alive = first() is not None
    resume.set()
    waiting.join()
    reader.close()
    assert not alive


def _captures(tmp_path: Path) -> list[Path]:
    paths = []
    for k in range(2):
        frames = [
            udp_frame(bytes([0x10, 0, 0, 1]) + bytes(8), sport=4342)
            if i % 2 == k
            else udp_frame(bytes(8) + bytes(28), sport=5000, dport=4343)
            for i in range(30)
        ]
        path = tmp_path / f"in{k}.pcap"
        write_pcap(path, frames)
        paths.append(path)
    return paths


def test_reading_gives_every_batch_with_its_layers_in_order(tmp_path: Path) -> None:
    paths = _captures(tmp_path)
    ports = Ports(control=4342, data=4343)
    reading = Reading(paths, batch_frames=7, ports=ports)
    got = list(reading)
    reading.close()
    merged = merge_captures(paths, max_frames=7)
    reassembler = Reassembler()
    want = [(b, decode_layers(b, ports, reassembler)) for b in merged]
    assert len(got) == len(want) > 8
    for (batch, lay), (ref, ref_lay) in zip(got, want, strict=True):
        assert batch.number.tolist() == ref.number.tolist()
        assert [batch.frame(i) for i in range(len(batch))] == [
            ref.frame(i) for i in range(len(ref))
        ]
        for name in LAYER_COLUMNS:
            assert np.array_equal(getattr(lay, name), getattr(ref_lay, name)), name
    assert {int(k) for _, lay in got for k in lay.kind} == {1, 2}  # control and data
    assert not reading.truncated and reading.warnings == []


def test_reading_reports_a_cut_and_a_bad_input(tmp_path: Path) -> None:
    path = _captures(tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    reading = Reading([path])
    assert sum(len(b) for b, _ in reading) == 29
    reading.close()
    assert reading.truncated and "cut" in reading.warnings[0]
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture")
    with pytest.raises(CaptureError, match="not a pcap"):
        Reading([path, bad])


def test_reading_imports_neither_pyarrow_nor_the_codecs() -> None:
    """So that ``lisptrace decode`` starts reading before it imports them."""
    probe = (
        "import sys, lisptrace.ingest.reading\n"
        "print(' '.join(m for m in ('pyarrow', 'dissectors.lisp', 'lisptrace.tables')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == ""
