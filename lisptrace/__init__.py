"""lisptrace: Wireshark-style analysis and traffic replay for LISP Mobile Node traffic."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lisptrace.tables.dataset import Decoded

__version__ = "0.1.0"


def open(path: str | os.PathLike[str]) -> Decoded:
    """Open a decoded output directory (``lisptrace decode CAPTURE -o DIR``).

    Returns a :class:`lisptrace.tables.Decoded`: ``.packets``, ``.control``, ... as Arrow
    (see docs/tables.md) and ``.manifest``. pyarrow is imported only when this is called.
    """
    from lisptrace.tables.dataset import open_decoded

    return open_decoded(path)
