"""Hypothesis strategies for valid Mobility Header messages, mobility options and RAs."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import strategies as st

from dissectors.mip6 import mh
from dissectors.mip6 import options as o
from dissectors.mip6._fields import Layout, layout_size
from dissectors.mip6.nd import MapOption, PrefixInformation, RawNdOption, RouterAdvertisement

ip6 = st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1))
ip4 = st.builds(ipaddress.IPv4Address, st.integers(0, 2**32 - 1))
_INTS = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}


def layout_strategy(layout: Layout, rest: st.SearchStrategy[bytes] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, name in layout:
        if kind in _INTS:
            out[name] = st.integers(0, 2 ** _INTS[kind] - 1)
        elif kind == "ip4":
            out[name] = ip4
        elif kind == "ip6":
            out[name] = ip6
        elif kind == "rest":
            out[name] = rest if rest is not None else st.binary(max_size=40)
        elif kind.startswith("bits"):
            for sub, bits in name:
                out[sub] = st.booleans() if bits == 1 else st.integers(0, 2**bits - 1)
        else:
            out[name] = st.binary(min_size=int(kind[1:]), max_size=int(kind[1:]))
    return out


def _layout_option(cls: type[o.MobilityOption]) -> st.SearchStrategy[o.MobilityOption]:
    fixed = layout_size(tuple(i for i in cls.LAYOUT if i[0] != "rest")) or 0
    rest = st.binary(min_size=max(0, cls.MIN_LEN - fixed), max_size=40)
    return st.builds(cls, **layout_strategy(cls.LAYOUT, rest))


_SPECIAL: dict[int, st.SearchStrategy[o.MobilityOption]] = {
    33: st.builds(
        o.GreKey, reserved=st.integers(0, 0xFFFF), gre_key=st.none() | st.integers(0, 2**32 - 1)
    ),
    35: st.builds(
        o.BindingIdentifier,
        **layout_strategy(
            o.BindingIdentifier.LAYOUT,
            st.sampled_from([b""])
            | st.binary(min_size=4, max_size=4)
            | st.binary(min_size=16, max_size=16),
        ),
    ),
    41: st.builds(
        o.LmaAddress, **layout_strategy(o.LmaAddress.LAYOUT, st.binary(min_size=4, max_size=16))
    ),
    44: st.builds(
        o.FlowSummary,
        flow_identifiers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8).map(tuple),
    ),
    47: st.builds(
        lambda k, n, res, v6, v4: o.Redirect(
            k=k, n=n, reserved=res, r2lma_ipv6=v6 if k else None, r2lma_ipv4=v4 if n else None
        ),
        st.booleans(),
        st.booleans(),
        st.integers(0, 0x3FFF),
        ip6,
        ip4,
    ).filter(lambda r: r.k or r.n),  # RFC 6463: at least one r2LMA address
    55: st.builds(
        o.DelegatedMobileNetworkPrefix,
        **layout_strategy(
            o.DelegatedMobileNetworkPrefix.LAYOUT,
            st.binary(min_size=4, max_size=4) | st.binary(min_size=16, max_size=16),
        ),
    ),
}


def option_strategy() -> st.SearchStrategy[o.MobilityOption]:
    choices = [st.just(o.Pad1())]
    for t, cls in sorted(o.OPTION_TYPES.items()):
        special = _SPECIAL.get(t)
        choices.append(special if special is not None else _layout_option(cls))
    raw = st.builds(
        o.RawOption,
        type_value=st.integers(56, 255),
        data=st.binary(max_size=20),
    )
    return st.one_of(*choices, raw)


options = option_strategy()


def _message(cls: type[mh.MobilityMessage]) -> st.SearchStrategy[mh.MobilityMessage]:
    common: dict[str, Any] = {
        "payload_proto": st.just(59) | st.integers(0, 255),
        "header_reserved": st.integers(0, 255),
        "checksum": st.integers(0, 0xFFFF),
    }
    if cls is mh.HomeAgentSwitch:
        body: dict[str, Any] = {
            "reserved": st.integers(0, 255),
            "home_agent_addresses": st.lists(ip6, max_size=3).map(tuple),
        }
    elif cls is mh.ExperimentalMessage:
        body = {
            "data": st.integers(0, 3).flatmap(
                lambda k: st.binary(min_size=8 * k + 2, max_size=8 * k + 2)
            )
        }
    else:
        body = layout_strategy(cls.LAYOUT)
    if cls.HAS_OPTIONS:
        body["options"] = st.lists(options, max_size=4).map(tuple)
    return st.builds(cls, **common, **body).map(lambda m: m.padded())


messages = st.one_of(
    *[_message(cls) for _, cls in sorted(mh.MESSAGE_TYPES.items())],
    st.builds(
        mh.UnknownMessage,
        type_value=st.integers(19, 255),
        checksum=st.integers(0, 0xFFFF),
        data=st.integers(0, 2).flatmap(lambda k: st.binary(min_size=8 * k + 2, max_size=8 * k + 2)),
    ),
)

map_options = st.builds(
    MapOption,
    dist=st.integers(1, 15),
    pref=st.integers(0, 15),
    r=st.booleans(),
    reserved=st.just(0),
    valid_lifetime=st.integers(0, 2**32 - 1),
    map_address=ip6,
)

nd_options = st.one_of(
    map_options,
    st.builds(PrefixInformation, **layout_strategy(PrefixInformation.LAYOUT)),
    st.builds(
        RawNdOption,
        type_value=st.integers(1, 255).filter(lambda t: t not in (3, 23)),
        data=st.integers(0, 2).flatmap(lambda k: st.binary(min_size=8 * k + 6, max_size=8 * k + 6)),
    ),
)

router_advertisements = st.builds(
    RouterAdvertisement,
    code=st.integers(0, 255),
    checksum=st.integers(0, 0xFFFF),
    options=st.lists(nd_options, max_size=4).map(tuple),
    **layout_strategy(RouterAdvertisement.LAYOUT),
)
