"""LISP control and data plane codecs (RFC 6830/6833 and RFC 9300/9301 side by side).

Importing this package registers every LCAF type and control message type, so
:func:`parse_control` decodes anything the package knows.
"""

from dissectors.lisp import (
    afi,
    auth,
    data,
    ecm,
    info,
    lcaf,
    map_notify,
    map_referral,
    map_register,
    map_reply,
    map_request,
    records,
)
from dissectors.lisp.message import parse_control

__all__ = [
    "afi",
    "auth",
    "data",
    "ecm",
    "info",
    "lcaf",
    "map_notify",
    "map_referral",
    "map_register",
    "map_reply",
    "map_request",
    "parse_control",
    "records",
]
