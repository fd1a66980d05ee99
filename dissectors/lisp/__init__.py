"""LISP control and data plane codecs (RFC 6830/6833 and RFC 9300/9301 side by side)."""

from dissectors.lisp import afi, lcaf

__all__ = ["afi", "lcaf"]
