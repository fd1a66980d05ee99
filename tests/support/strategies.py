"""Hypothesis strategies for the LISP codec tests: integers, addresses, locators, EID-records
and the Map-Register / Map-Notify pieces."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from dissectors.lisp.afi import Address, DistinguishedName, IPv4, IPv6, Mac, NoAddress
from dissectors.lisp.lcaf import AfiList, InstanceId, NullLcaf
from dissectors.lisp.records import EidRecord, Locator

# -- integers --------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)

# -- addresses -------------------------------------------------------------------------------

ipv4s = st.builds(IPv4, st.builds(ipaddress.IPv4Address, u32))
ipv6s = st.builds(IPv6, st.builds(ipaddress.IPv6Address, st.integers(0, 2**128 - 1)))
ips: st.SearchStrategy[Address] = st.one_of(ipv4s, ipv6s)
macs = st.builds(Mac, st.binary(min_size=6, max_size=6), st.sampled_from([6, 16389]))
names = st.builds(DistinguishedName, st.binary(max_size=30).map(lambda b: b.replace(b"\x00", b"x")))
instance_ids = st.builds(
    lambda iid, inner, ml: InstanceId(iid=iid, address=inner, rsvd2=ml), u32, ips, u8
)
# every AFI but LCAF
simple_addresses: st.SearchStrategy[Address] = st.one_of(ips, macs, names, st.just(NoAddress()))
# plus the LCAFs a record commonly carries (IID, Null, AFI list)
addresses: st.SearchStrategy[Address] = st.one_of(
    simple_addresses,
    instance_ids,
    st.builds(lambda: NullLcaf()),
    st.builds(lambda items: AfiList(addresses=tuple(items)), st.lists(ips, max_size=3)),
)

# -- locators and EID-records ----------------------------------------------------------------


def _locators(address: st.SearchStrategy[Address]) -> st.SearchStrategy[Locator]:
    """Locators of ``address`` with every field and flag drawn."""
    return st.builds(
        Locator,
        address,
        u8,
        u8,
        u8,
        u8,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.integers(0, 0x1FFF).map(lambda v: v << 3),
    )


locators = _locators(addresses)
ip_locators = _locators(ips)


def eid_records(locator_count: int = 3) -> st.SearchStrategy[EidRecord]:
    """EID-records of any address (mask-length any byte), up to ``locator_count`` locators."""
    return st.builds(
        EidRecord,
        addresses,
        u8,
        st.lists(locators, max_size=locator_count).map(tuple),
        u32,
        st.integers(0, 7),
        st.booleans(),
        st.integers(0, 0xFFF),
        st.integers(0, 0xF),
        st.integers(0, 0xFFF),
    )


@st.composite
def ip_eid_records(draw: st.DrawFn) -> EidRecord:
    """EID-records of an IPv4/IPv6 prefix with a mask-length that fits it and IP locators."""
    eid = draw(ips)
    bits = 32 if isinstance(eid, IPv4) else 128
    return EidRecord(
        eid,
        draw(st.integers(0, bits)),
        tuple(draw(st.lists(ip_locators, max_size=3))),
        draw(u32),
        draw(st.integers(0, 7)),
        draw(st.booleans()),
        draw(st.integers(0, 0xFFF)),
        draw(st.integers(0, 0xF)),
        draw(st.integers(0, 0xFFF)),
    )


ip_record_tuples = st.lists(ip_eid_records(), max_size=3).map(tuple)

# -- Map-Register / Map-Notify pieces --------------------------------------------------------

auth_data = st.binary(max_size=40)
# None, or an (xTR-ID, Site-ID) pair
xtr_ids = st.one_of(
    st.none(), st.tuples(st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8))
)
