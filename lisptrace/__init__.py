"""lisptrace: Wireshark-style analysis and traffic replay for LISP Mobile Node traffic."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lisptrace.tables.dataset import Decoded

__version__ = "0.1.0"


def open(path: str | os.PathLike[str], *, keys: str | os.PathLike[str] | None = None) -> Decoded:
    """Open a decoded output directory (``lisptrace decode CAPTURE -o DIR``), or decode a
    capture file (pcap, pcapng, gzip) into a temporary one, removed when the returned object
    is garbage-collected; ``keys``: a key file to verify HMACs with, as ``--keys``.

    Returns a :class:`lisptrace.tables.Decoded`: ``.packets``, ``.control``, ... as Arrow
    (see docs/tables.md) and ``.manifest``. pyarrow is imported only when this is called.
    Raises :class:`lisptrace.tables.NotDecodedError` for a directory that is not a decoded
    output (or a missing path), :class:`lisptrace.ingest.capture.CaptureError` for a file
    that is not a capture (one-line messages both).
    """
    from lisptrace.tables.dataset import open_decoded

    if not os.path.isfile(path):
        return open_decoded(path)
    import shutil
    import tempfile
    import weakref

    from lisptrace.ingest.decode import decode
    from lisptrace.ingest.keys import load_keys

    ring = None if keys is None else load_keys(keys)
    out = tempfile.mkdtemp(prefix="lisptrace-")
    try:
        decode(path, out, keys=ring)
        decoded = open_decoded(out)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    weakref.finalize(decoded, shutil.rmtree, out, True)
    return decoded
