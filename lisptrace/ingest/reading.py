"""The reading stage of the decode, on a thread of its own: the captures read (merged by time),
each batch's record headers hopped and its layers walked (link, IP, UDP; fragments reassembled:
:func:`~lisptrace.ingest.layers.decode_layers`), ahead of the table building.

Nothing here imports pyarrow or the LISP codecs, so ``lisptrace decode`` starts a
:class:`Reading` before it loads them: the first batches are read while the interpreter is
still importing the rest (the file reads, the hop and the layer kernel release the GIL).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from lisptrace.ingest.capture import Capture, merge_captures, open_capture
from lisptrace.ingest.frames import FrameBatch
from lisptrace.ingest.layers import Layers, Ports, decode_layers
from lisptrace.ingest.reassembly import Reassembler
from lisptrace.kernels import block_cache

__all__ = ["BATCH_FRAMES", "ReadAhead", "Reading"]

BATCH_FRAMES = 65_536  # frames per batch at most (a batch is also at most one read chunk)

T = TypeVar("T")


class ReadAhead(Generic[T]):
    """Iterates ``items`` on a thread while the caller works on the ones before; at most
    ``depth`` items wait. An error surfaces in the caller, after the items before it. The
    thread's numpy arrays come from the block cache (:func:`lisptrace.kernels.block_cache`)."""

    def __init__(self, items: Iterable[T], depth: int = 2) -> None:
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(items,), name="lisptrace-reader", daemon=True
        )
        self._thread.start()

    def _run(self, items: Iterable[T]) -> None:
        try:
            with block_cache():
                for item in items:
                    if not self._put(("item", item)):
                        return
                    del item  # handed over: not held while the next is made
        except BaseException as exc:  # re-raised in the caller
            self._put(("error", exc))
            return
        self._put(("end", None))

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            what, value = self._queue.get()
            if what == "end":
                return
            if what == "error":
                raise value
            yield value
            del value  # not held while waiting for the next (its chunk may be unmapped)

    def close(self) -> None:
        """Stop the thread (it may be blocked on a full queue) and wait for it."""
        self._stop.set()
        self._thread.join()


class Reading:
    """Captures (one, or several merged by time) being read on a thread: iterate it once for
    ``(FrameBatch, Layers)`` pairs in frame order. Opening raises
    :class:`~lisptrace.ingest.capture.CaptureError` for an input that is not a capture.

    ``reassembler`` holds the fragments still waiting when the batches end (flush it then);
    ``captures`` are the open inputs (their warnings and cuts)."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        batch_frames: int = BATCH_FRAMES,
        ports: Ports | None = None,
    ) -> None:
        paths = [os.fspath(p) for p in paths]
        self.ports = ports or Ports()
        self.reassembler = Reassembler()
        self.captures: list[Capture]
        batches: Iterable[FrameBatch]
        if len(paths) == 1:  # no merge step: the same numbering
            self.captures = [open_capture(paths[0])]
            batches = self.captures[0].batches(batch_frames)
        else:
            merged = merge_captures(paths, max_frames=batch_frames)
            self.captures = merged.captures
            batches = merged
        # one batch waits while the next is read: with the batch being decoded, three chunks
        # are mapped at most (~100 MB); a deeper queue bought no speed (docs/performance.md)
        self._ahead = ReadAhead(self._layers(batches), depth=1)

    def _layers(self, batches: Iterable[FrameBatch]) -> Iterator[tuple[FrameBatch, Layers]]:
        for batch in batches:
            yield batch, decode_layers(batch, self.ports, self.reassembler)

    def __iter__(self) -> Iterator[tuple[FrameBatch, Layers]]:
        return iter(self._ahead)

    @property
    def warnings(self) -> list[str]:
        return [w for c in self.captures for w in c.warnings]

    @property
    def truncated(self) -> bool:
        """Whether an input was cut (or broke) before its end."""
        return any(c.truncated is not None for c in self.captures)

    def close(self) -> None:
        """Stop reading (at once if the batches were not all taken) and release the files."""
        self._ahead.close()
        for c in self.captures:
            c.close()
