"""Mobile IPv6 family codecs: Mobility Header and options (MIPv6, NEMO, FMIPv6, PMIPv6,
HMIPv6), the Type 2 Routing Header and Home Address option, and the RA MAP option."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public names and their submodules, imported on first use: the IPv6 extension headers
# (``dissectors.mip6.ext``), which every decode walks, do not pay for building the ~100
# Mobility Header and option classes, which only captures with Mobile IPv6 traffic need.
# Import ``dissectors.mip6.mh`` and ``.nd`` to register their anomaly codes.
_SUBMODULE = {
    "DestinationOptions": "ext",
    "HomeAddressOption": "ext",
    "Type2RoutingHeader": "ext",
    "checksum_addresses": "ext",
    "walk_ipv6": "ext",
    "MESSAGE_TYPES": "mh",
    "PMIP_STATUS_DIALECTS": "mh",
    "BindingAck": "mh",
    "BindingUpdate": "mh",
    "MobilityMessage": "mh",
    "parse_mh": "mh",
    "status_name": "mh",
    "suggest_dialect": "mh",
    "verify_checksum": "mh",
    "MapOption": "nd",
    "PrefixInformation": "nd",
    "RouterAdvertisement": "nd",
    "OPTION_TYPES": "options",
    "MobilityOption": "options",
    "RawOption": "options",
}

__all__ = [
    "MESSAGE_TYPES",
    "OPTION_TYPES",
    "PMIP_STATUS_DIALECTS",
    "BindingAck",
    "BindingUpdate",
    "DestinationOptions",
    "HomeAddressOption",
    "MapOption",
    "MobilityMessage",
    "MobilityOption",
    "PrefixInformation",
    "RawOption",
    "RouterAdvertisement",
    "Type2RoutingHeader",
    "checksum_addresses",
    "parse_mh",
    "status_name",
    "suggest_dialect",
    "verify_checksum",
    "walk_ipv6",
]


def __getattr__(name: str) -> Any:
    sub = _SUBMODULE.get(name)
    if sub is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{sub}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from dissectors.mip6.ext import (
        DestinationOptions,
        HomeAddressOption,
        Type2RoutingHeader,
        checksum_addresses,
        walk_ipv6,
    )
    from dissectors.mip6.mh import (
        MESSAGE_TYPES,
        PMIP_STATUS_DIALECTS,
        BindingAck,
        BindingUpdate,
        MobilityMessage,
        parse_mh,
        status_name,
        suggest_dialect,
        verify_checksum,
    )
    from dissectors.mip6.nd import MapOption, PrefixInformation, RouterAdvertisement
    from dissectors.mip6.options import OPTION_TYPES, MobilityOption, RawOption
