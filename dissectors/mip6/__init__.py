"""Mobile IPv6 family codecs: Mobility Header and options (MIPv6, NEMO, FMIPv6, PMIPv6,
HMIPv6), the Type 2 Routing Header and Home Address option, and the RA MAP option."""

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
