"""The optional compiled kernels of the decode's hot loops (C extensions, docs/performance.md).

``load(name)`` returns the extension module, or None when it was not built (the machine had no
C compiler when the project was installed) or when the environment sets ``LISPTRACE_PURE=1``.
Every kernel has a numpy twin that computes the same columns: the decode falls back to it, and
the tests compare the two on every capture and on fuzzed frames.

``block_cache()`` has numpy's large arrays allocated from ``lisptrace._blocks`` (a cache of
freed blocks by size class) in the calling thread, for the duration of a ``with`` block (the
cached blocks are unmapped when the last such block ends); without that extension it changes
nothing.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Iterator
from types import ModuleType


def load(name: str) -> ModuleType | None:
    if os.environ.get("LISPTRACE_PURE"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_cache_users = 0
_cache_users_lock = threading.Lock()


@contextlib.contextmanager
def block_cache() -> Iterator[None]:
    """numpy arrays created in this thread inside the block come from the block cache (numpy
    keeps its allocator per thread: each of the decode's threads enters this itself). When the
    last block open in any thread ends, the cached blocks are unmapped: a process that decoded
    once does not keep them."""
    global _cache_users
    blocks = load("lisptrace._blocks")
    if blocks is None:
        yield
        return
    with _cache_users_lock:
        _cache_users += 1
    previous = blocks.install()
    try:
        yield
    finally:
        blocks.restore(previous)
        with _cache_users_lock:
            _cache_users -= 1
            if _cache_users == 0:
                blocks.trim()
