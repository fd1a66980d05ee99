"""The reference LISP stack: sans-I/O roles (see :mod:`lisptrace.stack.role`) and one asyncio
UDP adapter that puts any role on real sockets."""
