"""The streaming capture reader: pcap/pcapng variants, gzip, merging, cuts and lying lengths.

Every file here is written by hand with ``struct`` from the published layouts (pcap: the
libpcap file format, draft-ietf-opsawg-pcap; pcapng: draft-ietf-opsawg-pcapng), then read by
our reader and, where they can read it, by dpkt and by tshark as oracles.
"""

from __future__ import annotations

import gzip
import heapq
import io
import mmap
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

import dpkt
import numpy as np
import pytest

import lisptrace.ingest.capture as capture_mod
from lisptrace.ingest.capture import CaptureError, merge_captures, open_capture
from lisptrace.ingest.frames import FrameBatch
from tests.support.tshark import requires_tshark

SHARED = Path(__file__).resolve().parents[4] / "shared" / "captures"
TSHARK = shutil.which("tshark")
NS = 1_000_000_000

# -- writers (pcap) -------------------------------------------------------------------------

PCAP_MAGIC = {False: 0xA1B2C3D4, True: 0xA1B23C4D}  # microsecond, nanosecond


def pcap_file(
    frames: Sequence[tuple[int, bytes]] | Sequence[tuple[int, bytes, int]],
    *,
    order: str = "<",
    nano: bool = False,
    linktype: int = 1,
    snaplen: int = 65535,
    modified: bool = False,
) -> bytes:
    """A pcap file: ``frames`` are (time in ns, data[, original length])."""
    magic = 0xA1B2CD34 if modified else PCAP_MAGIC[nano]
    # magic, version 2.4, thiszone, sigfigs, snaplen, linktype
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for fr in frames:
        t, data = fr[0], fr[1]
        orig = fr[2] if len(fr) > 2 else len(data)  # type: ignore[misc]
        sec, sub = divmod(t, NS)
        frac = sub if nano else sub // 1000
        # ts_sec, ts_usec|ts_nsec, incl_len, orig_len
        out.append(struct.pack(order + "IIII", sec, frac, len(data), orig))
        if modified:  # ifindex, protocol, pkt_type, pad
            out.append(struct.pack(order + "IHBB", 2, 0x0800, 0, 0))
        out.append(data)
    return b"".join(out)


# -- writers (pcapng) -----------------------------------------------------------------------


def _pad(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def options(order: str, opts: Sequence[tuple[int, bytes]]) -> bytes:
    """Options, each code/length/value padded to 32 bits, then opt_endofopt."""
    if not opts:
        return b""
    out = [struct.pack(order + "HH", code, len(v)) + _pad(v) for code, v in opts]
    return b"".join(out) + struct.pack(order + "HH", 0, 0)


def block(order: str, btype: int, body: bytes) -> bytes:
    """type, total length, body (padded), total length again."""
    body = _pad(body)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def shb(order: str = "<", opts: Sequence[tuple[int, bytes]] = ()) -> bytes:
    # byte-order magic, major 1, minor 0, section length -1 (unknown)
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options(order, opts)
    return block(order, 0x0A0D0D0A, body)


def idb(
    order: str,
    linktype: int,
    snaplen: int = 0,
    tsresol: int | None = None,
    tsoffset: int | None = None,
    name: str | None = None,
    comment: str | None = None,
) -> bytes:
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(order + "q", tsoffset)))
    if comment is not None:
        opts.append((1, comment.encode()))
    # linktype, reserved, snaplen
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + options(order, opts))


def epb(
    order: str, if_id: int, ticks: int, data: bytes, orig: int | None = None, comment: str = ""
) -> bytes:
    opts = [(1, comment.encode())] if comment else []
    # interface id, timestamp high, timestamp low, captured length, original length
    head = struct.pack(
        order + "IIIII", if_id, ticks >> 32, ticks & 0xFFFFFFFF, len(data), orig or len(data)
    )
    return block(order, 6, head + _pad(data) + options(order, opts))


def opb(order: str, if_id: int, ticks: int, data: bytes) -> bytes:
    # obsolete Packet Block: interface id (16), drops count (16), ts high, ts low, caplen, len
    head = struct.pack(
        order + "HHIIII", if_id, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
    )
    return block(order, 2, head + _pad(data))


def spb(order: str, data: bytes, orig: int | None = None) -> bytes:
    return block(order, 3, struct.pack(order + "I", orig or len(data)) + _pad(data))


def isb(order: str, if_id: int, ticks: int, recv: int, drop: int) -> bytes:
    opts = [(4, struct.pack(order + "Q", recv)), (5, struct.pack(order + "Q", drop))]
    head = struct.pack(order + "III", if_id, ticks >> 32, ticks & 0xFFFFFFFF)
    return block(order, 5, head + options(order, opts))


def nrb(order: str) -> bytes:
    # nrb_record_ipv4 (1): 4-byte address + name, then nrb_record_end
    rec = bytes([192, 0, 2, 1]) + b"host\0"
    body = struct.pack(order + "HH", 1, len(rec)) + _pad(rec) + struct.pack(order + "HH", 0, 0)
    return block(order, 4, body)


def dsb(order: str) -> bytes:
    # Decryption Secrets Block: secrets type (TLS key log), length, data
    secret = b"CLIENT_RANDOM 00 00\n"
    return block(order, 10, struct.pack(order + "II", 0x544C534B, len(secret)) + _pad(secret))


def custom(order: str) -> bytes:
    return block(order, 0x00000BAD, struct.pack(order + "I", 32473) + b"custom data!")


def frame(i: int, size: int = 0) -> bytes:
    """Recognisable frame bytes: an Ethernet-ish header, then the index."""
    body = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + i.to_bytes(4, "big")
    return body + bytes(range(size % 200))


T0 = 1_700_000_000 * NS


def mixed_pcapng(order2: str = ">") -> tuple[bytes, list[dict[str, object]]]:
    """Two sections (the second in ``order2``) with several interfaces; and what each frame is.

    Section 1 (little-endian): if0 Ethernet in microseconds (default), if1 raw IP in ns with
    a comment, if2 Linux SLL in 2^-20 s with an offset of 100 s; EPBs on each, a comment on an
    EPB, an NRB, a DSB, a custom block, an obsolete Packet Block, an SPB (no timestamp), an
    ISB. Section 2 (``order2``): if0 (capture-wide 3) raw IPv6 in milliseconds, two EPBs.
    """
    o = "<"
    expect: list[dict[str, object]] = []
    parts = [shb(o, [(1, b"section one"), (4, b"handmade")])]
    parts.append(idb(o, 1, 65535, name="eth0"))
    parts.append(idb(o, 101, 0, tsresol=9, comment="raw ip, ns"))
    parts.append(idb(o, 113, 96, tsresol=0x80 | 20, tsoffset=100))
    parts.append(nrb(o))

    def add(blk: bytes, **want: object) -> None:
        parts.append(blk)
        expect.append(want)

    t_us = T0 // 1000 + 123_456
    add(epb(o, 0, t_us, frame(1, 10)), time=t_us * 1000, iface=0, lt=1, data=frame(1, 10))
    t_ns = T0 + 987_654_321
    add(
        epb(o, 1, t_ns, frame(2, 3), comment="first comment"),
        time=t_ns,
        iface=1,
        lt=101,
        data=frame(2, 3),
        comment="first comment",
    )
    parts.append(dsb(o))
    ticks = ((T0 // NS) << 20) | (1 << 19)  # .5 s in 2^-20 units
    add(
        epb(o, 2, ticks, frame(3, 40), orig=500),
        time=T0 + NS // 2 + 100 * NS,
        iface=2,
        lt=113,
        data=frame(3, 40),
        orig=500,
    )
    parts.append(custom(o))
    t_us2 = t_us + 5
    add(opb(o, 0, t_us2, frame(4, 7)), time=t_us2 * 1000, iface=0, lt=1, data=frame(4, 7))
    add(spb(o, frame(5, 20)), time=t_us2 * 1000, iface=0, lt=1, data=frame(5, 20))
    parts.append(isb(o, 0, t_us2 + 1, recv=17, drop=2))
    o = order2
    parts.append(shb(o, [(1, b"section two")]))
    parts.append(idb(o, 229, 0, tsresol=3))
    t_ms = T0 // 1_000_000 + 42
    add(epb(o, 0, t_ms, frame(6, 1)), time=t_ms * 1_000_000, iface=3, lt=229, data=frame(6, 1))
    add(
        epb(o, 0, t_ms + 1, frame(7, 2), comment="two\u00e9"),
        time=(t_ms + 1) * 1_000_000,
        iface=3,
        lt=229,
        data=frame(7, 2),
        comment="two\u00e9",
    )
    return b"".join(parts), expect


# -- helpers --------------------------------------------------------------------------------


def read_all(source: object, max_frames: int = 65536) -> tuple[object, list[FrameBatch]]:
    cap = open_capture(source)  # type: ignore[arg-type]
    return cap, list(cap.batches(max_frames))


@pytest.fixture(params=["stream", "mapped"])
def source_of(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[bytes], object]:
    """Capture bytes as the reader meets them: a stream (read in chunks) or a file opened by
    path (mapped a chunk at a time)."""
    count = iter(range(1_000_000))

    def make(data: bytes) -> object:
        if request.param == "stream":
            return io.BytesIO(data)
        path = tmp_path / f"c{next(count)}.pcap"
        path.write_bytes(data)
        return path

    return make


def columns(batches: Sequence[FrameBatch]) -> dict[str, np.ndarray]:
    names = ("number", "time_ns", "caplen", "origlen", "linktype", "interface", "source")
    return {n: np.concatenate([getattr(b, n) for b in batches] or [np.zeros(0)]) for n in names}


def frames_of(batches: Sequence[FrameBatch]) -> list[bytes]:
    return [bytes(b.frame(i)) for b in batches for i in range(len(b))]


def tshark_rows(path: Path) -> list[tuple[int, int | None, int, int, str]]:
    """(number, time ns, len, cap_len, interface id) of each frame, as tshark reads them.

    A record without a time (a simple packet block, a custom block) has time None."""
    fields = [
        "frame.number",
        "frame.time_epoch",
        "frame.len",
        "frame.cap_len",
        "frame.interface_id",
    ]
    cmd = [TSHARK or "tshark", "-r", str(path), "-T", "fields"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    rows = []
    for line in out.stdout.splitlines():
        num, t, length, cap, iface = line.split("\t")
        ns = int(Decimal(t) * NS) if t else None
        rows.append((int(num), ns, int(length), int(cap), iface))
    return rows


# -- pcap -----------------------------------------------------------------------------------

PCAP_FRAMES = [(T0 + i * 1_234_567_891 + i * 7, frame(i, i * 13)) for i in range(12)]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_variants_match_dpkt(order: str, nano: bool) -> None:
    data = pcap_file(PCAP_FRAMES, order=order, nano=nano, linktype=1)
    cap, batches = read_all(io.BytesIO(data), max_frames=5)
    assert [len(b) for b in batches] == [5, 5, 2]
    cols = columns(batches)
    assert cols["number"].tolist() == list(range(1, 13))
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    theirs = list(reader)
    assert len(theirs) == len(cols["number"])
    assert frames_of(batches) == [bytes(buf) for _, buf in theirs]
    want = [t if nano else t // 1000 * 1000 for t, _ in PCAP_FRAMES]
    assert cols["time_ns"].tolist() == want
    # dpkt's float seconds agree to within its float precision
    assert all(abs(int(ts * NS) - w) < 1000 for (ts, _), w in zip(theirs, want, strict=True))
    assert cols["linktype"].tolist() == [reader.datalink()] * 12
    assert cols["caplen"].tolist() == cols["origlen"].tolist() == [len(f) for _, f in PCAP_FRAMES]
    assert cap.nanosecond is nano
    assert cap.format == "pcap" and cap.linktype == 1
    assert cap.warnings == [] and cap.truncated is None


@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize(
    ("order", "nano", "modified"),
    [("<", False, False), (">", False, False), ("<", True, False), (">", True, False),
     ("<", False, True)],
)  # fmt: skip
def test_pcap_variants_match_tshark(tmp_path: Path, order: str, nano: bool, modified: bool) -> None:
    frames = [(t, d, len(d) + 4 * (i % 3)) for i, (t, d) in enumerate(PCAP_FRAMES)]
    path = tmp_path / "f.pcap"
    path.write_bytes(pcap_file(frames, order=order, nano=nano, linktype=101, modified=modified))
    _, batches = read_all(path)
    cols = columns(batches)
    ours = list(
        zip(
            cols["number"].tolist(),
            cols["time_ns"].tolist(),
            cols["origlen"].tolist(),
            cols["caplen"].tolist(),
            strict=True,
        )
    )
    assert ours == [row[:4] for row in tshark_rows(path)]
    assert set(cols["linktype"].tolist()) == {101}


def test_caplen_larger_than_origlen_is_kept_with_one_warning() -> None:
    frames = [(T0, frame(1, 50), 10), (T0 + 1000, frame(2, 50), 10), (T0 + 2000, frame(3), 18)]
    cap, batches = read_all(io.BytesIO(pcap_file(frames)))
    cols = columns(batches)
    assert cols["caplen"].tolist() == [68, 68, 18]
    assert cols["origlen"].tolist() == [10, 10, 18]
    assert len(cap.warnings) == 1 and "original length" in cap.warnings[0]
    assert cap.truncated is None


@pytest.mark.parametrize("lie", [capture_mod.MAX_CAPLEN + 1, 0xFFFFFFFF, 5000])
def test_lying_record_length_stops_with_warning(lie: int) -> None:
    good = pcap_file(PCAP_FRAMES[:3])
    lying = struct.pack("<IIII", 1, 2, lie, lie) + b"abc" * 10
    cap, batches = read_all(io.BytesIO(good + lying + pcap_file(PCAP_FRAMES[3:])[24:]))
    assert frames_of(batches) == [f for _, f in PCAP_FRAMES[:3]]
    assert cap.truncated == len(good)
    assert len(cap.warnings) == 1 and f"byte {len(good)}" in cap.warnings[0]
    assert "lying" in cap.warnings[0] or "cut" in cap.warnings[0]


def test_lying_length_past_end_of_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "lie.pcap"
    path.write_bytes(pcap_file(PCAP_FRAMES[:2]) + struct.pack("<IIII", 1, 2, 9000, 9000) + b"x")
    cap, batches = read_all(path)
    assert sum(len(b) for b in batches) == 2
    assert "past the end of the file" in cap.warnings[0]


def test_batches_continue_across_chunks(
    monkeypatch: pytest.MonkeyPatch, source_of: Callable[[bytes], object]
) -> None:
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 64)  # records straddle every chunk
    frames = [(T0 + i, frame(i, i * 37)) for i in range(40)]
    cap, batches = read_all(source_of(pcap_file(frames)), max_frames=3)
    assert all(len(b) <= 3 for b in batches)
    assert columns(batches)["number"].tolist() == list(range(1, 41))
    assert frames_of(batches) == [f for _, f in frames]
    assert cap.truncated is None and cap.frames == 40


def test_a_batch_buffer_is_its_chunk(
    monkeypatch: pytest.MonkeyPatch, source_of: Callable[[bytes], object]
) -> None:
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 4096)
    frames = [(T0 + i, frame(i, 150)) for i in range(500)]
    _, batches = read_all(source_of(pcap_file(frames)))
    assert len(batches) > 10
    # a mapped chunk starts at the page boundary before its first record
    page = mmap.ALLOCATIONGRANULARITY if isinstance(batches[0].buf, mmap.mmap) else 0
    assert max(len(b.buf) for b in batches) <= 4096 + 16 + 200 + page
    assert frames_of(batches) == [f for _, f in frames]


def test_a_file_opened_by_path_is_mapped_and_a_stream_is_read(tmp_path: Path) -> None:
    data = pcap_file(PCAP_FRAMES)
    path = tmp_path / "a.pcap"
    path.write_bytes(data)
    _, mapped = read_all(path)
    with path.open("rb") as f:
        _, read = read_all(f)
    assert all(isinstance(b.buf, mmap.mmap) for b in mapped)
    assert all(isinstance(b.buf, bytes) for b in read)
    assert frames_of(mapped) == frames_of(read) == [f for _, f in PCAP_FRAMES]
    assert isinstance(mapped[0].frame(0), bytes)  # a slice of a mapped chunk is bytes


def test_a_file_that_cannot_be_mapped_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise OSError(19, "No such device")

    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 64)
    monkeypatch.setattr(capture_mod.mmap, "mmap", refuse)
    frames = [(T0 + i, frame(i, i * 37)) for i in range(40)]
    path = tmp_path / "a.pcap"
    path.write_bytes(pcap_file(frames))
    cap, batches = read_all(path, max_frames=3)
    assert frames_of(batches) == [f for _, f in frames]
    assert cap.truncated is None and not cap.warnings


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02\x03" * 10, "unknown magic 00010203"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "header cut short"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00", "bad byte-order magic"),
        (b"GIF89a........................", "unknown magic"),
    ],
)
def test_not_a_capture_raises_one_line(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(CaptureError) as info:
        open_capture(path)
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message and "\n" not in message


def test_missing_file_and_directory_raise(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot open"):
        open_capture(tmp_path / "nope.pcap")
    with pytest.raises(CaptureError):
        open_capture(tmp_path)


@pytest.mark.parametrize("chunk", [64, 100, 4096])
def test_pcapng_blocks_straddling_chunks(
    monkeypatch: pytest.MonkeyPatch, source_of: Callable[[bytes], object], chunk: int
) -> None:
    data, expect = mixed_pcapng()
    ref_cap, ref = read_all(io.BytesIO(data))
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", chunk)
    cap, batches = read_all(source_of(data), max_frames=2)
    assert len(frames_of(batches)) == len(expect)
    assert frames_of(batches) == frames_of(ref)
    for name, col in columns(ref).items():
        assert columns(batches)[name].tolist() == col.tolist(), name
    assert cap.comments == ref_cap.comments and cap.interface_stats == ref_cap.interface_stats
    assert cap.truncated is None
    assert [w.split(": ", 1)[1] for w in cap.warnings] == [
        w.split(": ", 1)[1] for w in ref_cap.warnings
    ]


# -- gzip -----------------------------------------------------------------------------------


def test_gzip_pcap_and_pcapng_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 100)
    plain = pcap_file(PCAP_FRAMES, nano=True)
    ng, expect = mixed_pcapng()
    for name, data, count in (("a.pcap.gz", plain, 12), ("b.pcapng.gz", ng, len(expect))):
        path = tmp_path / name
        path.write_bytes(gzip.compress(data))
        cap, batches = read_all(path)
        ref, ref_batches = read_all(io.BytesIO(data))
        assert cap.compressed and not ref.compressed
        assert frames_of(batches) == frames_of(ref_batches)
        assert len(frames_of(batches)) == count
        assert columns(batches)["time_ns"].tolist() == columns(ref_batches)["time_ns"].tolist()


def test_gzip_cut_keeps_every_frame_before_the_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 1 << 20)  # the cut falls inside one read
    frames = [(T0 + i, frame(i, i)) for i in range(3000)]
    data = pcap_file(frames)
    z = gzip.compress(data)
    for cut in (len(z) // 3, len(z) // 2, len(z) - 9, len(z) - 1):
        # everything zlib can decompress from the cut file is what a reader could see
        seen = zlib.decompressobj(31).decompress(z[:cut])
        want = frames_of(read_all(io.BytesIO(seen))[1])
        cap, batches = read_all(io.BytesIO(z[:cut]))
        assert frames_of(batches) == want and len(want) > 0
        assert cap.truncated is not None and cap.truncated <= len(seen)
        assert any("broken" in w for w in cap.warnings), cap.warnings


def test_gzip_cut_and_corrupt_do_not_raise(tmp_path: Path) -> None:
    z = gzip.compress(pcap_file(PCAP_FRAMES))
    for data in (z[: len(z) // 2], z[:-12], z[:30] + bytes(len(z) - 30)):
        path = tmp_path / "x.pcap.gz"
        path.write_bytes(data)
        cap, batches = read_all(path)
        assert sum(len(b) for b in batches) <= 12
        assert cap.warnings
    path.write_bytes(z[:5])  # not even a gzip header
    with pytest.raises(CaptureError):
        open_capture(path)


# -- pcapng ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order2", ["<", ">"])
def test_pcapng_sections_interfaces_blocks(order2: str) -> None:
    data, expect = mixed_pcapng(order2)
    cap, batches = read_all(io.BytesIO(data), max_frames=2)
    cols = columns(batches)
    assert cols["number"].tolist() == list(range(1, len(expect) + 1))
    assert frames_of(batches) == [e["data"] for e in expect]
    assert cols["time_ns"].tolist() == [e["time"] for e in expect]
    assert cols["interface"].tolist() == [e["iface"] for e in expect]
    assert cols["linktype"].tolist() == [e["lt"] for e in expect]
    assert cols["origlen"].tolist() == [e.get("orig", len(e["data"])) for e in expect]  # type: ignore[arg-type]
    comments = {k: v for b in batches for k, v in b.comments.items()}
    assert comments == {i + 1: e["comment"] for i, e in enumerate(expect) if "comment" in e}
    assert cap.format == "pcapng"
    assert cap.comments == ["section one", "section two"]
    assert [s.byte_order for s in cap.sections] == ["<", order2]
    assert cap.sections[0].userappl == "handmade"
    assert [(i.index, i.section, i.linktype) for i in cap.interfaces] == [
        (0, 0, 1),
        (1, 0, 101),
        (2, 0, 113),
        (3, 1, 229),
    ]
    assert cap.interfaces[0].name == "eth0"
    assert cap.interfaces[1].comments == ["raw ip, ns"]
    assert cap.interfaces[2].tsresol == (2, 20) and cap.interfaces[2].tsoffset == 100
    stats = cap.interface_stats
    assert list(stats) == [0]
    assert stats[0]["ifrecv"] == 17 and stats[0]["ifdrop"] == 2
    assert stats[0]["time"] == (expect[3]["time"] + 1000)  # type: ignore[operator]
    assert cap.truncated is None
    assert len(cap.warnings) == 1 and "simple packet blocks" in cap.warnings[0]


@requires_tshark
@pytest.mark.tshark
@pytest.mark.parametrize("order2", ["<", ">"])
def test_pcapng_matches_tshark(tmp_path: Path, order2: str) -> None:
    data, expect = mixed_pcapng(order2)
    path = tmp_path / "f.pcapng"
    path.write_bytes(data)
    _, batches = read_all(path)
    cols = columns(batches)
    ours = list(
        zip(
            cols["number"].tolist(),
            cols["time_ns"].tolist(),
            cols["origlen"].tolist(),
            cols["caplen"].tolist(),
            [str(i) for i in cols["interface"].tolist()],
            strict=True,
        )
    )
    theirs = tshark_rows(path)
    # Known differences with tshark 4.0, asserted rather than skipped:
    # 1. tshark shows the custom block as a record (no time, no interface); we skip it, as the
    #    pcapng spec says a reader that does not know the PEN should.
    custom_rows = [r for r in theirs if r[1] is None and r[4] == ""]
    assert len(custom_rows) == 1 and custom_rows[0][2] == len(b"custom data!")
    theirs = [r for r in theirs if r not in custom_rows]
    # 2. tshark gives a simple packet block no time; we carry the previous frame's.
    spb_row = next(i for i, e in enumerate(expect) if e["data"] == frame(5, 20))
    assert theirs[spb_row][1] is None
    # 3. tshark 4.0 numbers interfaces within each section; ours are capture-wide.
    cap_ifaces = read_all(path)[0]
    assert [(i.section, i.local_index) for i in cap_ifaces.interfaces] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
    ]
    local = {i.index: str(i.local_index) for i in cap_ifaces.interfaces}
    for k, row in enumerate(theirs):
        num, t, length, caplen, iface = row
        # tshark numbers the custom block too: frames after it are one further on
        num = num - sum(1 for c in custom_rows if c[0] < num)
        theirs[k] = (num, ours[k][1] if k == spb_row else t, length, caplen, iface)
    assert [(n, t, ln, c, local[int(i)]) for n, t, ln, c, i in ours] == theirs
    assert len(ours) == len(expect)
    out = subprocess.run(
        [TSHARK or "tshark", "-r", str(path), "-T", "fields", "-e", "frame.comment"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    comments = {k: v for b in batches for k, v in b.comments.items()}
    del out[custom_rows[0][0] - 1]
    assert {i + 1: c for i, c in enumerate(out) if c} == comments


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("tsresol", [None, 9])
def test_single_interface_pcapng_matches_dpkt(order: str, tsresol: int | None) -> None:
    scale = 1 if tsresol == 9 else 1000
    ticks = [(T0 + i * 1_000_003_001) // scale for i in range(9)]
    data = shb(order) + idb(order, 1, 0, tsresol=tsresol)
    data += b"".join(epb(order, 0, t, frame(i, i * 5)) for i, t in enumerate(ticks))
    _, batches = read_all(io.BytesIO(data), max_frames=4)
    theirs = list(dpkt.pcapng.Reader(io.BytesIO(data)))
    assert frames_of(batches) == [bytes(b) for _, b in theirs]
    assert columns(batches)["time_ns"].tolist() == [t * scale for t in ticks]
    assert all(
        abs(int(ts * NS) - t * scale) < 1000 for (ts, _), t in zip(theirs, ticks, strict=True)
    )


@pytest.mark.parametrize(
    ("tsresol", "ticks", "ns"),
    [
        (6, 1_700_000_000_123_456, 1_700_000_000_123_456_000),
        (9, 1_700_000_000_123_456_789, 1_700_000_000_123_456_789),
        (12, 1_700_000_000_123_456_789_012 & (2**64 - 1), None),  # only wraps: computed below
        (0, 1_700_000_000, 1_700_000_000 * NS),
        (0x80 | 10, (1_700_000_000 << 10) | 512, 1_700_000_000 * NS + NS // 2),
        (0x80 | 30, (5 << 30) | 3, 5 * NS + 3 * NS // 2**30),
        (0x80 | 40, (1 << 40) | (1 << 39), NS + NS // 2),
    ],
)
def test_tsresol(tsresol: int, ticks: int, ns: int | None) -> None:
    o = "<"
    data = shb(o) + idb(o, 1, 0, tsresol=tsresol) + epb(o, 0, ticks, frame(1))
    _, batches = read_all(io.BytesIO(data))
    base, exp = (2, tsresol & 0x7F) if tsresol & 0x80 else (10, tsresol)
    want = ns if ns is not None else ticks * NS // base**exp
    assert columns(batches)["time_ns"].tolist() == [want]


def test_spb_first_frame_and_snaplen() -> None:
    o = "<"
    data = shb(o) + idb(o, 1, 32) + spb(o, frame(1, 100)[:32], orig=118) + spb(o, frame(2))
    cap, batches = read_all(io.BytesIO(data))
    cols = columns(batches)
    assert cols["caplen"].tolist() == [32, 18] and cols["origlen"].tolist() == [118, 18]
    assert cols["time_ns"].tolist() == [0, 0]
    assert any("simple packet" in w for w in cap.warnings)


@pytest.mark.parametrize(
    ("corrupt", "why"),
    [
        (lambda b: b[:4] + struct.pack("<I", 13) + b[8:], "bad block length"),
        (lambda b: b[:-4] + struct.pack("<I", len(b) + 4), "trailing length"),
        (lambda b: b[:8] + struct.pack("<I", 7) + b[12:], "undeclared interface"),
        (lambda b: b[:20] + struct.pack("<I", 4000) + b[24:], "larger than its block"),
        (lambda b: b[:20] + struct.pack("<I", 10**7) + b[24:], "lying captured length"),
        (lambda b: b[:4] + struct.pack("<I", 1 << 30) + b[8:], "lying block length"),
    ],
)
def test_pcapng_corrupt_block_ends_the_stream(corrupt: object, why: str) -> None:
    o = "<"
    head = shb(o) + idb(o, 1)
    good = [epb(o, 0, i, frame(i)) for i in range(3)]
    bad = corrupt(epb(o, 0, 9, frame(9, 30)))  # type: ignore[operator]
    data = head + b"".join(good) + bad + epb(o, 0, 10, frame(10))
    cap, batches = read_all(io.BytesIO(data))
    assert frames_of(batches) == [frame(i) for i in range(3)]
    assert cap.truncated == len(head) + sum(map(len, good))
    assert any(why in w for w in cap.warnings), cap.warnings


# -- truncation at every byte ---------------------------------------------------------------


def _cut_everywhere(
    data: bytes,
    ends: list[int],
    first_data: int,
    source_of: Callable[[bytes], object],
    clean: set[int] | None = None,
) -> None:
    """Cut ``data`` at every offset; ``ends[i]`` is where frame i's record/block ends,
    ``clean`` every offset where a cut falls between records/blocks (default: ``ends``)."""
    clean = set(ends) | {first_data} if clean is None else clean
    full = read_all(io.BytesIO(data))[1]
    want = frames_of(full)
    times = columns(full)["time_ns"].tolist()
    for cut in range(first_data, len(data) + 1):
        cap, batches = read_all(source_of(data[:cut]), max_frames=2)
        n = sum(1 for e in ends if e <= cut)
        assert frames_of(batches) == want[:n], cut
        assert columns(batches)["time_ns"].tolist() == times[:n]
        if cut in clean:
            assert cap.truncated is None, (cut, cap.warnings)
        else:
            assert cap.truncated is not None and cap.truncated <= cut, cut
            assert any("cut" in w for w in cap.warnings)


def test_pcap_cut_at_every_byte(source_of: Callable[[bytes], object]) -> None:
    frames = PCAP_FRAMES[:6]
    data = pcap_file(frames)
    ends = list(np.cumsum([16 + len(f) for _, f in frames]) + 24)
    _cut_everywhere(data, ends, 24, source_of)


def test_pcapng_cut_at_every_byte(source_of: Callable[[bytes], object]) -> None:
    data, expect = mixed_pcapng()
    # block ends of packet blocks: walk the file's blocks (both sections)
    ends, off, order = [], 0, "<"
    first = 0
    clean = set()
    while off < len(data):
        if data[off : off + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[off + 8 : off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(order + "II", data, off)
        off += blen
        clean.add(off)
        if btype in (2, 3, 6):
            ends.append(off)
        if not first:
            first = off
    assert len(ends) == len(expect)
    _cut_everywhere(data, ends, first, source_of, clean)
    for cut in range(first):  # inside the first section header: not a capture yet
        with pytest.raises(CaptureError):
            open_capture(io.BytesIO(data[:cut]))


# -- merging --------------------------------------------------------------------------------


def greedy_merge(inputs: list[list[int]]) -> list[tuple[int, int]]:
    """mergecap's rule, written plainly: take the earliest head (ties: lower input)."""
    out = []
    heads = [0] * len(inputs)
    while True:
        live = [(inputs[i][heads[i]], i) for i in range(len(inputs)) if heads[i] < len(inputs[i])]
        if not live:
            return out
        _, i = min(live)
        out.append((i, heads[i]))
        heads[i] += 1


def test_merge_by_time_stable_and_renumbered(tmp_path: Path) -> None:
    times = [
        [10, 20, 20, 30, 5, 40, 50, 50, 60],  # goes backwards once
        [20, 20, 25, 50, 70],
        [1, 2, 3, 100],
        [],
    ]
    paths = []
    for k, ts in enumerate(times):
        p = tmp_path / f"in{k}.pcap"
        p.write_bytes(pcap_file([(t * 1000, frame(k * 100 + j)) for j, t in enumerate(ts)]))
        paths.append(p)
    for max_frames in (1, 2, 3, 100):
        merged = merge_captures(paths, max_frames=max_frames)
        batches = list(merged)
        assert all(len(b) <= max_frames for b in batches)
        cols = columns(batches)
        want = greedy_merge(times)
        assert cols["number"].tolist() == list(range(1, len(want) + 1))
        assert cols["source"].tolist() == [i for i, _ in want]
        assert frames_of(batches) == [frame(i * 100 + j) for i, j in want]
        assert cols["time_ns"].tolist() == [times[i][j] * 1000 for i, j in want]
        assert len(merged.captures) == 4 and merged.warnings == []


def test_merge_random_inputs_keep_greedy_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_mod, "CHUNK_SIZE", 200)
    rng = np.random.default_rng(7)
    for trial in range(30):
        k = int(rng.integers(1, 5))
        times = [sorted(rng.integers(0, 50, int(rng.integers(0, 40))).tolist()) for _ in range(k)]
        if trial % 3 == 0:  # unsorted inputs too
            times = [rng.integers(0, 50, len(t)).tolist() for t in times]
        files = [
            io.BytesIO(
                pcap_file([(t, frame(i * 1000 + j, j)) for j, t in enumerate(ts)], nano=True)
            )
            for i, ts in enumerate(times)
        ]
        batches = list(merge_captures(files, max_frames=int(rng.integers(1, 9))))
        want = greedy_merge(times)
        assert frames_of(batches) == [frame(i * 1000 + j, j) for i, j in want]
        assert columns(batches)["source"].tolist() == [i for i, _ in want]
        assert columns(batches)["number"].tolist() == list(range(1, len(want) + 1))
        # the same as heapq.merge over sorted inputs
        if trial % 3:
            keyed = heapq.merge(*[[(t, i) for t in ts] for i, ts in enumerate(times)])
            assert [i for _, i in keyed] == [i for i, _ in want]


def test_merge_pcapng_keeps_comments_interfaces_and_warnings() -> None:
    ng, expect = mixed_pcapng()
    cut = pcap_file([(0, frame(99)), (T0 * 2, frame(98))])[:-3]
    merged = merge_captures([io.BytesIO(ng), io.BytesIO(cut)])
    batches = list(merged)
    cols = columns(batches)
    assert cols["source"].tolist()[0] == 1 and len(cols["number"]) == len(expect) + 1
    comments = {k: v for b in batches for k, v in b.comments.items()}
    assert sorted(comments.values()) == ["first comment", "two\u00e9"]
    for num, text in comments.items():
        b = next(b for b in batches if num in b.number)
        i = int(np.flatnonzero(b.number == num)[0])
        want = next(e for e in expect if e.get("comment") == text)
        assert bytes(b.frame(i)) == want["data"]
    assert any("cut" in w for w in merged.warnings)


def test_merge_bad_input_raises_and_closes(tmp_path: Path) -> None:
    good = tmp_path / "a.pcap"
    good.write_bytes(pcap_file(PCAP_FRAMES))
    bad = tmp_path / "b.pcap"
    bad.write_bytes(b"nope")
    with pytest.raises(CaptureError, match=r"b\.pcap"):
        merge_captures([good, bad])


# -- public captures ------------------------------------------------------------------------

PUBLIC = sorted(SHARED.glob("*/*.pcap*"))


@requires_tshark
@pytest.mark.tshark
@pytest.mark.skipif(not PUBLIC, reason="no public captures in ../shared/captures")
def test_public_captures_match_tshark() -> None:
    for path in PUBLIC:
        _, batches = read_all(path)
        cols = columns(batches)
        ours = list(
            zip(
                cols["number"].tolist(),
                cols["time_ns"].tolist(),
                cols["origlen"].tolist(),
                cols["caplen"].tolist(),
                strict=True,
            )
        )
        theirs = [row[:4] for row in tshark_rows(path)]
        assert ours == theirs, path
        with path.open("rb") as f:
            assert len(list(dpkt.pcap.Reader(f))) == len(ours), path
