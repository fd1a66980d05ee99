"""Codecs for LISP, LISP-MN and the Mobile IPv6 family: bytes to typed values and back.

No I/O, no Arrow, no printing: see :mod:`dissectors.core` for the conventions every codec keeps.
"""

from dissectors.core import Anomaly, DecodeError, Malformed, Reader, Truncated, Value

__all__ = ["Anomaly", "DecodeError", "Malformed", "Reader", "Truncated", "Value"]
