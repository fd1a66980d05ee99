"""The optional compiled kernels of the decode's hot loops (C extensions, docs/performance.md).

``load(name)`` returns the extension module, or None when it was not built (the machine had no
C compiler when the project was installed) or when the environment sets ``LISPTRACE_PURE=1``.
Every kernel has a numpy twin that computes the same columns: the decode falls back to it, and
the tests compare the two on every capture and on fuzzed frames.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def load(name: str) -> ModuleType | None:
    if os.environ.get("LISPTRACE_PURE"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
