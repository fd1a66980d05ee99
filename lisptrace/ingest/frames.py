"""Frames in columns: the unit the ingest path hands from capture reading to decoding.

A :class:`FrameBatch` holds up to a few tens of thousands of frames of one capture as numpy
arrays over one shared byte buffer, so every later stage can work on whole columns (the
vectorised data-plane path) and fall back to per-frame Python only where it must.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Buffer: TypeAlias = bytes | mmap.mmap  # a chunk of the capture: read, or mapped (slices are bytes)


@dataclass(frozen=True, slots=True)
class FrameBatch:
    """Consecutive frames: frame ``i`` is ``buf[offset[i] : offset[i] + caplen[i]]``.

    ``number`` is 1-based and counts frames across the whole capture (or the merged
    captures), as Wireshark numbers them. ``time_ns`` is nanoseconds since the Unix epoch.
    ``linktype`` is the LINKTYPE_* value of the frame's interface (pcapng interfaces may
    differ). ``interface`` is the pcapng interface index (0 for pcap), ``source`` the index of
    the input file when several are merged.
    """

    buf: Buffer
    number: I64
    time_ns: I64
    offset: I64
    caplen: I32
    origlen: I32
    linktype: I32
    interface: I32
    source: I32
    comments: dict[int, str] = field(default_factory=dict)  # frame number -> packet comment

    def __len__(self) -> int:
        return len(self.number)

    def frame(self, i: int) -> bytes:
        start = int(self.offset[i])
        return self.buf[start : start + int(self.caplen[i])]
