"""Hypothesis round trips and robustness (prefixes, mutations) for the MIPv6 family codecs."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings

from dissectors.core import DecodeError, Reader
from dissectors.mip6 import mh
from dissectors.mip6 import options as o
from dissectors.mip6.ext import DestinationOptions, Type2RoutingHeader, walk_ipv6
from dissectors.mip6.mh import parse_mh
from dissectors.mip6.nd import MapOption, RouterAdvertisement
from tests.dissectors.mip6.strategies import map_options, messages, options, router_advertisements
from tests.dissectors.mip6.test_mip6_tshark import message_cases, ra_cases
from tests.dissectors.mip6.test_nd_ext import DSTOPTS, MAP, RA, RH2
from tests.support.mutate import fuzz
from tests.support.robustness import assert_prefixes_truncated

BCC = 200


@settings(max_examples=200, deadline=None)
@given(messages)
def test_message_round_trip(m: mh.MobilityMessage) -> None:
    raw = m.build()
    back = parse_mh(raw)
    assert back == m
    assert back.build() == raw


@settings(max_examples=200, deadline=None)
@given(options)
def test_option_round_trip(opt: o.MobilityOption) -> None:
    raw = opt.build()
    back = o.MobilityOption.parse(raw)
    if isinstance(opt, o.RawOption):  # an unknown type stays raw
        assert (back.opt_type, back.build()) == (opt.opt_type, raw)
    else:
        assert back == opt
    assert back.build() == raw


@settings(max_examples=100, deadline=None)
@given(router_advertisements)
def test_ra_round_trip(ra: RouterAdvertisement) -> None:
    raw = ra.build()
    assert RouterAdvertisement.parse(raw) == ra
    assert RouterAdvertisement.parse(raw).build() == raw


@settings(max_examples=100, deadline=None)
@given(map_options)
def test_map_round_trip(m: MapOption) -> None:
    assert MapOption.parse(m.build()) == m


@settings(max_examples=100, deadline=None)
@given(messages)
def test_checksum_round_trip(m: mh.MobilityMessage) -> None:
    src, dst = "2001:db8::1", "2001:db8:ffff::2"
    fixed = m.with_checksum(src, dst)
    assert parse_mh(fixed.build(), src=src, dst=dst).checksum_ok


def _samples() -> list[bytes]:
    out = [m.build("2001:db8::1", "2001:db8::2") for m in message_cases().values()]
    return out


def test_every_prefix_is_truncated() -> None:
    for raw in _samples():
        assert_prefixes_truncated(lambda d: parse_mh(d, bcc_type=BCC), raw, strict=True)


def test_every_prefix_of_ra_map_rh2_dstopts() -> None:
    parsers: list[tuple[bytes, Callable[[bytes], object]]] = [
        (RA, RouterAdvertisement.parse),
        (MAP, MapOption.parse),
        (RH2, Type2RoutingHeader.parse),
        (DSTOPTS, DestinationOptions.parse),
    ]
    for raw, parse in parsers:
        for n in range(len(raw)):
            try:
                value = parse(raw[:n])
            except DecodeError:
                continue
            # an RA cut at an option boundary is still an RA, with fewer options
            assert parse == RouterAdvertisement.parse, (raw.hex(), n)
            assert value is not None


def _fuzz(parse: Callable[[bytes], object], seeds: list[bytes], n: int) -> None:
    fuzz(parse, seeds, n, seed=1234)


def test_mutations_raise_only_decode_errors() -> None:
    seeds = _samples()
    _fuzz(lambda d: parse_mh(d, src="::1", dst="::2", bcc_type=BCC), seeds, 4000)
    _fuzz(lambda d: o.read_options(Reader(d), BCC), [s[12:] for s in seeds if len(s) > 12], 2000)
    ras = [ra.build() for ra in ra_cases().values()] + [RA]
    _fuzz(lambda d: RouterAdvertisement.parse(d, src="fe80::1", dst="ff02::1"), ras, 2000)
    _fuzz(MapOption.parse, [MAP], 1000)
    _fuzz(Type2RoutingHeader.parse, [RH2], 1000)
    _fuzz(DestinationOptions.parse, [DSTOPTS], 1000)
    pkt = bytes.fromhex("6000000000203c40") + bytes(32) + DSTOPTS[:1] + b"\x00" + DSTOPTS[2:8]
    _fuzz(walk_ipv6, [pkt + bytes(24)], 2000)
