"""Robustness checks shared by the codec tests: truncation and random mutation.

* :func:`assert_prefixes_truncated` - every proper prefix of a valid message raises
  ``Truncated`` (or, unless ``strict``, decodes with anomalies);
* :func:`assert_mutations_safe` - mutants of a valid message (see :mod:`tests.support.mutate`)
  raise nothing but ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Callable

from dissectors.core import Truncated
from tests.support.mutate import FuzzStats, fuzz


def assert_prefixes_truncated(
    parse: Callable[[bytes], object], data: bytes, *, strict: bool = False
) -> None:
    """Every proper prefix of ``data`` raises Truncated; without ``strict`` a prefix may also
    decode, but then it must carry an anomaly."""
    for n in range(len(data)):
        try:
            value = parse(data[:n])
        except Truncated:
            continue
        assert not strict, f"prefix of {n} bytes did not raise Truncated"
        assert getattr(value, "anomalies", ()), f"prefix of {n} bytes decoded silently"


def assert_mutations_safe(
    parse: Callable[[bytes], object], data: bytes, count: int = 3000, seed: int = 1
) -> FuzzStats:
    """``count`` mutants of ``data`` (bit flips, byte changes, cuts, insertions, deletions,
    lying lengths) raise nothing but DecodeError in ``parse``."""
    return fuzz(parse, [data], count, seed)
