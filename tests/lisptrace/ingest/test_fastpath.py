"""The C kernel of the vectorised paths (``lisptrace/ingest/_fastpath.c``) against its numpy
twins, which stay the fallback: ``layers._fast`` (via ``decode_layers`` too),
``decode._fast_data`` and the control cache keys (``BatchDecoder._control_keys``), row for
row and column for column, on every capture, on a generated capture, on ~60k fuzzed frames,
and a whole decode with and without the kernel."""

from __future__ import annotations

import dataclasses
import random
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.generate import control_templates, data_templates, generate, ipv4, ipv6, tcp, udp
from dissectors.inet import internet_checksum
from lisptrace.ingest import decode as decode_mod
from lisptrace.ingest import layers
from lisptrace.ingest.capture import open_capture
from lisptrace.ingest.decode import decode
from lisptrace.ingest.frames import FrameBatch
from lisptrace.ingest.layers import Layers, Ports, _empty, _fast, decode_layers
from lisptrace.ingest.reassembly import Reassembler
from lisptrace.tables.schema import TABLES
from tests.support.mutate import mutate

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "captures"
CAPTURES = sorted((ROOT / "captures").glob("*.pcapng"))
if SHARED.exists():
    CAPTURES += sorted(p for p in SHARED.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))

LINKTYPES = (0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147)  # 147: a user DLT, unknown here
PORTS = (
    Ports(),
    Ports(4341, 4342, 4790),
    Ports(4341, 4341, 4341),
    Ports(4342, 4790, 4790),
    Ports(53, 443, 4342),
)
ARRAYS = [f.name for f in dataclasses.fields(Layers) if f.default_factory is dataclasses.MISSING]


@pytest.fixture
def kernel() -> Any:
    mod = pytest.importorskip("lisptrace.ingest._fastpath")
    if layers._fastpath is None or decode_mod._fastpath is None:
        pytest.skip("the decode does not use the kernel (LISPTRACE_PURE)")
    return mod


@contextmanager
def numpy_only() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(layers, "_fastpath", None)
        mp.setattr(decode_mod, "_fastpath", None)
        yield


# -- comparisons -------------------------------------------------------------------------------


def _copy(lay: Layers) -> Layers:
    return Layers(**{name: getattr(lay, name).copy() for name in ARRAYS})


def _garbage(n: int, rng: np.random.Generator) -> Layers:
    """Layers filled with noise: the rows (and address bytes) _fast does not write keep it."""
    lay = _empty(n)
    for name in ARRAYS:
        a = getattr(lay, name)
        if a.dtype == np.bool_:
            a[...] = rng.random(a.shape) < 0.5
        else:
            info = np.iinfo(a.dtype)
            a[...] = rng.integers(info.min, info.max, a.shape, dtype=a.dtype, endpoint=True)
    return lay


def assert_layers_equal(k: Layers, p: Layers) -> None:
    for f in dataclasses.fields(Layers):
        a, b = getattr(k, f.name), getattr(p, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape, f.name
            diff = a != b
            bad = np.flatnonzero(diff.any(axis=1) if diff.ndim > 1 else diff)
            assert not len(bad), f"{f.name}: rows {bad[:10].tolist()}: {a[bad[:3]]} != {b[bad[:3]]}"
        else:
            assert a == b, f.name


def compare_fast(batch: FrameBatch, ports: Ports, rng: np.random.Generator) -> Layers:
    """_fast by the kernel and by numpy into the same noisy arrays; the kernel's result."""
    noise = _garbage(len(batch), rng)
    k = _copy(noise)
    _fast(batch, k, ports)
    p = _copy(noise)
    with numpy_only():
        _fast(batch, p, ports)
    assert_layers_equal(k, p)
    return k


def compare_decode_layers(batch: FrameBatch, ports: Ports = Ports()) -> Layers:  # noqa: B008
    k = decode_layers(batch, ports)
    with numpy_only():
        p = decode_layers(batch, ports)
    assert_layers_equal(k, p)
    return k


def _arrow(x: Any) -> Any:
    return pa.array(x) if isinstance(x, np.ndarray) else x  # the dtype decides the type


def compare_data(batch: FrameBatch, lay: Layers, rows: np.ndarray, ports: Ports) -> int:
    """_fast_data by the kernel and by numpy: the same mask and columns; the plain rows."""
    cols, m = decode_mod._fast_data(batch, lay, rows, ports)
    with numpy_only():
        cols_p, m_p = decode_mod._fast_data(batch, lay, rows, ports)
    assert m.dtype == m_p.dtype and np.array_equal(m, m_p), np.flatnonzero(m != m_p)[:10]
    assert list(cols) == list(cols_p)
    for name, col in cols.items():
        a, b = _arrow(col), _arrow(cols_p[name])
        assert type(a) is type(b) and a.type == b.type, name
        assert a.equals(b), (name, a.diff(b) if hasattr(a, "diff") else None)
    return int(m.sum())


def compare_control_keys(batch: FrameBatch, lay: Layers) -> int:
    """``_control_keys`` of the LISP control rows, with and without a key ring (which keeps
    the Authentication Data in the key): the kernel's against the Python twin's."""
    for keys in (None, object()):
        dec = decode_mod.BatchDecoder(keys=keys)  # type: ignore[arg-type]
        got = dec._control_keys(batch, lay)
        with numpy_only():
            assert got == dec._control_keys(batch, lay)
    rows, keys, blanked = got
    assert len(rows) == len(keys) == len(blanked)
    return len(rows)


def compare_batch(batch: FrameBatch, ports: Ports, rng: np.random.Generator) -> tuple[int, int]:
    """Every comparison on one batch: (fast rows, plain data rows)."""
    compare_fast(batch, ports, rng)
    lay = _empty(len(batch))
    _fast(batch, lay, ports)
    fast_rows = np.flatnonzero(lay.fast)
    plain = compare_data(batch, lay, fast_rows, ports) if len(fast_rows) else 0
    # any payload offset and length, also past the frame, the buffer and before its start
    odd = _empty(len(batch))
    odd.payload_offset[:] = rng.integers(-70, 200, len(batch))
    odd.payload_length[:] = rng.integers(-1, 140, len(batch))
    compare_data(batch, odd, np.arange(len(batch)), ports)
    odd.kind[:] = layers.Kind.LISP_CONTROL
    compare_control_keys(batch, odd)
    return len(fast_rows), plain


# -- captures ----------------------------------------------------------------------------------


def _capture_batches(path: Path, max_frames: int = 65_536) -> list[FrameBatch]:
    return list(open_capture(path).batches(max_frames))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_captures_kernel_equals_numpy(kernel: Any, path: Path) -> None:
    rng = np.random.default_rng(1)
    for batch in _capture_batches(path):
        lay = compare_decode_layers(batch)
        data_rows = np.flatnonzero((lay.kind == layers.Kind.LISP_DATA) & lay.fast)
        if len(data_rows):
            compare_data(batch, lay, data_rows, Ports())
        compare_control_keys(batch, lay)
        for ports in PORTS:
            compare_batch(batch, ports, rng)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fastpath") / "g.pcap"
    generate(path, 20_000, seed=7)
    return path


def test_generated_capture_kernel_equals_numpy(kernel: Any, generated: Path) -> None:
    rng = np.random.default_rng(2)
    plain = control = 0
    for batch in _capture_batches(generated, 8192):
        lay = compare_decode_layers(batch)
        data_rows = np.flatnonzero((lay.kind == layers.Kind.LISP_DATA) & lay.fast)
        plain += compare_data(batch, lay, data_rows, Ports())
        control += compare_control_keys(batch, lay)
        compare_batch(batch, Ports(4341, 4342, 4790), rng)
    assert plain > 15_000  # the data plane is plain in the generated capture
    assert control > 500


def test_mutated_control_payloads_same_keys(kernel: Any) -> None:
    """Map-Request/Reply/Register/Notify and ECM payloads, mutated (types, auth lengths,
    inner headers), as the UDP payloads of control frames."""
    rng = random.Random(4342)
    seeds = [f[14 + 20 + 8 :] for f in control_templates(rng, 40) if f[12:14] == b"\x08\x00"]
    frames = []
    for _ in range(20_000):
        payload = mutate(rng.choice(seeds), rng)
        if payload and rng.random() < 0.3:  # another message type on the same bytes
            payload = bytes([rng.choice((0x10, 0x30, 0x40, 0x50, 0x80)) | payload[0] & 15])
            payload += payload[1:]
        udp4342 = udp(4342, rng.choice((4342, 61000)), payload)
        frames.append((ipv4("203.0.113.1", "198.51.100.1", 17, udp4342), 101))
    batch = _batch(frames, rng)
    lay = decode_layers(batch, Ports(), Reassembler())
    assert compare_control_keys(batch, lay) > 15_000


# -- fuzzing -----------------------------------------------------------------------------------

ETHERTYPES = (0x0800, 0x86DD, 0x8100, 0x0806, 0x88A8)
FRAG = (0x2000, 0x4000, 0x8000, 0x0001, 0x0100, 0x1000, 0x6000)  # MF, DF, reserved, offsets


def _v4(
    proto: int, payload: bytes, frag: int = 0, options: bytes = b"", tlen: int | None = None
) -> bytes:
    """An IPv4 packet with any flags/fragment offset, options and total length, its header
    checksum right."""
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45 + len(options) // 4,
        0,
        20 + len(options) + len(payload) if tlen is None else tlen,
        1,
        frag,
        64,
        proto,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    head += options
    return head[:10] + struct.pack("!H", internet_checksum(head)) + head[12:] + payload


def _tcp(doff: int, length: int, sport: int = 1, dport: int = 4342) -> bytes:
    """A TCP segment of ``length`` bytes whose data offset says ``doff`` 32-bit words."""
    head = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, doff << 4, 0x18, 65535, 0, 0)
    return (head + bytes(max(0, length - 20)))[:length]


def _ip_seeds() -> list[bytes]:
    """IP packets: the captures' (behind their link layers), the benchmark's, and the shapes
    the vectorised paths must refuse (options, fragments, extension headers, ...)."""
    seeds: list[bytes] = []
    for path in CAPTURES:
        for batch in _capture_batches(path):
            lay = decode_layers(batch)
            for i in np.flatnonzero(lay.l3_offset >= 0).tolist():
                seeds.append(batch.frame(i)[int(lay.l3_offset[i]) :])
    rng = random.Random(5)
    frames = [f for f, _ in data_templates(rng, 64)] + control_templates(rng, 20)
    seeds += [f[14:] for f in frames]  # Ethernet
    body = bytes(range(40))
    v4 = ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 4341, body))
    seeds += [
        v4[:6] + b"\x20\x00" + v4[8:],  # a first fragment (checksum now wrong too)
        b"\x46" + v4[1:20] + b"\x01\x01\x01\x00" + v4[20:],  # options
        ipv4("10.0.0.1", "10.0.0.2", 6, tcp(4342, 999, body)),
        ipv4("10.0.0.1", "10.0.0.2", 1, body),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(4342, 4342, body)),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(9, 4790, body)),
        ipv6("2001:db8::1", "2001:db8::2", 17, udp(9, 4341, body)),
        ipv6("2001:db8::1", "2001:db8::2", 6, tcp(9, 4342, body)),
        ipv6("2001:db8::1", "2001:db8::2", 58, bytes([134, 0]) + body),
        ipv6("2001:db8::1", "2001:db8::2", 135, bytes([59, 1, 5, 0]) + body[:4]),
        ipv6("2001:db8::1", "2001:db8::2", 62, bytes([59, 1, 5, 0]) + body[:4]),
        ipv6("2001:db8::1", "2001:db8::2", 0, bytes([17, 0]) + bytes(6) + udp(1, 2, body)),
        ipv6("2001:db8::1", "2001:db8::2", 44, bytes([17, 0, 0, 1]) + bytes(4) + body),
        ipv6("2001:db8::1", "2001:db8::2", 50, body),
        ipv6("2001:db8::1", "2001:db8::2", 58, b"") + bytes([134, 0]),  # RA byte past the end
        _v4(17, udp(9, 4341, body), options=b"\x01\x01\x01\x00"),
    ]
    seeds += [_v4(17, udp(9, 4341, body), frag) for frag in FRAG]
    seeds += [_v4(proto, body[:8], tlen=t) for proto in (1, 6, 17) for t in (0, 19, 20, 27, 29)]
    for doff in (0, 4, 5, 6, 7, 15):
        for length in (16, 19, 20, 24, 28, 60):
            seeds += [_v4(6, _tcp(doff, length)), ipv6("::1", "::2", 6, _tcp(doff, length))]
    return seeds


def _lisp_seeds(rng: random.Random) -> list[bytes]:
    """LISP data payloads (8-byte header + inner packet): every flag combination, IID
    0xFFFFFF, inner IPv4/IPv6 with UDP (checksum 0 or not, LISP ports), TCP, SCTP, IGMP, ICMP
    and truncated upper layers."""
    inner = [
        ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, b"x")),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(5, 53, b"abc")),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(5, 4341, b"abc")),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(4342, 5, b"abc")),
        ipv4("10.0.0.1", "10.0.0.2", 17, udp(5, 6, b"")[:6] + b"\x12\x34"),  # a UDP checksum
        ipv4("10.0.0.1", "10.0.0.2", 132, bytes(12)),
        ipv4("10.0.0.1", "10.0.0.2", 2, bytes(8)),
        ipv4("10.0.0.1", "10.0.0.2", 1, bytes(2)),
        ipv4("10.0.0.1", "10.0.0.2", 6, b"\x00\x01\x00"),
        ipv4("10.0.0.1", "10.0.0.2", 47, b""),
        ipv6("2001:db8::1", "2001:db8::2", 6, tcp(1, 2, b"y")),
        ipv6("2001:db8::1", "2001:db8::2", 17, udp(1, 2, b"y")),
        ipv6("2001:db8::1", "2001:db8::2", 58, bytes(8)),
        ipv6("2001:db8::1", "2001:db8::2", 60, bytes(8)),
        ipv6("2001:db8::1", "2001:db8::2", 132, bytes(3)),
        ipv6("::", "::", 59, b""),
        *(_v4(6, _tcp(5, 20), frag) for frag in FRAG),
        _v4(6, _tcp(5, 20), options=b"\x01\x01\x01\x00"),
        _v4(6, b"\x00\x01\x00\x02"),
        _v4(17, udp(9, 9, b"")[:4]),
        ipv6("2001:db8::1", "2001:db8::2", 6, _tcp(5, 4)),
        *(ipv6("::1", "::2", nh, bytes(8)) for nh in (0, 43, 44, 50, 51, 60, 135, 139, 140, 253)),
        *(ipv6("::1", "::2", nh, bytes(8)) for nh in (254, 255, 59, 2)),
    ]
    out = []
    for _ in range(400):
        flags = rng.choice((0x80, 0xC0, 0x88, 0xC8, 0x48, 0x90, 0x20, 0xA0, 0x04, 0x01, 0x00))
        if rng.random() < 0.2:
            flags = rng.randrange(256)
        word = rng.choice((0, 3, 0xFFFFFF00, 0xFFFFFF05, rng.getrandbits(32)))
        out.append(struct.pack("!II", flags << 24 | rng.getrandbits(24), word) + rng.choice(inner))
    return out


def _outer(payload: bytes, rng: random.Random) -> bytes:
    sport, dport = rng.choice(((9, 4341), (4342, 4341), (9, 4342), (9, 4790), (9, 9)))
    if rng.random() < 0.7:
        return ipv4("203.0.113.1", "198.51.100.1", 17, udp(sport, dport, payload))
    return ipv6("2001:db8:ff::1", "2001:db8:fe::1", 17, udp(sport, dport, payload))


def _link(ip: bytes, lt: int, rng: random.Random) -> bytes:
    """A link-layer header of type ``lt`` in front of ``ip`` (now and then a lying one)."""
    v = ip[0] >> 4 if ip else 0
    et = 0x86DD if v == 6 else 0x0800
    if rng.random() < 0.1:
        et = rng.choice(ETHERTYPES)
    if lt == 1:
        tag = struct.pack("!HH", 0x8100, 7) if rng.random() < 0.25 else b""
        return b"\x02" * 12 + tag + struct.pack("!H", et) + ip
    if lt == 113:
        return bytes(14) + struct.pack("!H", et) + ip
    if lt == 276:
        return struct.pack("!H", et) + bytes(18) + ip
    if lt in (0, 108):
        af = (24 if v == 6 else 2) if rng.random() < 0.8 else rng.choice((2, 10, 24, 28, 30, 7))
        order = ">" if lt == 108 or rng.random() < 0.3 else "<"
        return struct.pack(order + "I", af) + ip
    return ip


def _batch(frames: list[tuple[bytes, int]], rng: random.Random) -> FrameBatch:
    """A FrameBatch over ``frames`` (bytes, link type): captured lengths now and then shorter
    than the frame, junk between frames now and then, the last frame at the buffer's end."""
    parts, offsets, caplens = [], [], []
    at = 0
    for data, _ in frames:
        if rng.random() < 0.1:
            junk = rng.randbytes(rng.randrange(1, 9))
            parts.append(junk)
            at += len(junk)
        parts.append(data)
        offsets.append(at)
        caplens.append(len(data) if rng.random() < 0.85 else rng.randrange(len(data) + 1))
        at += len(data)
    n = len(frames)
    return FrameBatch(
        buf=b"".join(parts),
        number=np.arange(1, n + 1, dtype=np.int64),
        time_ns=np.arange(n, dtype=np.int64) * 1000,
        offset=np.array(offsets, np.int64),
        caplen=np.array(caplens, np.int32),
        origlen=np.array(caplens, np.int32),
        linktype=np.array([lt for _, lt in frames], np.int32),
        interface=np.zeros(n, np.int32),
        source=np.zeros(n, np.int32),
    )


def _fuzz_frame(ip_seeds: list[bytes], lisp: list[bytes], rng: random.Random) -> tuple[bytes, int]:
    lt = rng.choice(LINKTYPES) if rng.random() < 0.6 else 1
    r = rng.random()
    if r < 0.08:  # random bytes
        return rng.randbytes(rng.randrange(121)), lt
    if r < 0.5:  # a LISP data packet, its header or inner packet mutated now and then
        payload = rng.choice(lisp)
        if rng.random() < 0.3:
            payload = payload[:8] + mutate(payload[8:], rng)
        ip = _outer(payload, rng)
    else:
        ip = rng.choice(ip_seeds)
    if rng.random() < 0.35:
        ip = mutate(ip, rng)
    frame = _link(ip, lt, rng)
    if rng.random() < 0.1:
        frame = mutate(frame, rng)
    return frame, lt


def test_fuzzed_frames_kernel_equals_numpy(kernel: Any) -> None:
    """~60k fuzzed frames in batches of 1..2000 (many buffer ends; tiny buffers too)."""
    rng = random.Random(2024)
    nrng = np.random.default_rng(2024)
    ip_seeds, lisp = _ip_seeds(), _lisp_seeds(rng)
    frames = fast = plain = 0
    while frames < 60_000:
        size = rng.choice((1, 2, rng.randrange(1, 50), rng.randrange(1, 2001)))
        batch = _batch([_fuzz_frame(ip_seeds, lisp, rng) for _ in range(size)], rng)
        f, p = compare_batch(batch, rng.choice(PORTS), nrng)
        frames, fast, plain = frames + size, fast + f, plain + p
    # the fuzz reaches both sides of the checks
    assert 0.2 * frames < fast < 0.9 * frames, (fast, frames)
    assert plain > 0.05 * frames, (plain, frames)


def test_random_bytes_every_link_type(kernel: Any) -> None:
    """Short random frames (0..120 bytes) of every link type, buffers of a few bytes."""
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    for _ in range(300):
        frames = [
            (rng.randbytes(rng.randrange(121)), rng.choice(LINKTYPES))
            for _ in range(rng.randrange(1, 40))
        ]
        compare_batch(_batch(frames, rng), rng.choice(PORTS), nrng)


def test_empty_batch(kernel: Any) -> None:
    batch = _batch([], random.Random(0))
    compare_fast(batch, Ports(), np.random.default_rng(0))
    assert compare_data(batch, _empty(0), np.arange(0), Ports()) == 0


def test_buffer_length_mismatch_raises(kernel: Any) -> None:
    batch = _batch([(bytes(60), 1)] * 4, random.Random(0))
    lay = _empty(4)
    args = [batch.buf, batch.offset, batch.caplen, batch.linktype.astype(np.int64), 1, 2, 3]
    outs = [lay.fast, lay.l3_offset, lay.ip_version, lay.ip_proto, lay.l4_offset, lay.l4_length]
    outs += [lay.payload_offset, lay.payload_length, lay.sport, lay.dport, lay.kind]
    kernel.layers(*args, *outs, lay.src, lay.dst)  # the right sizes
    with pytest.raises(ValueError, match="dst"):
        kernel.layers(*args, *outs, lay.src, np.zeros((3, 16), np.uint8))
    with pytest.raises(ValueError, match="caplen"):
        kernel.layers(*args[:2], batch.offset, *args[3:], *outs, lay.src, lay.dst)
    with pytest.raises(ValueError, match="l3_offset"):
        kernel.layers(*args, outs[0], lay.kind, *outs[2:], lay.src, lay.dst)
    n = 4
    start, plen = np.zeros(n, np.int64), np.full(n, 100, np.int64)
    data_out = [np.zeros(n, t) for t in (np.uint8, np.int64, np.int64, np.uint8, np.int64)]
    data_out += [np.zeros(n, t) for t in (np.int64, np.bool_, np.int64, np.bool_)]
    m, src, dst = np.zeros(n, np.bool_), np.zeros((n, 16), np.uint8), np.zeros((n, 16), np.uint8)
    assert kernel.data(batch.buf, start, plen, 1, 2, m, *data_out, src, dst) == 0
    with pytest.raises(ValueError, match="dst"):
        kernel.data(batch.buf, start, plen, 1, 2, m, *data_out, src, dst[:3])
    with pytest.raises(ValueError, match="plen"):
        kernel.data(batch.buf, start, plen[:2], 1, 2, m, *data_out, src, dst)


# -- a whole decode ----------------------------------------------------------------------------


def _tables(out: Path) -> dict[str, pa.Table]:
    return {t: pq.read_table(out / f"{t}.parquet") for t in TABLES}


@pytest.mark.parametrize("which", ["generated", "captures"])
def test_decode_with_and_without_kernel(
    kernel: Any, which: str, generated: Path, tmp_path: Path
) -> None:
    paths = [generated] if which == "generated" else CAPTURES[:15]
    decode(paths, tmp_path / "k", batch_frames=4096)
    with numpy_only():
        decode(paths, tmp_path / "n", batch_frames=4096)
    k, n = _tables(tmp_path / "k"), _tables(tmp_path / "n")
    for name in TABLES:
        assert k[name].equals(n[name]), name
    assert k["data"].num_rows > 0
