"""IPv4 and IPv6 fragment reassembly with limits (large Map-Registers and Map-Replies fragment).

A :class:`Reassembler` is fed one :class:`Fragment` at a time, in capture order, across frame
batches. It answers with a :class:`FeedResult`: the :class:`Reassembled` datagram when the
fragment completed one (tagged with the number of its last frame and the frames of all its
fragments), the anomalies of this fragment, and the datagrams it had to give up
(:class:`Evicted`). Nothing is dropped silently: every datagram it ever held either completes
or comes back as an ``Evicted`` value with the reason - memory limit, too many datagrams,
timeout (in capture time), oversized, inconsistent/overlapping fragments, or
:meth:`Reassembler.flush` at the end of the capture.

Rules (RFC 791, RFC 8200 sec. 4.5, RFC 5722):

* the key is (IP version, source, destination, identification, protocol);
* an exact duplicate (same offset, same bytes) is ignored with ``ip.fragment.duplicate``;
* an overlap that agrees byte for byte is kept with ``ip.fragment.overlap``; an overlap that
  disagrees, a second last fragment with another end, or data beyond the known end makes the
  datagram inconsistent: it is evicted (``ip.fragment.overlap_conflict`` /
  ``ip.fragment.inconsistent``) - RFC 5722 asks exactly this for IPv6;
* a non-last fragment whose length is not a multiple of 8 is noted
  (``ip.fragment.bad_length``) and still used;
* a datagram that would exceed ``max_datagram`` bytes is evicted (``ip.fragment.too_big``).

Anomalies are strings ``"code: detail"``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from lisptrace.ingest.anomalies import FRAGMENT_BAD_LENGTH as BAD_LENGTH
from lisptrace.ingest.anomalies import FRAGMENT_DUPLICATE as DUPLICATE
from lisptrace.ingest.anomalies import FRAGMENT_EVICTED as EVICTED
from lisptrace.ingest.anomalies import FRAGMENT_INCONSISTENT as INCONSISTENT
from lisptrace.ingest.anomalies import FRAGMENT_OVERLAP as OVERLAP
from lisptrace.ingest.anomalies import FRAGMENT_OVERLAP_CONFLICT as OVERLAP_CONFLICT
from lisptrace.ingest.anomalies import FRAGMENT_TOO_BIG as TOO_BIG

FragmentKey = tuple[int, bytes, bytes, int, int]  # version, src, dst, identification, protocol


# eviction reasons
REASON_MEMORY = "memory limit (bytes pending)"
REASON_COUNT = "memory limit (datagrams pending)"
REASON_TIMEOUT = "timeout"
REASON_TOO_BIG = "datagram larger than the per-datagram limit"
REASON_CONFLICT = "overlapping fragments disagree"
REASON_INCONSISTENT = "inconsistent fragments"
REASON_END = "incomplete at the end of the capture"


@dataclass(frozen=True, slots=True)
class Fragment:
    """One fragment: ``offset`` in bytes (not 8-byte units) of ``payload`` in the datagram's
    fragmentable part; ``more`` is the More Fragments flag."""

    number: int
    time_ns: int
    key: FragmentKey
    offset: int
    more: bool
    payload: bytes


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A complete datagram: ``data`` is the fragmentable part (for IPv4 the upper layer, for
    IPv6 what follows the Fragment header), ``number`` the frame that completed it, ``frames``
    every frame that contributed, in arrival order."""

    key: FragmentKey
    number: int
    frames: tuple[int, ...]
    data: bytes
    first_time_ns: int

    @property
    def protocol(self) -> int:
        return self.key[4]


@dataclass(frozen=True, slots=True)
class Evicted:
    """A datagram given up: its key, the frames of its fragments, why, and the bytes held."""

    key: FragmentKey
    frames: tuple[int, ...]
    reason: str
    bytes_held: int

    def anomaly(self) -> str:
        return f"{EVICTED}: {self.reason} ({len(self.frames)} fragments, {self.bytes_held} bytes)"


@dataclass(frozen=True, slots=True)
class FeedResult:
    reassembled: Reassembled | None = None
    anomalies: tuple[str, ...] = ()
    evicted: tuple[Evicted, ...] = ()


@dataclass(slots=True)
class _Pending:
    first_time_ns: int
    parts: dict[int, bytes] = field(default_factory=dict)  # offset -> bytes
    frames: list[int] = field(default_factory=list)
    end: int | None = None  # known once the last fragment (MF = 0) arrived
    size: int = 0  # bytes held


class Reassembler:
    """Reassemble fragments fed in capture order, within memory limits.

    ``max_pending_bytes`` bounds the bytes held over all datagrams, ``max_datagrams`` their
    number (the oldest datagrams are evicted first when a limit is hit), ``max_datagram`` the
    size of one datagram (65535 by default: an IPv4 total length or an IPv6 payload length
    cannot say more), ``timeout_ns`` how long (in capture time, from the first fragment) a
    datagram may wait.
    """

    def __init__(
        self,
        *,
        max_pending_bytes: int = 16 << 20,
        max_datagrams: int = 4096,
        max_datagram: int = 65535,
        timeout_ns: int = 30_000_000_000,
    ) -> None:
        self.max_pending_bytes = max_pending_bytes
        self.max_datagrams = max_datagrams
        self.max_datagram = max_datagram
        self.timeout_ns = timeout_ns
        self._pending: OrderedDict[FragmentKey, _Pending] = OrderedDict()  # oldest first
        self._bytes = 0

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def pending_datagrams(self) -> int:
        return len(self._pending)

    def _evict(self, key: FragmentKey, reason: str) -> Evicted:
        p = self._pending.pop(key)
        self._bytes -= p.size
        return Evicted(key, tuple(p.frames), reason, p.size)

    def expire(self, now_ns: int) -> list[Evicted]:
        """Evict the datagrams whose first fragment is older than the timeout at ``now_ns``."""
        out: list[Evicted] = []
        limit = now_ns - self.timeout_ns
        while self._pending:
            key, p = next(iter(self._pending.items()))
            if p.first_time_ns >= limit:
                break
            out.append(self._evict(key, REASON_TIMEOUT))
        # capture time may go backwards (merged files): check the rest too, rarely needed
        for key in [k for k, p in self._pending.items() if p.first_time_ns < limit]:
            out.append(self._evict(key, REASON_TIMEOUT))
        return out

    def flush(self, reason: str = REASON_END) -> list[Evicted]:
        """Give up every pending datagram (end of the capture)."""
        return [self._evict(k, reason) for k in list(self._pending)]

    def feed(self, frag: Fragment) -> FeedResult:
        evicted = self.expire(frag.time_ns)
        anomalies: list[str] = []
        n = len(frag.payload)
        end = frag.offset + n
        if frag.more and n % 8:
            anomalies.append(f"{BAD_LENGTH}: non-last fragment of {n} bytes (not a multiple of 8)")
        p = self._pending.get(frag.key)
        if p is None:
            p = _Pending(frag.time_ns)
            self._pending[frag.key] = p
        p.frames.append(frag.number)
        if end > self.max_datagram:
            anomalies.append(f"{TOO_BIG}: fragment ends at byte {end} > {self.max_datagram}")
            evicted.append(self._evict(frag.key, REASON_TOO_BIG))
            return FeedResult(None, tuple(anomalies), tuple(evicted))
        problem = self._check(p, frag, anomalies)
        if problem is not None:
            evicted.append(self._evict(frag.key, problem))
            return FeedResult(None, tuple(anomalies), tuple(evicted))
        if not frag.more:
            p.end = end
        if not (n == 0 or p.parts.get(frag.offset) == frag.payload):
            old = p.parts.get(frag.offset)
            if old is None or len(old) < n:
                p.size += n - (len(old) if old else 0)
                self._bytes += n - (len(old) if old else 0)
                p.parts[frag.offset] = frag.payload
        done = self._complete(frag.key, p, frag.number)
        if done is not None:
            return FeedResult(done, tuple(anomalies), tuple(evicted))
        evicted.extend(self._enforce_limits())
        return FeedResult(None, tuple(anomalies), tuple(evicted))

    def _check(self, p: _Pending, frag: Fragment, anomalies: list[str]) -> str | None:
        """Anomalies of ``frag`` against the parts held; a reason to evict, or None."""
        start, end = frag.offset, frag.offset + len(frag.payload)
        if p.end is not None:
            if not frag.more and end != p.end:
                anomalies.append(f"{INCONSISTENT}: second last fragment ends at {end}, not {p.end}")
                return REASON_INCONSISTENT
            if end > p.end:
                anomalies.append(f"{INCONSISTENT}: fragment ends at {end}, past the end {p.end}")
                return REASON_INCONSISTENT
        elif not frag.more and any(o + len(b) > end for o, b in p.parts.items()):
            anomalies.append(f"{INCONSISTENT}: last fragment ends at {end}, data held past it")
            return REASON_INCONSISTENT
        if p.parts.get(start) == frag.payload:
            anomalies.append(f"{DUPLICATE}: bytes {start}-{end} again")
            return None
        overlapped = False
        for o, b in p.parts.items():
            lo, hi = max(o, start), min(o + len(b), end)
            if lo >= hi:
                continue
            overlapped = True
            if b[lo - o : hi - o] != frag.payload[lo - start : hi - start]:
                anomalies.append(
                    f"{OVERLAP_CONFLICT}: bytes {lo}-{hi} differ from the fragment held at {o}"
                )
                return REASON_CONFLICT
        if overlapped:
            anomalies.append(f"{OVERLAP}: bytes {start}-{end} overlap fragments held (same bytes)")
        return None

    def _complete(self, key: FragmentKey, p: _Pending, number: int) -> Reassembled | None:
        if p.end is None:
            return None
        covered = 0
        for o in sorted(p.parts):
            if o > covered:
                return None
            covered = max(covered, o + len(p.parts[o]))
        if covered < p.end:
            return None
        data = bytearray(p.end)
        for o in sorted(p.parts):
            data[o : o + len(p.parts[o])] = p.parts[o]
        self._pending.pop(key)
        self._bytes -= p.size
        return Reassembled(key, number, tuple(p.frames), bytes(data), p.first_time_ns)

    def _enforce_limits(self) -> list[Evicted]:
        out: list[Evicted] = []
        while len(self._pending) > self.max_datagrams:
            out.append(self._evict(next(iter(self._pending)), REASON_COUNT))
        while self._bytes > self.max_pending_bytes and self._pending:
            out.append(self._evict(next(iter(self._pending)), REASON_MEMORY))
        return out
