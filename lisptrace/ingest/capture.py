"""Capture files to :class:`FrameBatch` columns: our own streaming pcap/pcapng reader.

This is the floor of the whole decode, so it never builds a Python object per frame:

* the file (plain or gzip-compressed, detected by its magic) is read in chunks of
  :data:`CHUNK_SIZE` bytes; a record or block cut by a chunk boundary is carried into the next
  chunk, so memory is bounded by the chunk size plus the largest block we accept. A plain
  regular file opened by path is *mapped* a chunk at a time (``mmap``) instead of read: the
  frames are the page cache's own pages, with no copy and no fresh buffer to fault in; a chunk
  is unmapped when the last batch using it is gone. (As with any mapped reader, a file cut
  short by another process *while* it is being decoded ends the process with SIGBUS: decode
  a rotated capture, not one being truncated in place.) Streams, pipes and gzip are read;
* a tight loop walks only the record/block *lengths* (the one sequential dependency) and keeps
  the offsets of packet records; every other header field is then gathered for the whole batch
  at once with numpy (one fancy-indexed read of the headers, viewed as u32 words);
* a batch's ``buf`` is the chunk its frames sit in (several batches may share one chunk).

Formats: pcap in both byte orders with microsecond (``a1b2c3d4``) or nanosecond
(``a1b23c4d``) timestamps, plus Kuznetzov's modified pcap (``a1b2cd34``, 24-byte record
headers); pcapng in both byte orders with several sections and interfaces, EPB, SPB, the
obsolete Packet Block, ISB (statistics), and NRB/DSB/custom/unknown blocks skipped.

Nothing is lost and nothing but :class:`CaptureError` escapes: a file that is not a capture
raises ``CaptureError`` (one line: path and reason) when it is opened; a cut, lying or corrupt
record later in the file ends the stream after every complete frame before it, with
``Capture.truncated`` (the byte offset, in the uncompressed stream) and a line in
``Capture.warnings``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import mmap
import os
import stat
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import repeat
from types import TracebackType
from typing import BinaryIO, Final

import numpy as np
import numpy.typing as npt

from lisptrace.ingest.frames import Buffer, FrameBatch
from lisptrace.kernels import load

_hop = load("lisptrace.ingest._hop")  # C twins of the two hop loops below (None: not built)

__all__ = [
    "CHUNK_SIZE",
    "MAX_BLOCK",
    "MAX_CAPLEN",
    "Capture",
    "CaptureError",
    "Interface",
    "MergedCaptures",
    "Section",
    "merge_captures",
    "open_capture",
]

CHUNK_SIZE: Final = 32 << 20  # bytes read or mapped at a time (the unit of memory and of batches)
MAX_CAPLEN: Final = 262_144  # larger captured lengths are lying lengths (tcpdump's snaplen max)
MAX_BLOCK: Final = 16 << 20  # larger pcapng blocks are lying lengths (Wireshark's limit)
MAX_OPTION_BYTES: Final = 1 << 20  # options parsed per block at most (comments, IDB fields)

_PCAPNG_SHB: Final = 0x0A0D0D0A
_PCAPNG_BOM: Final = 0x1A2B3C4D
_IDB, _OPB, _SPB, _ISB, _EPB = 1, 2, 3, 5, 6
_NS: Final = 1_000_000_000

_PCAP_MAGICS: Final[dict[bytes, tuple[str, bool, int]]] = {
    # magic as it appears in the file -> (byte order, nanosecond, record header length)
    b"\xd4\xc3\xb2\xa1": ("<", False, 16),
    b"\xa1\xb2\xc3\xd4": (">", False, 16),
    b"\x4d\x3c\xb2\xa1": ("<", True, 16),
    b"\xa1\xb2\x3c\x4d": (">", True, 16),
    b"\x34\xcd\xb2\xa1": ("<", False, 24),
    b"\xa1\xb2\xcd\x34": (">", False, 24),
}

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


class CaptureError(Exception):
    """The file is not a capture this reader understands (one line, for the CLI)."""


@dataclass(slots=True)
class Interface:
    """A pcapng interface (an IDB), or the single implicit interface of a pcap file.

    ``index`` is the capture-wide index (``FrameBatch.interface``): interfaces of every section
    are numbered one after the other (``local_index`` is the id within the section).
    ``tsresol`` is ``(base, exponent)``: timestamps count units of ``base ** -exponent``
    seconds. ``stats`` holds the latest Interface Statistics Block counters by option name
    (``ifrecv``, ``ifdrop``, ``filteraccept``, ``osdrop``, ``usrdeliv``; ``time``,
    ``starttime`` and ``endtime`` in ns since the epoch).
    """

    index: int
    section: int
    linktype: int
    snaplen: int
    local_index: int = 0  # the interface id within its section (what EPBs and tshark 4.0 use)
    name: str = ""
    description: str = ""
    tsresol: tuple[int, int] = (10, 6)
    tsoffset: int = 0  # seconds added to every timestamp (if_tsoffset)
    comments: list[str] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Section:
    """A pcapng Section Header Block (a pcap file is one section)."""

    byte_order: str  # "<" or ">"
    version: tuple[int, int]
    offset: int  # byte offset of the SHB (or 0)
    hardware: str = ""
    os: str = ""
    userappl: str = ""
    comments: list[str] = field(default_factory=list)


def _open_stream(
    source: str | os.PathLike[str] | BinaryIO,
) -> tuple[BinaryIO, BinaryIO, str, bool]:
    """The byte stream of ``source`` (decompressing gzip), the file under it, its display name
    and whether it is compressed."""
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        try:
            raw: BinaryIO = open(name, "rb")  # noqa: SIM115 - owned by the Capture
        except OSError as exc:
            raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})") from exc
    else:
        raw = source
        name = str(getattr(source, "name", "<stream>"))
    try:
        magic = _peek(raw, 2)
    except OSError as exc:
        if raw is not source:
            raw.close()
        raise CaptureError(f"{name}: cannot read ({exc})") from exc
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw, name, True  # type: ignore[return-value]
    return raw, raw, name, False


def _peek(f: BinaryIO, n: int) -> bytes:
    if f.seekable():
        pos = f.tell()
        data = f.read(n)
        f.seek(pos)
        return data
    peek = getattr(f, "peek", None)
    return bytes(peek(n)[:n]) if peek is not None else b""


def _read_full(f: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only at the end of the stream."""
    data = f.read(n)
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _text(value: bytes) -> str:
    return value.split(b"\0", 1)[0].decode("utf-8", "replace")


def _wrap64(value: int) -> np.int64:
    """A Python int as int64, wrapping around as C arithmetic would (never OverflowError)."""
    value &= 0xFFFFFFFFFFFFFFFF
    return np.int64(value - (1 << 64) if value >> 63 else value)


def _ticks_to_ns(ticks: U64, base: int, exp: int) -> I64:
    """Timestamps in units of ``base ** -exp`` s to ns, truncating as Wireshark does."""
    if base == 10 and exp <= 9:
        return (ticks * np.uint64(10 ** (9 - exp))).view(np.int64)
    if base == 10:
        div = 10 ** (exp - 9)
        if div >= 1 << 64:
            return np.zeros(len(ticks), dtype=np.int64)
        return (ticks // np.uint64(div)).view(np.int64)
    if base == 2 and exp <= 34:
        mask = np.uint64((1 << exp) - 1)
        sec = ticks >> np.uint64(exp)
        frac = ((ticks & mask) * np.uint64(_NS)) >> np.uint64(exp)
        return (sec * np.uint64(_NS) + frac).view(np.int64)
    units = base**exp  # exotic resolutions: exact Python arithmetic, wrapped to 64 bits
    wrapped = [(int(t) * _NS // units) & 0xFFFFFFFFFFFFFFFF for t in ticks.tolist()]
    return np.array(wrapped, dtype=np.uint64).view(np.int64)


def _pcap_hop(
    buf: Buffer, off: int, count: int, rec: int, order: str
) -> tuple[I64, npt.NDArray[np.int64] | None, int]:
    """Offsets of up to ``count`` pcap records from ``off`` (while each record's caplen field
    is inside ``buf``), their ``(n, 4)`` header words (seconds, fraction, caplen, origlen) when
    the compiled hop read them (else None: see :meth:`Capture._pcap_part`), and where the hop
    stopped: past ``len(buf)`` if the last is cut."""
    if _hop is not None:
        out = np.empty(count, np.int64)
        heads = np.empty((count, 4), np.int64)
        n, off = _hop.pcap_hop(buf, off, count, rec, order == ">", out, heads)
        return out[:n], heads[:n], off
    caplen_at = struct.Struct(order + "I").unpack_from
    offs: list[int] = []
    append = offs.append
    with contextlib.suppress(struct.error):
        for _ in repeat(None, count):
            cl = caplen_at(buf, off + 8)[0]
            append(off)
            off += rec + cl
    return np.array(offs, np.int64), None, off


def _pcapng_hop(buf: Buffer, off: int, count: int, order: str, offs: list[int]) -> int:
    """Append to ``offs`` the offsets of a run of at most ``count`` whole Enhanced Packet
    Blocks from ``off`` (length at least 32, inside ``buf``); where the run stopped."""
    if _hop is not None:
        out = np.empty(count, np.int64)
        n, off = _hop.pcapng_hop(buf, off, count, order == ">", _EPB, out)
        offs.extend(out[:n].tolist())
        return off
    hdr = struct.Struct(order + "II").unpack_from
    end = len(buf)
    append = offs.append
    with contextlib.suppress(struct.error):
        for _ in repeat(None, count):
            btype, blen = hdr(buf, off)
            if btype != _EPB or blen < 32:  # alignment, limits: checked vectorised later
                break
            nxt = off + blen
            if nxt > end:
                break
            append(off)
            off = nxt
    return off


def _words(buf: Buffer, offs: I64, words: int, order: str) -> U64:
    """``words`` u32 words at each of ``offs`` as a (n, words) u64 array.

    A stride-1 structured view over ``buf`` turns the gather into one fancy index of
    ``words * 4``-byte items (much faster than indexing single bytes). Every offset must leave
    ``4 * words`` bytes in ``buf``.
    """
    n = len(offs)
    if n == 0:
        return np.zeros((0, words), dtype=np.uint64)
    items = len(buf) - 4 * words + 1
    dt = np.dtype((np.dtype(order + "u4"), (words,)))
    view = np.ndarray(shape=(items,), dtype=dt, buffer=buf, strides=(1,))
    return view[offs].astype(np.uint64)


@dataclass
class _Part:
    """Frames gathered from one chunk, before numbering."""

    time_ns: I64
    offset: I64
    caplen: npt.NDArray[np.int32]
    origlen: npt.NDArray[np.int32]
    linktype: npt.NDArray[np.int32]
    interface: npt.NDArray[np.int32]
    comments: dict[int, str]  # index in the part -> comment


class Capture:
    """One open capture file; iterate :meth:`batches` once.

    Attributes filled while reading: ``interfaces`` (every interface met so far, pcap: one),
    ``sections``, ``comments`` (SHB comments), ``warnings`` (one line each), ``truncated``
    (byte offset of a cut or corrupt record that ended the stream, else None), ``frames``
    (frames yielded so far).
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        self._f, self._raw, self.path, self.compressed = _open_stream(source)
        self._owns = isinstance(source, str | os.PathLike)  # else the caller closes its file
        self.format = ""
        self.nanosecond = False
        self.interfaces: list[Interface] = []
        self.sections: list[Section] = []
        self.warnings: list[str] = []
        self.truncated: int | None = None
        self.frames = 0
        self._iterated = False
        self._warned: set[str] = set()
        self._bad_at: int | None = None  # pcapng: offset in the chunk of a corrupt packet block
        self._size: int | None = None
        self._map_fd: int | None = None  # mapped reads from this descriptor (see _map)
        self._pos = 0  # mapped reads: the offset of the next chunk
        if not self.compressed:
            try:
                st = os.fstat(self._f.fileno())
            except (OSError, AttributeError, io.UnsupportedOperation):
                st = None
            if st is not None:
                self._size = st.st_size
                if self._owns and stat.S_ISREG(st.st_mode):
                    self._map_fd = self._f.fileno()
        try:
            self._head = _read_full(self._f, 4)
        except (OSError, EOFError, zlib.error) as exc:
            self.close()
            raise CaptureError(f"{self.path}: cannot read ({exc})") from exc
        if self._head == b"\x0a\x0d\x0d\x0a":
            self.format = "pcapng"
            self._open_pcapng()
        elif self._head in _PCAP_MAGICS:
            self.format = "pcap"
            self._open_pcap()
        else:
            self.close()
            why = "empty file" if not self._head else f"unknown magic {self._head.hex()}"
            raise CaptureError(f"{self.path}: not a pcap or pcapng capture ({why})")
        if self._map_fd is not None:
            self._pos = self._f.tell()  # the chunks are mapped from here on

    # -- public -------------------------------------------------------------------------------

    @property
    def comments(self) -> list[str]:
        """Comments of every Section Header Block, in file order."""
        return [c for s in self.sections for c in s.comments]

    @property
    def linktype(self) -> int:
        """The link type of the first interface (pcap: the file's), -1 if none yet."""
        return self.interfaces[0].linktype if self.interfaces else -1

    @property
    def interface_stats(self) -> dict[int, dict[str, int]]:
        """ISB counters by capture-wide interface index (interfaces without an ISB omitted)."""
        return {i.index: dict(i.stats) for i in self.interfaces if i.stats}

    def close(self) -> None:
        """Release the file (a file object passed in is left open for its owner)."""
        with contextlib.suppress(Exception):  # closing a broken gzip stream must not raise
            if self._f is not self._raw:
                self._f.close()
            if self._owns:
                self._raw.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameBatch]:
        return self.batches()

    def batches(self, max_frames: int = 65536) -> Iterator[FrameBatch]:
        """The frames in batches of at most ``max_frames``, numbered from 1."""
        if self._iterated:
            raise RuntimeError("a Capture can be iterated once; open it again")
        self._iterated = True
        max_frames = max(1, int(max_frames))
        walk = self._pcap_parts if self.format == "pcap" else self._pcapng_parts
        try:
            for buf, parts in walk(max_frames):
                batch = self._batch(buf, parts)
                if batch is not None:
                    yield batch
        finally:
            self.close()

    # -- shared -------------------------------------------------------------------------------

    def _warn(self, message: str, once: str | None = None) -> None:
        if once is not None:
            if once in self._warned:
                return
            self._warned.add(once)
        self.warnings.append(message)

    def _cut(self, offset: int, reason: str) -> None:
        """The stream ends at ``offset``: a cut, lying or corrupt record."""
        self.truncated = offset
        self._warn(f"{self.path}: {reason} at byte {offset}; read {self.frames} frames before it")

    def _refill(self, buf: Buffer, need: int, broken: str) -> tuple[Buffer, int, bool, str]:
        """Keep the unread tail ``buf`` and read a chunk after it (or the one record that needs
        more): the new buffer, where its unread bytes start, whether the file ended, and why
        the stream broke (if it did)."""
        want = max(CHUNK_SIZE, need)
        mapped = self._map(want) if self._map_fd is not None and not buf else None
        if mapped is not None:
            chunk, lead = mapped
            return chunk, lead, len(chunk) - lead < want, broken
        data, err = self._read(want)
        return (buf + data if buf else data), 0, bool(err) or len(data) < want, err or broken

    def _map(self, n: int) -> tuple[Buffer, int] | None:
        """Up to ``n`` bytes from the read position, mapped (``mmap`` offsets are multiples of
        the allocation granularity, so the map starts up to a page earlier: the second value
        is where the bytes asked for start in it). None if the file cannot be mapped after all
        (a special file system): it is read from the same position on."""
        assert self._map_fd is not None
        pos = self._pos
        try:
            size = os.fstat(self._map_fd).st_size  # a capture still being written grows
            start = pos - pos % mmap.ALLOCATIONGRANULARITY
            stop = min(size, pos + n)
            if stop <= pos:
                return b"", 0
            chunk = mmap.mmap(self._map_fd, stop - start, offset=start, access=mmap.ACCESS_READ)
        except (OSError, ValueError, OverflowError):
            self._map_fd = None
            self._f.seek(pos)
            return None
        self._pos = stop
        return chunk, pos - start

    def _read(self, n: int) -> tuple[bytes, str | None]:
        """Up to ``n`` bytes and, if the stream broke (bad gzip data), why."""
        if not self.compressed:
            try:
                return _read_full(self._f, n), None
            except OSError as exc:
                return b"", f"unreadable data ({type(exc).__name__}: {exc})"
        # gzip: GzipFile.read(n) drops what it decompressed if the stream then breaks (a cut
        # .gz file); read1 pieces keep every byte before the break.
        parts: list[bytes] = []
        got = 0
        try:
            while got < n:
                piece = self._f.read1(n - got)  # type: ignore[attr-defined]
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
        except (OSError, EOFError, zlib.error) as exc:
            return b"".join(parts), f"compressed data broken ({type(exc).__name__}: {exc})"
        return b"".join(parts), None

    def _carry(self, buf: Buffer, off: int, need: int) -> tuple[Buffer, int]:
        """What the next chunk continues from, when ``buf`` was read up to ``off`` (an
        unfinished record or block from there on, ``need`` bytes of it to have whole): nothing
        if the file steps back to it (the next chunk starts there: no copy of the chunk), else
        the unread tail, with the bytes still needed after it."""
        tail = len(buf) - off
        if tail and self._rewind(tail):
            return b"", need
        return buf[off:], max(0, need - tail)

    def _rewind(self, n: int) -> bool:
        """Step back ``n`` bytes in a plain file (True), so that the next chunk is read whole
        instead of being appended to the unread tail (a copy of every chunk)."""
        if self._map_fd is not None:
            self._pos -= n
            return True
        if self.compressed or self._size is None:
            return False
        try:
            self._f.seek(-n, io.SEEK_CUR)
        except (OSError, ValueError, io.UnsupportedOperation):
            return False
        return True

    def _batch(self, buf: Buffer, parts: list[_Part]) -> FrameBatch | None:
        parts = [p for p in parts if len(p.offset)]
        if not parts:
            return None
        if len(parts) == 1:
            p = parts[0]
            time_ns, offset, caplen = p.time_ns, p.offset, p.caplen
            origlen, linktype, interface = p.origlen, p.linktype, p.interface
        else:
            time_ns = np.concatenate([p.time_ns for p in parts])
            offset = np.concatenate([p.offset for p in parts])
            caplen = np.concatenate([p.caplen for p in parts])
            origlen = np.concatenate([p.origlen for p in parts])
            linktype = np.concatenate([p.linktype for p in parts])
            interface = np.concatenate([p.interface for p in parts])
        n = len(offset)
        first = self.frames + 1
        comments: dict[int, str] = {}
        base = first
        for p in parts:
            for i, text in p.comments.items():
                comments[base + i] = text
            base += len(p.offset)
        self.frames += n
        if np.any(caplen > origlen):
            self._warn(
                f"{self.path}: captured length larger than original length (first in frame "
                f"{first + int(np.argmax(caplen > origlen))}); kept as captured",
                once="caplen>origlen",
            )
        return FrameBatch(
            buf=buf,
            number=np.arange(first, first + n, dtype=np.int64),
            time_ns=time_ns,
            offset=offset,
            caplen=caplen,
            origlen=origlen,
            linktype=linktype,
            interface=interface,
            source=np.zeros(n, dtype=np.int32),
            comments=comments,
        )

    # -- pcap ---------------------------------------------------------------------------------

    def _open_pcap(self) -> None:
        order, self.nanosecond, self._rec_len = _PCAP_MAGICS[self._head]
        rest, err = self._read(20)
        if len(rest) < 20:
            self.close()
            raise CaptureError(
                f"{self.path}: pcap file header cut short ({err or f'{4 + len(rest)} of 24 bytes'})"
            )
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(order + "HHiIII", rest)
        self._order = order
        self.sections.append(Section(order, (major, minor), 0))
        self.interfaces.append(Interface(0, 0, network & 0xFFFF, snaplen))

    def _pcap_parts(self, max_frames: int) -> Iterator[tuple[Buffer, list[_Part]]]:
        order, rec = self._order, self._rec_len
        caplen_at = struct.Struct(order + "I").unpack_from
        linktype = self.interfaces[0].linktype
        scale = np.int64(1 if self.nanosecond else 1000)
        buf = b""
        base = 24  # absolute offset of buf[0]
        broken = ""  # why the (compressed) stream broke, if it did
        need = rec
        while True:
            buf, off, eof, broken = self._refill(buf, need, broken)
            base -= off  # a mapped chunk starts up to a page before the unread bytes
            end = len(buf)
            while True:
                # The hot loop: only the caplen chain. A record running past the buffer's end,
                # or a lying caplen, is dealt with after the hop.
                offs, heads, off = _pcap_hop(buf, off, max_frames, rec, order)
                if off > end:  # the last record runs past the buffer: not complete yet
                    off, offs = int(offs[-1]), offs[:-1]
                    heads = None if heads is None else heads[:-1]
                part, lying = self._pcap_part(buf, offs, heads, scale, linktype)
                if part is not None:
                    yield buf, [part]
                if lying is not None:
                    cl = caplen_at(buf, lying + 8)[0]
                    self._cut(base + lying, f"lying record length {cl} (more than {MAX_CAPLEN})")
                    return
                if len(offs) < max_frames:
                    break
            tail = end - off
            if tail >= rec and caplen_at(buf, off + 8)[0] > MAX_CAPLEN:
                cl = caplen_at(buf, off + 8)[0]
                self._cut(base + off, f"lying record length {cl} (more than {MAX_CAPLEN})")
                return
            if eof:
                if tail:
                    have = f"{tail} bytes of a record header"
                    if tail >= rec:
                        cl = caplen_at(buf, off + 8)[0]
                        have = f"caplen {cl} with {tail - rec} bytes left"
                        if self._size is not None and cl > self._size - (base + off + rec):
                            have = f"lying record length {cl} (past the end of the file)"
                    self._cut(
                        base + off, f"capture cut mid-record ({have}{broken and '; '}{broken})"
                    )
                elif broken:
                    self._cut(base + off, f"capture cut: {broken}")
                return
            need = rec if tail < rec else rec + caplen_at(buf, off + 8)[0]
            base += off
            buf, need = self._carry(buf, off, need)

    def _pcap_part(
        self, buf: Buffer, o: I64, heads: npt.NDArray[np.int64] | None, scale: np.int64, lt: int
    ) -> tuple[_Part | None, int | None]:
        """The records at offsets ``o`` (``heads``: their header words, if the hop read them),
        and the offset of the first with a lying caplen."""
        if not len(o):
            return None, None
        h = heads if heads is not None else _words(buf, o, 4, self._order).astype(np.int64)
        lying = None
        too_long = h[:, 2] > MAX_CAPLEN
        if too_long.any():
            k = int(np.argmax(too_long))
            lying = int(o[k])
            o, h = o[:k], h[:k]
        n = len(o)
        part = _Part(
            time_ns=h[:, 0] * _NS + h[:, 1] * scale,
            offset=o + self._rec_len,
            caplen=h[:, 2].astype(np.int32),
            origlen=h[:, 3].astype(np.uint32).view(np.int32),  # > 2 GiB wraps: never meaningful
            linktype=np.full(n, lt, dtype=np.int32),
            interface=np.zeros(n, dtype=np.int32),
            comments={},
        )
        return (part if n else None), lying

    # -- pcapng -------------------------------------------------------------------------------

    def _open_pcapng(self) -> None:
        head, err = self._read(8)
        if len(head) < 8:
            self.close()
            raise CaptureError(f"{self.path}: pcapng section header cut short ({err or 'eof'})")
        bom = head[4:8]
        if bom == b"\x4d\x3c\x2b\x1a":
            order = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            order = ">"
        else:
            self.close()
            raise CaptureError(
                f"{self.path}: not a pcapng capture (bad byte-order magic {bom.hex()})"
            )
        (blen,) = struct.unpack(order + "I", head[:4])
        if blen < 28 or blen % 4 or blen > MAX_BLOCK:
            self.close()
            raise CaptureError(f"{self.path}: pcapng section header has a bad length {blen}")
        body, err = self._read(blen - 12)
        block = self._head + head + body
        if len(block) < blen:
            self.close()
            raise CaptureError(f"{self.path}: pcapng section header cut short ({err or 'eof'})")
        why = self._shb(block, 0, blen, order, 0)
        (trailer,) = struct.unpack_from(order + "I", block, blen - 4)
        if not why and trailer != blen:
            why = f"section header length {blen} and trailing length {trailer} differ"
        if why:
            self.close()
            raise CaptureError(f"{self.path}: {why}")
        self._order = order
        self._start = blen

    def _pcapng_parts(self, max_frames: int) -> Iterator[tuple[Buffer, list[_Part]]]:
        buf = b""
        base = self._start
        broken = ""  # why the (compressed) stream broke, if it did
        need = 0
        order = self._order
        # section state: byte order, header structs, capture-wide index of each interface
        hdr = struct.Struct(order + "II").unpack_from
        section_ifaces: list[int] = []
        state = {"last_time": 0}
        while True:
            buf, off, eof, broken = self._refill(buf, need, broken)
            base -= off  # a mapped chunk starts up to a page before the unread bytes
            end = len(buf)
            stop = ""
            offs: list[int] = []
            parts: list[_Part] = []
            count = 0

            while True:
                # fast path: a run of plausible EPBs, only their lengths walked here (the
                # vectorised gather checks the rest); anything else falls to the general path
                before = len(offs)
                off = _pcapng_hop(buf, off, max_frames - count, order, offs)
                count += len(offs) - before
                if count >= max_frames:
                    stop = self._flush(buf, offs, order, section_ifaces, state, parts)
                    if stop:
                        break
                    yield buf, parts
                    parts = []
                    count = 0
                    continue
                if off + 12 > end:
                    need = 12
                    break
                btype, blen = hdr(buf, off)
                if btype == _PCAPNG_SHB:
                    if off + 12 > end:
                        need = 12
                        break
                    bom = buf[off + 8 : off + 12]
                    new = (
                        "<"
                        if bom == b"\x4d\x3c\x2b\x1a"
                        else ">"
                        if bom == b"\x1a\x2b\x3c\x4d"
                        else ""
                    )
                    if not new:
                        stop = f"bad byte-order magic {bom.hex()} in a section header"
                        break
                    (blen,) = struct.unpack_from(new + "I", buf, off + 4)
                if blen < 12 or blen % 4:
                    stop = f"bad block length {blen} (block type {btype:#x})"
                    break
                if blen > MAX_BLOCK:
                    stop = f"lying block length {blen} (block type {btype:#x})"
                    break
                if off + blen > end:
                    need = blen
                    break
                if btype in (_EPB, _SPB, _OPB):
                    offs.append(off)
                    count += 1
                    off += blen
                    if count >= max_frames:
                        stop = self._flush(buf, offs, order, section_ifaces, state, parts)
                        if stop:
                            break
                        yield buf, parts
                        parts = []
                        count = 0
                    continue
                trailer = struct.unpack_from(order + "I", buf, off + blen - 4)[0]
                if btype == _PCAPNG_SHB:
                    stop = self._flush(buf, offs, order, section_ifaces, state, parts)
                    if stop:
                        break
                    order = new
                    trailer = struct.unpack_from(order + "I", buf, off + blen - 4)[0]
                    if trailer != blen:
                        stop = f"block length {blen} and trailing length {trailer} differ"
                        break
                    hdr = struct.Struct(order + "II").unpack_from
                    stop = self._shb(buf, off, blen, order, base + off)
                    if stop:
                        break
                    section_ifaces = []
                    off += blen
                    continue
                if trailer != blen:
                    stop = f"block length {blen} and trailing length {trailer} differ"
                    break
                if btype == _IDB:
                    stop = self._flush(buf, offs, order, section_ifaces, state, parts)
                    if stop:
                        break
                    if blen < 20:
                        stop = f"interface description block too short ({blen} bytes)"
                        break
                    section_ifaces.append(self._idb(buf, off, blen, order, len(section_ifaces)))
                elif btype == _ISB:
                    stop = self._flush(buf, offs, order, section_ifaces, state, parts)
                    if stop:
                        break
                    self._isb(buf, off, blen, order, section_ifaces)
                off += blen
            why = self._flush(buf, offs, order, section_ifaces, state, parts)
            if why:  # a corrupt packet block before whatever stopped the walk
                stop = why
            if parts:
                yield buf, parts
            if stop:
                at = off if self._bad_at is None else self._bad_at
                self._cut(base + at, stop)
                return
            tail = end - off
            if eof:
                if tail:
                    why = f"{tail} bytes of a block{broken and '; '}{broken}"
                    self._cut(base + off, f"capture cut mid-block ({why})")
                elif broken:
                    self._cut(base + off, f"capture cut: {broken}")
                return
            base += off
            buf, need = self._carry(buf, off, need)

    def _flush(
        self,
        buf: Buffer,
        offs: list[int],
        order: str,
        ifaces: list[int],
        state: dict[str, int],
        parts: list[_Part],
    ) -> str:
        """Gather the pending packet blocks into ``parts``; why a corrupt one ends the stream."""
        if not offs:
            return ""
        part, why = self._pcapng_part(buf, offs, order, ifaces, state)
        if why:
            self._bad_at = offs[len(part.offset)]
        parts.append(part)
        offs.clear()
        return why

    def _shb(self, buf: Buffer, off: int, blen: int, order: str, where: int) -> str:
        """Record a Section Header Block; the reason it is unusable, or ''."""
        if blen < 28:
            return f"section header block too short ({blen} bytes)"
        major, minor = struct.unpack_from(order + "HH", buf, off + 12)
        if major != 1:
            return f"unsupported pcapng version {major}.{minor}"
        section = Section(order, (major, minor), where)
        for code, value in self._options(buf, off + 24, off + blen - 4, order):
            if code == 1:
                section.comments.append(_text(value))
            elif code == 2:
                section.hardware = _text(value)
            elif code == 3:
                section.os = _text(value)
            elif code == 4:
                section.userappl = _text(value)
        self.sections.append(section)
        return ""

    def _idb(self, buf: Buffer, off: int, blen: int, order: str, local: int) -> int:
        linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", buf, off + 8)
        iface = Interface(len(self.interfaces), len(self.sections) - 1, linktype, snaplen, local)
        for code, value in self._options(buf, off + 16, off + blen - 4, order):
            if code == 1:
                iface.comments.append(_text(value))
            elif code == 2:
                iface.name = _text(value)
            elif code == 3:
                iface.description = _text(value)
            elif code == 9 and value:
                v = value[0]
                iface.tsresol = (2, v & 0x7F) if v & 0x80 else (10, v)
            elif code == 14 and len(value) >= 8:
                iface.tsoffset = struct.unpack(order + "q", value[:8])[0]
        self.interfaces.append(iface)
        return iface.index

    _ISB_NAMES: Final = {4: "ifrecv", 5: "ifdrop", 6: "filteraccept", 7: "osdrop", 8: "usrdeliv"}

    def _isb(self, buf: Buffer, off: int, blen: int, order: str, ifaces: list[int]) -> None:
        if blen < 24:
            self._warn(f"{self.path}: interface statistics block too short; skipped", once="isb")
            return
        if_id, hi, lo = struct.unpack_from(order + "III", buf, off + 8)
        if if_id >= len(ifaces):
            self._warn(f"{self.path}: statistics for unknown interface {if_id}; skipped")
            return
        iface = self.interfaces[ifaces[if_id]]
        base, exp = iface.tsresol

        def ns(ticks: int) -> int:
            t = _ticks_to_ns(np.array([ticks], dtype=np.uint64), base, exp)
            return int(t[0]) + iface.tsoffset * _NS

        stats: dict[str, int] = {"time": ns((hi << 32) | lo)}
        for code, value in self._options(buf, off + 20, off + blen - 4, order):
            if code in (2, 3) and len(value) >= 8:
                shi, slo = struct.unpack(order + "II", value[:8])
                stats["starttime" if code == 2 else "endtime"] = ns((shi << 32) | slo)
            elif code in self._ISB_NAMES and len(value) >= 8:
                stats[self._ISB_NAMES[code]] = struct.unpack(order + "Q", value[:8])[0]
        iface.stats = stats

    def _options(
        self, buf: Buffer, start: int, end: int, order: str
    ) -> Iterator[tuple[int, bytes]]:
        """(code, value) of each option in ``buf[start:end]``, up to opt_endofopt."""
        end = min(end, start + MAX_OPTION_BYTES)
        head = struct.Struct(order + "HH").unpack_from
        while start + 4 <= end:
            code, length = head(buf, start)
            if code == 0:
                return
            if start + 4 + length > end:
                self._warn(
                    f"{self.path}: option {code} overruns its block; rest of the options ignored",
                    once="option",
                )
                return
            yield code, buf[start + 4 : start + 4 + length]
            start += 4 + (length + 3 & ~3)

    def _pcapng_part(
        self,
        buf: Buffer,
        offs: list[int],
        order: str,
        ifaces: list[int],
        state: dict[str, int],
    ) -> tuple[_Part, str]:
        """Gather packet blocks (EPB, SPB, obsolete PB) at ``offs``; returns the part and, if a
        block is corrupt, why (the part then ends before it)."""
        o = np.array(offs, dtype=np.int64)
        # type, length, interface id (SPB: original length): every block has these 12 bytes;
        # then ts high, ts low, caplen, origlen (EPB/OPB; read clipped, checked below)
        h3 = _words(buf, o, 3, order)
        if len(buf) >= 28:
            h4 = _words(buf, np.minimum(o + 12, len(buf) - 16), 4, order)
        else:
            h4 = _words(buf + bytes(16), o + 12, 4, order)
        h = np.concatenate([h3, h4], axis=1)
        btype, blen = h[:, 0], h[:, 1].astype(np.int64)
        trailer = _words(buf, o + blen - 4, 1, order)[:, 0].astype(np.int64)
        simple = btype == _SPB
        obsolete = btype == _OPB
        if_id = h[:, 2].astype(np.int64)
        if obsolete.any():  # the obsolete Packet Block: 16-bit interface id, 16-bit drops
            raw = h[:, 2] >> np.uint64(16) if order == ">" else h[:, 2] & np.uint64(0xFFFF)
            if_id = np.where(obsolete, raw.astype(np.int64), if_id)
        if_id = np.where(simple, 0, if_id)
        caplen = h[:, 5].astype(np.int64)
        origlen = np.where(simple, h[:, 2], h[:, 6]).astype(np.int64)
        n_if = len(ifaces)
        snap0 = self.interfaces[ifaces[0]].snaplen if n_if else 0
        if simple.any():
            spb_cap = np.minimum(origlen, blen - 16)
            if snap0:
                spb_cap = np.minimum(spb_cap, snap0)
            caplen = np.where(simple, spb_cap, caplen)
        header = np.where(simple, 12, 28)
        room = np.where(simple, blen - 16, blen - 32)
        bad_room = caplen > room
        bad = (
            (blen % 4 != 0)
            | (blen > MAX_BLOCK)
            | (trailer != blen)
            | (if_id >= n_if)
            | (caplen > MAX_CAPLEN)
            | bad_room
            | (simple & (blen < 16))
            | (~simple & (blen < 32))
        )
        why = ""
        n = len(o)
        if bad.any():
            k = int(np.argmax(bad))
            i_t, i_b = int(trailer[k]), int(blen[k])
            if i_b % 4 or i_b > MAX_BLOCK:
                why = f"bad block length {i_b} (block type {int(btype[k]):#x})"
            elif i_t != i_b:
                why = f"block length {i_b} and trailing length {i_t} differ"
            elif int(if_id[k]) >= n_if:
                why = f"packet for undeclared interface {int(if_id[k])}"
            elif int(caplen[k]) > MAX_CAPLEN:
                why = f"lying captured length {int(caplen[k])} (more than {MAX_CAPLEN})"
            else:
                why = f"captured length {int(caplen[k])} larger than its block ({i_b} bytes)"
            n = k
            o, blen, h, simple, if_id = o[:n], blen[:n], h[:n], simple[:n], if_id[:n]
            caplen, origlen, header = caplen[:n], origlen[:n], header[:n]
        gidx = np.array(ifaces, dtype=np.int64) if n_if else np.zeros(1, dtype=np.int64)
        interface = gidx[np.minimum(if_id, max(n_if - 1, 0))]
        lts = np.array([i.linktype for i in self.interfaces], dtype=np.int32)
        linktype = lts[interface] if n else np.zeros(0, dtype=np.int32)
        ticks = (h[:, 3] << np.uint64(32)) | h[:, 4]
        time_ns = np.zeros(n, dtype=np.int64)
        for g in np.unique(interface[~simple]).tolist():
            iface = self.interfaces[g]
            sel = (interface == g) & ~simple
            ns = _ticks_to_ns(ticks[sel], *iface.tsresol)
            time_ns[sel] = ns + _wrap64(iface.tsoffset * _NS)
        if simple.any():
            self._warn(
                f"{self.path}: simple packet blocks carry no timestamp; they take the previous "
                "frame's time",
                once="spb",
            )
            pos = np.where(simple, -1, np.arange(n))
            pos = np.maximum.accumulate(pos)
            filled = np.where(pos >= 0, time_ns[np.maximum(pos, 0)], state["last_time"])
            time_ns = np.where(simple, filled, time_ns)
        if n:
            state["last_time"] = int(time_ns[-1])
        comments: dict[int, str] = {}
        with_options = np.flatnonzero(~simple & (blen > 32 + ((caplen + 3) & ~3)))
        for i in with_options.tolist():
            start = int(o[i]) + 28 + (int(caplen[i]) + 3 & ~3)
            texts = [
                _text(v)
                for code, v in self._options(buf, start, int(o[i] + blen[i]) - 4, order)
                if code == 1
            ]
            if texts:
                comments[i] = "\n".join(texts)
        part = _Part(
            time_ns=time_ns,
            offset=o + header,
            caplen=caplen.astype(np.int32),
            origlen=origlen.astype(np.uint32).view(np.int32),
            linktype=linktype.astype(np.int32),
            interface=interface.astype(np.int32),
            comments=comments,
        )
        return part, why


def open_capture(path: str | os.PathLike[str] | BinaryIO) -> Capture:
    """Open a pcap/pcapng capture (gzip-compressed or not) for streaming.

    ``path`` may also be a binary file object (read from its current position). Raises
    :class:`CaptureError` if the file cannot be read or is not a capture.
    """
    return Capture(path)


# -- merging ----------------------------------------------------------------------------------


@dataclass
class _Pending:
    """Frames of one input not yet merged: batches, with a start index into the first."""

    batches: list[FrameBatch] = field(default_factory=list)
    keys: list[I64] = field(default_factory=list)  # merge keys (running maximum of time)
    start: int = 0
    done: bool = False
    last_key: int = -(1 << 63)

    def count(self) -> int:
        return sum(len(b) for b in self.batches) - self.start


class MergedCaptures(Iterator[FrameBatch]):
    """Several captures merged by time; see :func:`merge_captures`."""

    def __init__(self, paths: Iterable[str | os.PathLike[str] | BinaryIO], max_frames: int) -> None:
        self.captures: list[Capture] = []
        try:
            for p in paths:
                self.captures.append(open_capture(p))
        except CaptureError:
            for c in self.captures:
                c.close()
            raise
        self.max_frames = max(1, int(max_frames))
        self._iters = [c.batches(self.max_frames) for c in self.captures]
        self._pending = [_Pending() for _ in self.captures]
        self._number = 0
        self._out: list[FrameBatch] = []
        self._gen = self._merge()

    @property
    def warnings(self) -> list[str]:
        return [w for c in self.captures for w in c.warnings]

    def __iter__(self) -> MergedCaptures:
        return self

    def __next__(self) -> FrameBatch:
        return next(self._gen)

    def _fill(self, i: int) -> None:
        """Make sure input ``i`` has a frame pending, unless it is exhausted."""
        p = self._pending[i]
        while not p.done and p.count() == 0:
            try:
                batch = next(self._iters[i])
            except StopIteration:
                p.done = True
                return
            keys = np.maximum.accumulate(np.maximum(batch.time_ns, np.int64(p.last_key)))
            p.last_key = int(keys[-1])
            p.batches, p.keys, p.start = [batch], [keys], 0

    def _take(self, i: int, horizon: int, tie_ok: bool) -> list[tuple[FrameBatch, int, int, I64]]:
        """Pending frames of input ``i`` with key < horizon (<= if ``tie_ok``), in order."""
        p = self._pending[i]
        taken: list[tuple[FrameBatch, int, int, I64]] = []
        while p.batches:
            batch, keys = p.batches[0], p.keys[0]
            side = "right" if tie_ok else "left"
            stop = int(np.searchsorted(keys, horizon, side=side))
            stop = max(stop, p.start)
            if stop > p.start:
                taken.append((batch, p.start, stop, keys[p.start : stop]))
            if stop < len(batch):
                p.start = stop
                break
            p.batches.pop(0)
            p.keys.pop(0)
            p.start = 0
        return taken

    def _merge(self) -> Iterator[FrameBatch]:
        k = len(self.captures)
        while True:
            for i in range(k):
                self._fill(i)
            live = [i for i in range(k) if self._pending[i].count()]
            if not live:
                return
            # horizon: the smallest (last pending key, input); everything up to it is final
            h_key, h_src = min((self._pending[i].last_key, i) for i in live)
            pieces: list[tuple[int, FrameBatch, int, int, I64]] = []
            for i in live:
                for batch, a, b, keys in self._take(i, h_key, tie_ok=i <= h_src):
                    pieces.append((i, batch, a, b, keys))
            yield from self._emit(pieces)

    def _emit(self, pieces: list[tuple[int, FrameBatch, int, int, I64]]) -> Iterator[FrameBatch]:
        keys = np.concatenate([p[4] for p in pieces])
        srcs = np.concatenate([np.full(p[3] - p[2], p[0], dtype=np.int32) for p in pieces])
        order = np.lexsort((srcs, keys))  # stable: ties keep input order, then file order
        # one buffer: each piece's span of its source buffer, copied once
        spans: list[bytes] = []
        cols: dict[str, list[npt.NDArray[np.generic]]] = {
            k: [] for k in ("time_ns", "offset", "caplen", "origlen", "linktype", "interface")
        }
        comment_of: list[tuple[int, str]] = []  # (position in concatenation, text)
        shift = 0
        pos = 0
        for _src, batch, a, b, _keys in pieces:
            lo = int(batch.offset[a:b].min())
            hi = int((batch.offset[a:b] + batch.caplen[a:b]).max())
            spans.append(batch.buf[lo:hi])
            cols["offset"].append(batch.offset[a:b] - lo + shift)
            shift += hi - lo
            for name in ("time_ns", "caplen", "origlen", "linktype", "interface"):
                cols[name].append(getattr(batch, name)[a:b])
            if batch.comments:
                first = int(batch.number[a]) if b > a else 0
                for num, text in batch.comments.items():
                    if first <= num < first + (b - a):
                        comment_of.append((pos + num - first, text))
            pos += b - a
        buf = b"".join(spans)
        merged = {name: np.concatenate(v)[order] for name, v in cols.items()}
        source = srcs[order]
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        comments_at = {int(rank[p]): t for p, t in comment_of}
        for s in range(0, len(order), self.max_frames):
            e = min(s + self.max_frames, len(order))
            n = e - s
            first = self._number + 1
            self._number += n
            yield FrameBatch(
                buf=buf,
                number=np.arange(first, first + n, dtype=np.int64),
                time_ns=merged["time_ns"][s:e],
                offset=merged["offset"][s:e].astype(np.int64),
                caplen=merged["caplen"][s:e],
                origlen=merged["origlen"][s:e],
                linktype=merged["linktype"][s:e],
                interface=merged["interface"][s:e],
                source=source[s:e],
                comments={first + r - s: t for r, t in comments_at.items() if s <= r < e},
            )


def merge_captures(
    paths: Iterable[str | os.PathLike[str] | BinaryIO], max_frames: int = 65536
) -> MergedCaptures:
    """Frames of several captures merged by time, numbered 1..N over the merged stream.

    Like mergecap: repeatedly the earliest next frame of any input (ties: the lower input
    index), so each input's own order is kept even where its timestamps go backwards.
    ``FrameBatch.source`` is the input index. Memory stays bounded: a k-way merge over
    batches. The returned iterator has ``captures`` (their warnings, interfaces, ...).
    """
    return MergedCaptures(paths, max_frames)
