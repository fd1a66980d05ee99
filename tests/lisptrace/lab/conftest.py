"""Fixtures for the lab tests: a topology that is always torn down, and a guard that no
namespace of this test run survives the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lisptrace.lab.netns import Topology, cleanup, detect, ours

AVAILABILITY = detect()
needs_netns = pytest.mark.skipif(not AVAILABILITY.netns, reason=AVAILABILITY.reason)


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers() -> Iterator[None]:
    if AVAILABILITY.netns:
        cleanup()  # leftovers of killed earlier runs
    yield
    if AVAILABILITY.netns:
        import os

        mine = [ns for ns in ours(force=True) if ns.split("-")[1] == str(os.getpid())]
        assert mine == [], f"namespaces left behind: {mine}"


@pytest.fixture
def topo() -> Iterator[Topology]:
    if not AVAILABILITY.netns:
        pytest.skip(AVAILABILITY.reason)
    with Topology() as t:
        yield t


@pytest.fixture
def routed(topo: Topology) -> Topology:
    """a (198.18.1.2) -- r -- b (198.18.2.2); a also has a second, down link eth1 to r
    (198.18.3.2) to roam to, and IPv6 on the first segments (2001:db8:1::/64, :2::/64)."""
    a, r, b = topo.add_host("a"), topo.add_router("r"), topo.add_host("b")
    topo.link(
        a,
        r,
        a_addr=["198.18.1.2/24", "2001:db8:1::2/64"],
        b_addr=["198.18.1.1/24", "2001:db8:1::1/64"],
    )
    topo.link(
        b,
        r,
        a_addr=["198.18.2.2/24", "2001:db8:2::2/64"],
        b_addr=["198.18.2.1/24", "2001:db8:2::1/64"],
    )
    topo.link(a, r, a_addr="198.18.3.2/24", b_addr="198.18.3.1/24", a_up=False)
    a.add_route("default", via="198.18.1.1")
    a.add_route("default", via="2001:db8:1::1")
    b.add_route("default", via="198.18.2.1")
    b.add_route("default", via="2001:db8:2::1")
    topo.settle()
    return topo
