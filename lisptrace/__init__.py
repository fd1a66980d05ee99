"""lisptrace: Wireshark-style analysis and traffic replay for LISP Mobile Node traffic."""

__version__ = "0.1.0"
