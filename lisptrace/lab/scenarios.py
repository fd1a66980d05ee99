"""Lab scenarios: a mobile node roaming in namespaces, with real roles, traffic and captures.

A :class:`Scenario` is a small declarative description; :func:`run_scenario` turns it into a
topology of namespaces, role configurations (TOML), role processes
(``python -m lisptrace.stack.serve``), application traffic, captures at vantage points and a
:class:`~lisptrace.lab.manifest.Manifest` of what happened::

    python -m lisptrace.lab clean-roam --out /tmp/lab     # -> clean-roam-{mn,ms,core}.pcapng
                                                        #    + clean-roam.manifest.json

The fixed topology every scenario draws from (all underlay addresses in 198.18.0.0/15, the
benchmarking range; EIDs in 10/8, which the core never routes: only LISP carries them)::

    mn1 eth0 198.18.11.2 ----+                       +---- xtr 198.18.2.2 == cn 10.2.0.2
    mn1 eth1 198.18.21.2 ----+                       |     (LISP site 10.2.0.0/24)
    [mn2 eth0 198.18.12.2 ---+-------- core ---------+---- ms 198.18.3.2 (Map-Server [+PETR])
    [mn2 eth1 198.18.22.2 ---+       (router)        |        198.18.3.3 (Map-Resolver)
                                                     +---- [pitr 198.18.5.2 == nl 198.51.100.10]
                                                     +---- [rtr 198.18.6.2]
    [mn1 eth0 192.168.11.2 == nat1 198.18.31.2 ---- core]   (nat-traversal: source NAT)
    [mn1 eth0 192.0.2.2 == sxtr 198.18.7.2 ---- core]       (square-routing: inside a LISP site)

* mobile node *i*: EID ``10.9.0.i`` on a TUN device, two access links (``eth0`` up,
  ``eth1`` down until the roam), Map-Server 198.18.3.2, Map-Resolver 198.18.3.3;
* ``ms``: one process with the Map-Server and a co-located Map-Resolver, or (``petr``) a PETR
  process with the Map-Server as its registration view plus a Map-Resolver process pointing
  at it;
* ``xtr`` + ``cn``: a LISP site whose xTR (TUN device) serves the correspondent node ``cn``;
* ``pitr`` + ``nl``: a non-LISP host behind a router that is the PITR.

The run: build the topology -> start the captures -> start the roles (each waits for its
``serve-started``), wait for the registrations -> start the apps (one TCP connection that must
survive the hand-over, one UDP stream measuring loss) -> let traffic settle -> roam -> keep the
traffic going -> stop apps, roles, captures -> merge the mobile node's two access-link captures
-> write ``NAME-VANTAGE.pcapng`` and ``NAME.manifest.json``.

Adding a scenario: append a :class:`Scenario` to :data:`SCENARIOS` (see docs/lab.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lisptrace.lab.apps import App, start_app
from lisptrace.lab.capture import Capture, CaptureResult
from lisptrace.lab.manifest import (
    CaptureInfo,
    Flow,
    HostInfo,
    Manifest,
    Registration,
    RoamEvent,
)
from lisptrace.lab.netns import Change, Host, LabError, Topology, detect

KEY = "lisptrace-lab-key"
MS_ADDRESS = "198.18.3.2"
MR_ADDRESS = "198.18.3.3"
XTR_RLOC = "198.18.2.2"
PITR_RLOC = "198.18.5.2"
RTR_RLOC = "198.18.6.2"
SXTR_RLOC = "198.18.7.2"  # the xTR of the LISP site hosting a mobile node (square routing)
SQ_PREFIX = "192.0.2.0/24"  # that site's EID-prefix: the mobile node's RLOC is one of them
NAT_PUBLIC = "198.18.31.2"  # the NAT's outside address (mobile node i: 198.18.3{i}.2)
CN_EID = "10.2.0.2"
CN_PREFIX = "10.2.0.0/24"
MN_PREFIX = "10.9.0.0/24"
NL_ADDRESS = "198.51.100.10"
NL_PREFIX = "198.51.100.0/24"
ROGUE_EID = "10.9.0.99"
TCP_PORT = 7001
UDP_PORT = 7002
LATE_REGISTER_DELAY = 4.0  # seconds: the late-register fault's N in the lab


# -- the description ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MobileSpec:
    """A mobile node: its index (EID ``10.9.0.i``), and how it is configured."""

    index: int = 1
    proxy_reply: bool = False
    multihoming: str = "active-passive"
    both_up: bool = False  # multihomed: eth1 up from the start
    faults: tuple[str, ...] = ()
    petr: bool = False  # use the PETR (negative replies)
    nat: bool = False  # access link 0 behind a source-NAT router (192.168.1i.0/24)
    in_site: bool = False  # access link 0 inside the LISP site 192.0.2.0/24 (square routing)

    @property
    def nat_public(self) -> str:
        """The NAT's outside address (link 0 of a NATed node)."""
        return f"198.18.{30 + self.index}.2"

    @property
    def name(self) -> str:
        return f"mn{self.index}"

    @property
    def eid(self) -> str:
        return f"10.9.0.{self.index}"

    def access(self, link: int) -> tuple[str, str]:
        """(address/len, gateway) of access link 0 or 1 (link 0 of a NATed node: RFC 1918)."""
        net = 10 * (link + 1) + self.index
        if link == 0 and self.nat:
            return f"192.168.{net}.2/24", f"192.168.{net}.1"
        if link == 0 and self.in_site:
            return f"192.0.2.{1 + self.index}/24", "192.0.2.1"
        return f"198.18.{net}.2/24", f"198.18.{net}.1"


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One application flow: ``kind`` tcp/udp from client host to server host (EIDs)."""

    kind: str
    client: str
    server: str
    must_survive: bool = True
    max_loss: int | None = None


@dataclass(frozen=True, slots=True)
class Inject:
    """Something a misbehaving third party sends during the run (so that a fault shows):
    ``bad-register`` (a Map-Register signed with a wrong key, for another EID of the site)
    or ``spoofed-data`` (LISP data with the MN's EID as inner source from an unregistered
    RLOC, to the PETR)."""

    kind: str
    at: float = 1.0  # seconds after the apps started


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    mobiles: tuple[MobileSpec, ...] = (MobileSpec(),)
    site: bool = True  # the LISP site xtr + cn
    nonlisp: bool = False  # the PITR + non-LISP host, and the PETR on the ms host
    flows: tuple[FlowSpec, ...] = (
        FlowSpec("tcp", "cn", "mn1"),
        FlowSpec("udp", "cn", "mn1", max_loss=50),
    )
    roam: str = "move-link"  # move-link | renumber | link-down | none
    roam_hosts: tuple[str, ...] = ("mn1",)
    ms_faults: tuple[str, ...] = ()
    xtr_faults: tuple[str, ...] = ()
    petr_faults: tuple[str, ...] = ()
    injects: tuple[Inject, ...] = ()
    violations: tuple[str, ...] = ()
    settle: float = 2.5  # seconds of traffic before the roam
    after: float = 4.0  # seconds of traffic after it
    core_vantage: str = "xtr"  # the core router's link captured: to "xtr", "pitr", "mn2", "ms"
    notes: tuple[str, ...] = ()
    rtr: bool = False  # an RTR (198.18.6.2) offered by the Map-Server in its Info-Replies

    @property
    def faults(self) -> list[str]:
        out = [f"map-server:{f}" for f in self.ms_faults]
        out += [f"xtr:{f}" for f in self.xtr_faults]
        out += [f"petr:{f}" for f in self.petr_faults]
        for m in self.mobiles:
            out += [f"{m.name}:{f}" for f in m.faults]
        return out

    @property
    def duration(self) -> float:
        return self.settle + self.after


def _variant(base: Scenario, name: str, description: str, **changes: Any) -> Scenario:
    return dataclasses.replace(base, name=name, description=description, **changes)


def _faulty_mn(base: Scenario, fault: str) -> tuple[MobileSpec, ...]:
    first, *rest = base.mobiles
    return (dataclasses.replace(first, faults=(*first.faults, fault)), *rest)


CLEAN_ROAM = Scenario(
    "clean-roam",
    "A mobile node roams from one access link to another while a correspondent node behind "
    "an xTR keeps a TCP connection and a UDP stream to its EID.",
)
BOTH_ROAM = Scenario(
    "both-roam",
    "Two mobile nodes talk to each other and both roam, one right after the other "
    "(LISP-MN draft 7.3.2).",
    mobiles=(MobileSpec(1), MobileSpec(2)),
    site=False,
    flows=(FlowSpec("tcp", "mn2", "mn1"), FlowSpec("udp", "mn2", "mn1", max_loss=100)),
    roam_hosts=("mn1", "mn2"),
    core_vantage="mn2",
)
PETR = Scenario(
    "petr",
    "A mobile node talks to a non-LISP host: out through the PETR (after a negative "
    "Map-Reply), back through the PITR; it roams.",
    mobiles=(MobileSpec(petr=True),),
    site=False,
    nonlisp=True,
    flows=(FlowSpec("tcp", "nl", "mn1"), FlowSpec("udp", "nl", "mn1", max_loss=50)),
    core_vantage="pitr",
)
MULTIHOMED = Scenario(
    "multihomed",
    "A mobile node with both interfaces up (active/active, equal priorities); one goes down.",
    mobiles=(MobileSpec(multihoming="active-active", both_up=True),),
    roam="link-down",
)
PROXY_REPLY = Scenario(
    "proxy-reply",
    "A mobile node registers with the proxy-Map-Reply bit; the Map-Server answers for it "
    "(non-authoritative); it roams.",
    mobiles=(MobileSpec(proxy_reply=True),),
)
SQUARE_ROUTING = Scenario(
    "square-routing",
    "LISP-MN 7.1.1: the mobile node's first access link is inside a LISP site (its RLOC "
    "192.0.2.2 is an EID of that site), so its traffic is LISP-in-LISP: the site's xTR "
    "encapsulates the node's encapsulated packets to the PETR, and the PITR that attracts "
    "the site's EID-prefix in the core encapsulates the packets for the node's RLOC to the "
    "site's xTR (outer, middle and inner headers); it roams to a link outside the site.",
    mobiles=(MobileSpec(in_site=True),),
    nonlisp=True,
    notes=(
        "square routing: outer = site xTR 198.18.7.2 <-> PETR 198.18.3.2 / PITR 198.18.5.2, "
        "middle = the node's RLOC 192.0.2.2 <-> the correspondent's xTR 198.18.2.2, inner = "
        "10.9.0.1 <-> 10.2.0.2; the node's control messages to and from the Map-Server ride "
        "the same way (through the PETR out, the PITR back)",
        "the core routes 192.0.2.0/24 to the PITR (it attracts the site's EIDs); the site's xTR "
        "sends everything its hosts send into its TUN (policy route) and uses the PETR for "
        "non-LISP destinations",
    ),
)
NAT_TRAVERSAL = Scenario(
    "nat-traversal",
    "A NAT-aware mobile node starts behind a source NAT (its access link is RFC 1918 space): "
    "Info-Request to the Map-Server, NAT detected, registration through the RTR, the "
    "correspondent reaches it through the RTR; it then roams to a link without NAT and "
    "registers directly.",
    mobiles=(MobileSpec(nat=True),),
    rtr=True,
    notes=(
        "nat: the NAT namespace masquerades (nftables) the mobile node's 192.168.11.0/24 "
        "behind 198.18.31.2; Linux keeps the source ports (4341/4342) where it can, so the "
        "translation is of the address (the Info-Reply's ETR port is still 4342)",
        "before the roam the node's locator at the Map-Server is the RTR (198.18.6.2); after "
        "it, the node's own public RLOC",
    ),
)
RENUMBER = Scenario(
    "renumber",
    "A mobile node is renumbered on the same access link (a new address, the old one gone).",
    roam="renumber",
)


# The correspondent's TCP connection and UDP stream to the mobile node, neither required to
# survive: for faults that break the hand-over (or reachability) on purpose.
FLOWS_MAY_BREAK = (FlowSpec("tcp", "cn", "mn1", False), FlowSpec("udp", "cn", "mn1", False))


def _fault_scenarios() -> list[Scenario]:
    out = [
        _variant(
            CLEAN_ROAM,
            "fault-no-smr",
            "clean-roam, the mobile node sends no SMR after its roam.",
            mobiles=_faulty_mn(CLEAN_ROAM, "no-smr"),
            flows=FLOWS_MAY_BREAK,
            violations=("MN-SMR-REQUIRED",),
        ),
        _variant(
            CLEAN_ROAM,
            "fault-long-ttl",
            "clean-roam, the mobile node advertises a TTL of 1440 minutes.",
            mobiles=_faulty_mn(CLEAN_ROAM, "long-ttl"),
            violations=("MN-TTL-SHORT",),
        ),
        _variant(
            CLEAN_ROAM,
            "fault-late-register",
            f"clean-roam, the mobile node registers only {LATE_REGISTER_DELAY:g} s after its roam.",
            mobiles=_faulty_mn(CLEAN_ROAM, "late-register"),
            flows=FLOWS_MAY_BREAK,
            after=LATE_REGISTER_DELAY + 3.0,
            violations=("MN-REG-IMMEDIATE",),
        ),
        _variant(
            CLEAN_ROAM,
            "fault-no-cache-clear",
            "clean-roam, the mobile node keeps its map-cache across the roam.",
            mobiles=_faulty_mn(CLEAN_ROAM, "no-cache-clear"),
            violations=("MN-CACHE-CLEAR",),
        ),
        _variant(
            PETR,
            "fault-petr-decap-any",
            "petr, the PETR decapsulates a packet from an RLOC nobody registered.",
            petr_faults=("petr-decap-any",),
            injects=(Inject("spoofed-data", 1.0),),
            violations=("PETR-NO-DECAP-UNREG",),
            core_vantage="ms",
        ),
        _variant(
            CLEAN_ROAM,
            "fault-accept-bad-auth",
            "clean-roam, the Map-Server accepts a Map-Register with a wrong HMAC (sent by a "
            f"third party for {ROGUE_EID}).",
            ms_faults=("accept-bad-auth",),
            injects=(Inject("bad-register", 1.0),),
            violations=("MS-REG-BAD-HMAC",),
        ),
        _variant(
            PROXY_REPLY,
            "fault-authoritative-proxy-reply",
            "proxy-reply, the Map-Server sets the A bit in its proxy Map-Replies.",
            ms_faults=("authoritative-proxy-reply",),
            violations=("MS-PROXY-NONAUTH",),
        ),
        _variant(
            PROXY_REPLY,
            "fault-forward-despite-proxy",
            "proxy-reply, the Map-Server forwards the Map-Request to the mobile node anyway.",
            ms_faults=("forward-despite-proxy",),
            violations=("MS-PROXY-NO-FORWARD",),
        ),
        _variant(
            CLEAN_ROAM,
            "fault-ignore-smr",
            "clean-roam, the correspondent's xTR ignores the SMR.",
            xtr_faults=("ignore-smr",),
            flows=FLOWS_MAY_BREAK,
            violations=("PEER-SMR-INVOKED",),
        ),
        _variant(
            NAT_TRAVERSAL,
            "fault-nat-private-rloc",
            "nat-traversal, the mobile node (`private-rloc`) registers its private RFC 1918 "
            "address directly through the NAT instead of going through the RTR.",
            mobiles=_faulty_mn(NAT_TRAVERSAL, "private-rloc"),
            flows=FLOWS_MAY_BREAK,
            violations=("MN-NO-PRIVATE-RLOC",),
        ),
        _variant(
            CLEAN_ROAM,
            "fault-private-rloc",
            "clean-roam, the correspondent's xTR registers and replies with an RFC 1918 RLOC "
            "(a usable locator, at its public RLOC's priority and weight): flows the mobile "
            "node hashes onto that unreachable RLOC are lost, so no flow must survive.",
            xtr_faults=("private-rloc",),
            flows=FLOWS_MAY_BREAK,
            violations=("MN-NO-PRIVATE-RLOC",),
        ),
    ]
    return out


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        CLEAN_ROAM,
        BOTH_ROAM,
        PETR,
        MULTIHOMED,
        PROXY_REPLY,
        RENUMBER,
        NAT_TRAVERSAL,
        SQUARE_ROUTING,
        *_fault_scenarios(),
    ]
}
"""Every scenario by name."""

NOT_IMPLEMENTED: dict[str, str] = {}

REGENERATE = ("clean-roam", "petr", "proxy-reply", "fault-no-smr", "fault-long-ttl")
"""The scenarios whose trimmed captures are kept in ``captures/``."""


# -- configurations ----------------------------------------------------------------------------


def _toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def ms_config(s: Scenario) -> str:
    """The Map-Server section (sites: the mobile nodes' /24 and the LISP site)."""
    lines = [
        "[map-server]",
        f'listen = ["{MS_ADDRESS}:4342"]',
        f"faults = {_toml_list(s.ms_faults)}",
        *([f'rtrs = ["{RTR_RLOC}"]'] if s.rtr else []),
        "",
        "[[map-server.sites]]",
        'name = "mobile-nodes"',
        f'eid-prefixes = ["{MN_PREFIX}"]',
        "accept-more-specifics = true",
        "[[map-server.sites.keys]]",
        f'secret = "{KEY}"',
    ]
    if _square(s):
        lines += [
            "",
            "[[map-server.sites]]",
            'name = "site-sq"',
            f'eid-prefixes = ["{SQ_PREFIX}"]',
            "[[map-server.sites.keys]]",
            f'secret = "{KEY}"',
        ]
    if s.site:
        lines += [
            "",
            "[[map-server.sites]]",
            'name = "site-cn"',
            f'eid-prefixes = ["{CN_PREFIX}"]',
            "[[map-server.sites.keys]]",
            f'secret = "{KEY}"',
        ]
    return "\n".join(lines) + "\n"


def configs(s: Scenario) -> dict[str, str]:
    """``file name -> TOML text`` of every role process of the scenario."""
    out: dict[str, str] = {}
    if s.nonlisp:
        out["ms.toml"] = (
            ms_config(s)
            + f'\n[petr]\nname = "petr"\nrlocs = ["{MS_ADDRESS}"]\n'
            + f"faults = {_toml_list(s.petr_faults)}\n"
        )
        out["mr.toml"] = (
            f'[map-resolver]\nlisten = ["{MR_ADDRESS}:4342"]\nmap-server = "{MS_ADDRESS}"\n'
            f"eid-prefixes = {_toml_list(['10.0.0.0/8'] + ([SQ_PREFIX] if _square(s) else []))}\n"
        )
        out["pitr.toml"] = (
            f'[pitr]\nname = "pitr"\nrlocs = ["{PITR_RLOC}"]\nmap-resolvers = ["{MR_ADDRESS}"]\n'
            "seed = 5\n"
        )
    else:
        out["ms.toml"] = ms_config(s) + (
            f'\n[map-resolver]\nlisten = ["{MR_ADDRESS}:4342"]\nmap-server = "co-located"\n'
        )
    if s.site:
        out["xtr.toml"] = (
            "\n".join(
                [
                    "[xtr]",
                    'name = "xtr"',
                    f'rlocs = ["{XTR_RLOC}"]',
                    f'eid-prefixes = ["{CN_PREFIX}"]',
                    f'map-servers = ["{MS_ADDRESS}"]',
                    f'map-resolvers = ["{MR_ADDRESS}"]',
                    f'secret = "{KEY}"',
                    "record-ttl = 1",
                    "seed = 3",
                    f"faults = {_toml_list(s.xtr_faults)}",
                ]
            )
            + "\n"
        )
    for m in s.mobiles:
        lines = [
            "[mobile-node]",
            f'name = "{m.name}"',
            f"seed = {10 + m.index}",
            f'eid = "{m.eid}"',
            f'key = "{KEY}"',
            f'map-servers = ["{MS_ADDRESS}"]',
            f'map-resolver = "{MR_ADDRESS}"',
            f"proxy-reply = {str(m.proxy_reply).lower()}",
            f'multihoming = "{m.multihoming}"',
            f"faults = {_toml_list(m.faults)}",
        ]
        if m.petr:
            lines.append(f'petr = "{MS_ADDRESS}"')
        if m.nat:
            lines.append("nat-traversal = true")
        if "late-register" in m.faults:
            lines.append(f"late-register-delay = {LATE_REGISTER_DELAY}")
        p0, p1 = (1, 1) if m.multihoming == "active-active" else (1, 2)
        lines += [
            "[mobile-node.interfaces.eth0]",
            f"priority = {p0}",
            "[mobile-node.interfaces.eth1]",
            f"priority = {p1}",
        ]
        out[f"{m.name}.toml"] = "\n".join(lines) + "\n"
    if _square(s):
        out["sxtr.toml"] = (
            "\n".join(
                [
                    "[xtr]",
                    'name = "sxtr"',
                    f'rlocs = ["{SXTR_RLOC}"]',
                    f'eid-prefixes = ["{SQ_PREFIX}"]',
                    f'map-servers = ["{MS_ADDRESS}"]',
                    f'map-resolvers = ["{MR_ADDRESS}"]',
                    f'secret = "{KEY}"',
                    f'petr = "{MS_ADDRESS}"',
                    "use-petr = true",
                    "record-ttl = 1",
                    "seed = 4",
                ]
            )
            + "\n"
        )
    if s.rtr:
        out["rtr.toml"] = (
            f'[rtr]\nname = "rtr"\nrlocs = ["{RTR_RLOC}"]\nmap-resolvers = ["{MR_ADDRESS}"]\n'
        )
    return out


def _square(s: Scenario) -> bool:
    return any(m.in_site for m in s.mobiles)


def check_configs(s: Scenario) -> dict[str, list[str]]:
    """Parse every generated file and build its roles (raises ConfigError); file -> roles."""
    from lisptrace.stack.config import loads
    from lisptrace.stack.serve import build_role

    roles: dict[str, list[str]] = {}
    for name, text in configs(s).items():
        stack = loads(text, name)
        started = _roles_of(name, stack.roles)
        for role in started:
            build_role(role, stack)
        roles[name] = started
    return roles


def _roles_of(file: str, sections: dict[str, Any] | Sequence[str]) -> list[str]:
    """The role processes a configuration file is run as."""
    names = list(sections)
    if file == "ms.toml":
        return ["petr"] if "petr" in names else ["map-resolver"]
    return [n for n in names if n != "map-server"]


# -- topology ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Built:
    """A built topology and what the runner needs to find in it."""

    topo: Topology
    hosts: dict[str, Host]
    core_ifs: dict[str, str] = field(default_factory=dict)  # peer host -> core's interface
    roles: dict[str, str] = field(default_factory=dict)  # host -> role (manifest)
    eids: dict[str, list[str]] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # app host -> its EID/address


def build(s: Scenario, topo: Topology) -> Built:
    """Create the scenario's hosts, links, TUN devices and routes in ``topo``."""
    core = topo.add_router("core")
    b = Built(topo, {"core": core})
    net = 0

    def attach(host: Host, addr: str, gw: str, host_if: str = "eth0", up: bool = True) -> str:
        nonlocal net
        net += 1
        core_if = f"c{net}-{host.name}"[:15]
        plen = addr.split("/")[1]
        topo.link(host, core, host_if, core_if, addr, f"{gw}/{plen}", a_up=up)
        return core_if

    ms = topo.add_router("ms") if s.nonlisp else topo.add_host("ms")
    b.hosts["ms"] = ms
    b.core_ifs["ms"] = attach(ms, f"{MS_ADDRESS}/24", "198.18.3.1")
    ms.add_address("eth0", f"{MR_ADDRESS}/24")
    ms.add_route("default", via="198.18.3.1")
    b.roles["ms"] = "map-server+petr" if s.nonlisp else "map-server+map-resolver"
    if s.nonlisp:
        ms.add_tun("lt0")

    for m in s.mobiles:
        h = topo.add_host(m.name)
        b.hosts[m.name] = h
        a0, g0 = m.access(0)
        a1, g1 = m.access(1)
        if m.nat:  # link 0 through a NAT router; the "mn" vantage is the NAT's outside link
            nat = topo.add_router(f"nat{m.index}")
            b.hosts[nat.name] = nat
            b.core_ifs[m.name] = attach(nat, f"{m.nat_public}/24", m.nat_public[:-1] + "1")
            nat.add_route("default", via=m.nat_public[:-1] + "1")
            plen = a0.split("/")[1]
            topo.link(h, nat, "eth0", "eth1", a0, f"{g0}/{plen}")
            masquerade(nat, "eth0")
            b.roles[nat.name] = "nat"
        elif m.in_site:  # link 0 inside the LISP site; the "mn" vantage is its xTR's link
            sx = topo.add_router("sxtr")
            b.hosts["sxtr"] = sx
            b.core_ifs[m.name] = attach(sx, f"{SXTR_RLOC}/24", "198.18.7.1")
            sx.add_route("default", via="198.18.7.1")
            topo.link(h, sx, "eth0", "eth1", a0, f"{g0}/24")
            sx.add_tun("lt0")
            # everything the site's hosts send goes to the xTR role (ITR: LISP or the PETR)
            sx.ip("rule", "add", "from", SQ_PREFIX, "iif", "eth1", "lookup", "100")
            sx.ip("route", "replace", "default", "dev", "lt0", "table", "100")
            b.roles["sxtr"] = "xtr"
            b.eids["sxtr"] = [SQ_PREFIX]
        else:
            b.core_ifs[m.name] = attach(h, a0, g0, "eth0")
        if m.both_up:
            b.core_ifs[m.name + ":eth1"] = attach(h, a1, g1, "eth1")
        else:  # addressed at the roam, once its route is in place (see roam())
            b.core_ifs[m.name + ":eth1"] = attach(h, a1, g1, "eth1", up=False)
            h.del_address("eth1", a1)
        h.add_route("default", via=g0)
        if m.both_up:  # a second default route that survives eth0 going down
            h.ip("route", "add", "default", "via", g1, "dev", "eth1", "metric", "20")
        h.add_tun("lt0", [f"{m.eid}/32"])
        h.ip("route", "replace", "10.0.0.0/8", "dev", "lt0", "src", m.eid)
        if s.nonlisp:
            h.ip("route", "replace", NL_PREFIX, "dev", "lt0", "src", m.eid)
        b.roles[m.name] = "mobile-node"
        b.eids[m.name] = [f"{m.eid}/32"]
        b.addresses[m.name] = m.eid

    if s.site:
        x, cn = topo.add_router("xtr"), topo.add_host("cn")
        b.hosts.update(xtr=x, cn=cn)
        b.core_ifs["xtr"] = attach(x, f"{XTR_RLOC}/24", "198.18.2.1")
        x.add_route("default", via="198.18.2.1")
        topo.link(cn, x, "eth0", "eth1", f"{CN_EID}/24", "10.2.0.1/24")
        cn.add_route("default", via="10.2.0.1")
        x.add_tun("lt0")
        x.ip("route", "replace", MN_PREFIX, "dev", "lt0")
        b.roles.update(xtr="xtr", cn="correspondent")
        b.eids["xtr"] = [CN_PREFIX]
        b.addresses["cn"] = CN_EID

    if s.rtr:
        r = topo.add_host("rtr")
        b.hosts["rtr"] = r
        b.core_ifs["rtr"] = attach(r, f"{RTR_RLOC}/24", "198.18.6.1")
        r.add_route("default", via="198.18.6.1")
        b.roles["rtr"] = "rtr"

    if s.nonlisp:
        p, nl = topo.add_router("pitr"), topo.add_host("nl")
        b.hosts.update(pitr=p, nl=nl)
        b.core_ifs["pitr"] = attach(p, f"{PITR_RLOC}/24", "198.18.5.1")
        p.add_route("default", via="198.18.5.1")
        topo.link(nl, p, "eth0", "eth1", f"{NL_ADDRESS}/24", "198.51.100.1/24")
        nl.add_route("default", via="198.51.100.1")
        p.add_tun("lt0")
        p.ip("route", "replace", "10.0.0.0/8", "dev", "lt0")
        if _square(s):  # the PITR attracts the site's EIDs in the core
            p.ip("route", "replace", SQ_PREFIX, "dev", "lt0")
            core.add_route(SQ_PREFIX, via=PITR_RLOC)
        core.add_route(NL_PREFIX, via=PITR_RLOC)
        b.roles.update(pitr="pitr", nl="non-lisp")
        b.addresses["nl"] = NL_ADDRESS
    topo.settle()
    return b


def masquerade(host: Host, outside: str) -> None:
    """Source NAT in ``host``: everything leaving ``outside`` is masqueraded (nftables; the
    table lives in the namespace and goes with it)."""
    if shutil.which("nft") is None:
        raise LabError("nft (nftables) is not installed: apt-get install nftables")
    rules = (
        "table ip lt_nat {\n"
        "  chain post {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f'    oifname "{outside}" masquerade\n'
        "  }\n"
        "}\n"
    )
    done = subprocess.run(
        host.command(["nft", "-f", "-"]), input=rules, capture_output=True, text=True, timeout=30
    )
    if done.returncode != 0:
        raise LabError(f"[{host.name}] nft: {done.stderr.strip() or done.returncode}")


# -- processes ---------------------------------------------------------------------------------


class RoleLog:
    """A role's JSON decision log (``--log FILE``), read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[dict[str, Any]] = []
        self._offset = 0

    def pump(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return self.lines
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self._offset += end
        for raw in data[:end].splitlines():
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(raw))
        return self.lines

    def find(
        self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        return [x for x in self.pump() if x["kind"] == kind and (where is None or where(x))]

    def wait_for(
        self,
        kind: str,
        timeout: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
        proc: subprocess.Popen[bytes] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            hits = self.find(kind, where)
            if hits:
                return hits[0]
            if proc is not None and proc.poll() is not None:
                raise LabError(f"{self.path.name}: the role exited ({proc.returncode})")
            if time.monotonic() > deadline:
                raise LabError(f"{self.path.name}: no {kind!r} within {timeout} s")
            time.sleep(0.02)


@dataclass(slots=True)
class RoleProc:
    host: Host
    role: str
    proc: subprocess.Popen[bytes]
    log: RoleLog
    stderr: Path


def start_role(
    host: Host,
    role: str,
    config: Path,
    workdir: Path,
    name: str,
    tun: str | None = None,
    control: str | None = None,
) -> RoleProc:
    """``python -m lisptrace.stack.serve ROLE`` in ``host``; returns once it is bound
    (``control``: its ``--control ADDR:PORT``, the loopback backend's way to tell it things)."""
    log = workdir / f"{name}.log.jsonl"
    err = workdir / f"{name}.stderr"
    log.unlink(missing_ok=True)
    args = [role, "--config", str(config), "--log", str(log)]
    if tun:
        args += ["--tun", tun]
    if control:
        args += ["--control", control]
    with err.open("wb") as errf:
        proc = host.python("lisptrace.stack.serve", *args, stdout=subprocess.DEVNULL, stderr=errf)
    rp = RoleProc(host, role, proc, RoleLog(log), err)
    try:
        rp.log.wait_for("serve-started", 15.0, proc=proc)
    except LabError as exc:
        raise LabError(f"{exc}: {err.read_text().strip()}") from None
    return rp


# -- injections (a misbehaving third party) ----------------------------------------------------


def _bad_register() -> bytes:
    from dissectors.lisp.afi import address
    from dissectors.lisp.map_register import MapRegister
    from dissectors.lisp.records import EidRecord, Locator
    from lisptrace.stack.prefixes import EidPrefix

    wire, mask = EidPrefix.parse(f"{ROGUE_EID}/32").to_wire()
    rec = EidRecord(
        wire, mask, (Locator(address("198.18.3.1"), 1, 100, local=True),), 1, authoritative=True
    )
    msg = MapRegister(nonce=0x0BADA117, key_id=1, auth_data=bytes(20), records=(rec,))
    return msg.sign(b"not-the-site-key").build()


def _ipv4_udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        total,
        0x1234,
        0,
        64,
        17,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    words = struct.unpack("!10H", header)
    csum = sum(words)
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    header = header[:10] + struct.pack("!H", ~csum & 0xFFFF) + header[12:]
    return header + udp


def _spoofed_data() -> bytes:
    inner = _ipv4_udp("10.9.0.1", NL_ADDRESS, 40000, 9, b"spoofed by an unregistered RLOC")
    return struct.pack("!II", 0x80000000 | 0x5EED01, 0) + inner  # N=1, nonce


def inject_main(argv: Sequence[str]) -> int:
    """``python -m lisptrace.lab.scenarios inject KIND BIND DEST PORT``: send 3 datagrams."""
    kind, bind, dest, port = argv[0], argv[1], argv[2], int(argv[3])
    payload = _bad_register() if kind == "bad-register" else _spoofed_data()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((bind, 4342 if kind == "bad-register" else 4341))
        for _ in range(3):
            s.sendto(payload, (dest, port))
            time.sleep(0.2)
    return 0


def run_inject(b: Built, inject: Inject) -> dict[str, Any]:
    core = b.hosts["core"]
    if inject.kind == "bad-register":
        argv = ["bad-register", "198.18.3.1", MS_ADDRESS, "4342"]
    else:
        argv = ["spoofed-data", "198.18.3.1", MS_ADDRESS, "4341"]
    t = time.time_ns()
    core.run([sys.executable, "-m", "lisptrace.lab.scenarios", "inject", *argv], timeout=20)
    return {"kind": inject.kind, "time_ns": t, "from": "198.18.3.1", "to": argv[2]}


# -- roaming -----------------------------------------------------------------------------------


def roam(s: Scenario, b: Built, name: str) -> Change:
    host = b.hosts[name]
    m = next(x for x in s.mobiles if x.name == name)
    if s.roam == "renumber":
        addr, gw = m.access(0)
        new = addr.replace(".2/", ".7/")
        return host.set_address("eth0", new, gateway=gw)
    if s.roam == "link-down":
        start = time.time_ns()
        before = host.addresses("eth0")
        host.link_down("eth0")
        return Change(
            "link-down",
            name,
            start,
            time.time_ns(),
            "eth0",
            "eth1",
            before[0] if before else None,
            host.addresses("eth1")[0],
        )
    # move-link, ordered like an access network that installs the route before the address:
    # the node's watcher sees the new RLOC only once it can send from it. (With the address
    # first, the immediate Map-Register fails with ENETUNREACH and is not retried before the
    # periodic refresh -- a finding about the mobile node, kept out of the clean scenarios.)
    addr, gw = m.access(1)
    start = time.time_ns()
    before = host.addresses("eth0")
    host.link_down("eth0")
    host.link_up("eth1")
    host.wait_carrier(["eth1"])
    host.ip("route", "replace", "default", "via", gw, "dev", "eth1", "onlink")
    host.add_address("eth1", addr)
    return Change(
        "move-link",
        name,
        start,
        time.time_ns(),
        "eth0",
        "eth1",
        before[0] if before else None,
        addr,
    )


# -- the run -----------------------------------------------------------------------------------


def get(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        why = NOT_IMPLEMENTED.get(name)
        known = ", ".join(SCENARIOS)
        raise LabError(
            f"scenario {name!r}: {why}" if why else f"unknown scenario {name!r} (known: {known})"
        ) from None


def _merge(paths: list[Path], out: Path) -> None:
    present = [p for p in paths if p.exists()]
    if len(present) == 1:
        shutil.copyfile(present[0], out)
        return
    subprocess.run(
        ["mergecap", "-F", "pcapng", "-w", str(out), *map(str, present)],
        check=True,
        capture_output=True,
        timeout=60,
    )


@contextlib.contextmanager
def _captures(s: Scenario, b: Built, workdir: Path) -> Iterator[list[tuple[str, list[Capture]]]]:
    """Start the captures of the three vantage points (mn: both access links)."""
    groups: list[tuple[str, list[Capture]]] = []
    mn = s.mobiles[0].name
    # the far (core) ends of the mobile node's two access links: always up, while the
    # node's own end of the link it roams to is down until the roam (dumpcap refuses that)
    mn_caps = [
        Capture(
            b.hosts["core"],
            b.core_ifs[key],
            workdir / f"{s.name}-mn.{i}.pcapng",
            vantage="mn",
        )
        for i, key in enumerate((mn, f"{mn}:eth1"))
    ]
    groups.append(("mn", mn_caps))
    groups.append(
        ("ms", [Capture(b.hosts["ms"], "eth0", workdir / f"{s.name}-ms.pcapng", vantage="ms")])
    )
    if s.mobiles[0].nat:  # the NAT's inside link: the node's private addresses, untranslated
        nat = b.hosts[f"nat{s.mobiles[0].index}"]
        groups.append(
            ("nat", [Capture(nat, "eth1", workdir / f"{s.name}-nat.pcapng", vantage="nat")])
        )
    core_if = b.core_ifs[s.core_vantage]
    groups.append(
        (
            "core",
            [Capture(b.hosts["core"], core_if, workdir / f"{s.name}-core.pcapng", vantage="core")],
        )
    )
    started: list[Capture] = []
    try:
        for _, caps in groups:
            for c in caps:
                started.append(c.start())
        yield groups
    finally:
        for c in started:
            c.stop()


def _app_address(b: Built, host: str) -> str:
    return b.addresses[host]


def run_scenario(
    name: str | Scenario, out: str | Path, keep_work: bool = False, backend: str | None = None
) -> Manifest:
    """Run one scenario in namespaces; write ``out/NAME-{mn,ms,core}.pcapng`` and
    ``out/NAME.manifest.json`` (role logs and app results under ``out/NAME.work/``).

    ``backend``: ``"netns"``, ``"loopback"`` (the control plane only, on 127.77.x.y addresses:
    :mod:`lisptrace.lab.loopback`) or ``None``: namespaces if :func:`detect` says they work,
    else loopback (saying why on stderr and in the manifest)."""
    s = get(name) if isinstance(name, str) else name
    if backend not in (None, "netns", "loopback"):
        raise LabError(f"backend {backend!r}: netns or loopback")
    if backend == "loopback":
        from lisptrace.lab.loopback import run_loopback

        return run_loopback(s, Path(out).resolve())
    availability = detect()
    if not availability.netns:
        if backend == "netns":
            raise LabError(
                f"scenario {s.name}: network namespaces unavailable: {availability.reason}"
            )
        from lisptrace.lab.loopback import run_loopback

        print(
            f"lisptrace lab: {availability.reason}; falling back to loopback addresses "
            "(127.77.x.y: control plane only, no data plane)",
            file=sys.stderr,
        )
        return run_loopback(s, Path(out).resolve(), availability.reason)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"{s.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for file, text in configs(s).items():
        (work / file).write_text(text)

    m = Manifest(s.name, description=s.description, created_ns=time.time_ns())
    m.faults = s.faults
    m.violations = list(s.violations)
    m.notes = list(s.notes)
    timing: dict[str, Any] = {}
    with Topology() as topo:
        b = build(s, topo)
        with _captures(s, b, work) as groups:
            roles = _start_roles(s, b, work)
            _wait_registered(s, roles)
            t_apps = time.time()
            apps = _start_apps(s, b, work)
            injected = []
            events: list[Change] = []
            pending = sorted(s.injects, key=lambda i: i.at)
            roam_at = t_apps + s.settle
            while pending and t_apps + pending[0].at < roam_at:
                time.sleep(max(0.0, t_apps + pending[0].at - time.time()))
                injected.append(run_inject(b, pending.pop(0)))
            time.sleep(max(0.0, roam_at - time.time()))
            if s.roam != "none":
                for i, host in enumerate(s.roam_hosts):
                    if i:
                        time.sleep(0.5)
                    events.append(roam(s, b, host))
            for inj in pending:
                time.sleep(max(0.0, t_apps + inj.at - time.time()))
                injected.append(run_inject(b, inj))
            results = _finish_apps(s, apps)
            time.sleep(0.3)  # let the last control messages land in the captures
            for rp in roles.values():
                rp.host.terminate(rp.proc)
        logs = {n: rp.log for n, rp in roles.items()}
        m.hosts = _hosts(b)
        timing = _timing(s, events, logs, results)
    # captures: merge the mobile node's two links
    for vantage, caps in groups:
        target = out / f"{s.name}-{vantage}.pcapng"
        results_c: list[CaptureResult] = [c.stop() for c in caps]
        _merge([c.path for c in caps], target)
        first = results_c[0]
        info = CaptureInfo(
            target.name,
            vantage,
            first.host,
            "+".join(c.interface for c in results_c),
            sum(c.packets or 0 for c in results_c),
            sum(c.dropped or 0 for c in results_c),
        )
        m.captures.append(info)
    m.events = [RoamEvent.from_change(c) for c in events]
    m.registrations = _registrations(s, logs, m.events)
    m.flows = _flows(s, b, results)
    m.extra["timing"] = timing
    m.extra["injected"] = injected
    m.extra["role_decisions"] = {n: _counts(log.lines) for n, log in logs.items()}
    if any(mn.nat for mn in s.mobiles):
        m.extra["nat"] = _nat_verdicts(s, logs)
    m.write(out / f"{s.name}.manifest.json")
    if not keep_work:
        for p in work.glob("*.pcapng"):
            p.unlink()
    return m


def _start_roles(s: Scenario, b: Built, work: Path) -> dict[str, RoleProc]:
    roles: dict[str, RoleProc] = {}
    ms = b.hosts["ms"]
    if s.nonlisp:
        roles["ms"] = start_role(ms, "petr", work / "ms.toml", work, "ms", tun="lt0")
        roles["mr"] = start_role(ms, "map-resolver", work / "mr.toml", work, "mr")
        roles["pitr"] = start_role(
            b.hosts["pitr"], "pitr", work / "pitr.toml", work, "pitr", tun="lt0"
        )
    else:
        roles["ms"] = start_role(ms, "map-resolver", work / "ms.toml", work, "ms")
    if s.rtr:
        roles["rtr"] = start_role(b.hosts["rtr"], "rtr", work / "rtr.toml", work, "rtr")
    if s.site:
        roles["xtr"] = start_role(b.hosts["xtr"], "xtr", work / "xtr.toml", work, "xtr", "lt0")
    if _square(s):
        roles["sxtr"] = start_role(b.hosts["sxtr"], "xtr", work / "sxtr.toml", work, "sxtr", "lt0")
    for mn in s.mobiles:
        roles[mn.name] = start_role(
            b.hosts[mn.name], "mobile-node", work / f"{mn.name}.toml", work, mn.name, "lt0"
        )
    return roles


def _wait_registered(s: Scenario, roles: dict[str, RoleProc]) -> None:
    ms = roles["ms"]
    want = [mn.eid for mn in s.mobiles] + ([CN_PREFIX.split("/")[0]] if s.site else [])
    for eid in want:
        ms.log.wait_for(
            "register-accepted",
            15.0,
            where=lambda x, e=eid: e in json.dumps(x["fields"]) or e in x["detail"],
            proc=ms.proc,
        )


def _start_apps(s: Scenario, b: Built, work: Path) -> list[tuple[FlowSpec, App, App]]:
    apps = []
    for i, f in enumerate(s.flows):
        server, client = b.hosts[f.server], b.hosts[f.client]
        dst, src = _app_address(b, f.server), _app_address(b, f.client)
        tag = f"{f.kind}{i}"
        if f.kind == "tcp":
            srv = start_app(
                server, "tcp-server", work, f"{tag}-server", "--bind", dst,
                "--port", str(TCP_PORT + 10 * i), "--timeout", str(s.duration + 20),
            )  # fmt: skip
            cli = start_app(
                client, "tcp-client", work, f"{tag}-client", "--connect", dst,
                "--port", str(srv.port), "--bind", src, "--duration", str(s.duration),
                "--interval-ms", "100", "--give-up-ms", str(int((s.duration + 4) * 1000)),
            )  # fmt: skip
        else:
            srv = start_app(
                server, "udp-receiver", work, f"{tag}-receiver", "--bind", dst,
                "--port", str(UDP_PORT + 10 * i), "--timeout", str(s.duration + 20),
            )  # fmt: skip
            cli = start_app(
                client, "udp-sender", work, f"{tag}-sender", "--to", dst,
                "--port", str(srv.port), "--bind", src, "--duration", str(s.duration),
                "--interval-ms", "20",
            )  # fmt: skip
        apps.append((f, srv, cli))
    return apps


def _finish_apps(
    s: Scenario, apps: list[tuple[FlowSpec, App, App]]
) -> list[tuple[FlowSpec, App, dict[str, Any], dict[str, Any]]]:
    done = []
    for f, srv, cli in apps:
        try:
            cres = cli.result(timeout=s.after + 15)
        except (OSError, ValueError) as exc:
            cres = {"error": str(exc)}
        try:
            sres = srv.result(timeout=3.0) if f.kind == "udp" else srv.stop()
        except (OSError, ValueError) as exc:
            sres = {"error": str(exc)}
        done.append((f, srv, cres, sres))
    return done


def _hosts(b: Built) -> list[HostInfo]:
    described = b.topo.describe()
    return [
        HostInfo(
            name, b.roles.get(name, h.kind), h.ns, described.get(name, {}), b.eids.get(name, [])
        )
        for name, h in b.topo.hosts.items()
    ]


def _registrations(
    s: Scenario, logs: dict[str, RoleLog], events: list[RoamEvent]
) -> list[Registration]:
    ttls = {f"{m.eid}/32": 1440 if "long-ttl" in m.faults else 1 for m in s.mobiles}
    ttls[CN_PREFIX] = 1
    ttls[SQ_PREFIX] = 1
    out = []
    log = logs["ms"]
    for line in log.find("register-accepted"):
        f = line["fields"]
        t_ns = int(line["time"] * 1e9)
        after = None
        for i, e in enumerate(events):
            if t_ns >= e.time_ns:
                after = i
        prefix = str(line["detail"]).split(" -> ")[0]
        out.append(
            Registration(
                prefix,
                list(f.get("rlocs", [])),
                MS_ADDRESS,
                site=str(f.get("site", "")),
                ttl_minutes=f.get("ttl", ttls.get(prefix)),
                proxy_reply=bool(f.get("proxy")),
                after_event=after,
            )
        )
    return out


def _flows(
    s: Scenario, b: Built, results: list[tuple[FlowSpec, App, dict[str, Any], dict[str, Any]]]
) -> list[Flow]:
    out = []
    for f, srv, cres, sres in results:
        result = {"client": cres, "server": sres}
        if f.kind == "tcp":
            result["survived"] = bool(cres.get("survived"))
        else:
            result["sent"] = cres.get("sent")
            result["lost"] = _udp_lost(cres, sres)
        out.append(
            Flow(
                f.kind,
                f.client,
                f.server,
                _app_address(b, f.client),
                _app_address(b, f.server),
                srv.port,
                f.must_survive,
                f.max_loss if f.kind == "udp" else None,
                result,
            )
        )
    return out


def _udp_lost(sender: dict[str, Any], receiver: dict[str, Any]) -> int | None:
    """Datagrams sent and never received (the receiver's own count misses a lost tail)."""
    sent, received = sender.get("sent"), receiver.get("received")
    if isinstance(sent, int) and isinstance(received, int):
        return max(0, sent - received)
    return receiver.get("lost")


def _nat_verdicts(s: Scenario, logs: dict[str, RoleLog]) -> list[dict[str, Any]]:
    """The NATed mobile nodes' NAT verdicts (``nat-detected`` / ``nat-none``, from their
    Info-Replies) and how each registration went (directly or through the RTR)."""
    out = []
    for mn in s.mobiles:
        log = logs.get(mn.name)
        if log is None:
            continue
        for x in log.pump():
            if x["kind"] in ("nat-detected", "nat-none"):
                f = x["fields"]
                out.append(
                    {
                        "host": mn.name,
                        "time_ns": int(x["time"] * 1e9),
                        "verdict": x["kind"],
                        "interface": f.get("interface"),
                        "rloc": f.get("rloc"),
                        "global_rloc": f.get("global_rloc"),
                        "global_port": f.get("global_port"),
                        "rtrs": f.get("rtrs"),
                    }
                )
    return out


def _counts(lines: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in lines:
        counts[x["kind"]] = counts.get(x["kind"], 0) + 1
    return dict(sorted(counts.items()))


def _timing(
    s: Scenario,
    events: list[Change],
    logs: dict[str, RoleLog],
    results: list[tuple[FlowSpec, App, dict[str, Any], dict[str, Any]]],
) -> dict[str, Any]:
    """Hand-over figures per roam: detection, registration, SMR, first data after it."""
    out: dict[str, Any] = {"roams": []}
    for e in events:
        end = e.end_ns / 1e9
        node = logs.get(e.host)
        entry: dict[str, Any] = {"host": e.host, "kind": e.kind}
        if node is not None:
            entry["change_ms"] = round((e.end_ns - e.start_ns) / 1e6, 1)
            changed = node.find(
                "interfaces-changed",
                lambda x, e=e: (
                    x["time"] >= e.start_ns / 1e9
                    and any(v for v in (x["fields"].get("rlocs") or {}).values())
                ),
            )
            if changed:
                entry["detected_ms"] = round((changed[0]["time"] - end) * 1000, 1)
            sent = [x for x in node.lines if x["time"] >= end and "smr" in x["kind"]]
            if sent:
                entry["first_smr_decision"] = sent[0]["kind"]
                entry["smr_ms"] = round((sent[0]["time"] - end) * 1000, 1)
        eid = next(m.eid for m in s.mobiles if m.name == e.host)
        regs = logs["ms"].find(
            "register-accepted",
            lambda x, eid=eid, t=e.start_ns / 1e9: x["time"] >= t and x["detail"].startswith(eid),
        )
        if regs:
            entry["registered_ms"] = round((regs[0]["time"] - end) * 1000, 1)
        out["roams"].append(entry)
    for f, _srv, cres, sres in results:
        if f.kind == "udp":
            out["udp_sent"] = cres.get("sent")
            out["udp_lost"] = _udp_lost(cres, sres)
            out["udp_max_interarrival_ms"] = sres.get("max_interarrival_ms")
        else:
            out["tcp_survived"] = cres.get("survived")
            out["tcp_gaps"] = cres.get("gaps")
    return out


# -- reading the captures back -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """A LISP control message found in a capture."""

    time_ns: int
    src: str
    dst: str
    sport: int
    dport: int
    message: Any  # a dissectors ControlMessage


def _udp_of(frame: bytes, linktype: int) -> tuple[str, str, int, int, bytes] | None:
    """(src, dst, sport, dport, payload) of an Ethernet/raw-IP frame carrying UDP."""
    if linktype == 1:
        if len(frame) < 14:
            return None
        ethertype, ip = struct.unpack_from("!H", frame, 12)[0], frame[14:]
        if ethertype == 0x8100 and len(frame) >= 18:
            ethertype, ip = struct.unpack_from("!H", frame, 16)[0], frame[18:]
    elif linktype in (101, 228, 229):
        ip = frame
        ethertype = 0x0800 if ip[:1] and ip[0] >> 4 == 4 else 0x86DD
    else:
        return None
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
        ihl = (ip[0] & 0x0F) * 4
        src, dst = ipaddress.IPv4Address(ip[12:16]), ipaddress.IPv4Address(ip[16:20])
        udp = ip[ihl:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
        src, dst = ipaddress.IPv6Address(ip[8:24]), ipaddress.IPv6Address(ip[24:40])
        udp = ip[40:]
    else:
        return None
    if len(udp) < 8:
        return None
    sport, dport = struct.unpack_from("!HH", udp)
    return str(src), str(dst), sport, dport, udp[8:]


def control_messages(path: str | Path) -> list[Seen]:
    """Every decodable LISP control message (UDP port 4342) in a capture, in order, decoded
    with :mod:`lisptrace.ingest.capture` and the dissectors' ``parse_control``."""
    from dissectors import DecodeError
    from dissectors.lisp.message import parse_control
    from lisptrace.ingest.capture import open_capture

    out: list[Seen] = []
    with contextlib.closing(open_capture(path)) as cap:
        for batch in cap.batches():
            for i in range(len(batch)):
                udp = _udp_of(batch.frame(i), int(batch.linktype[i]))
                if udp is None or 4342 not in (udp[2], udp[3]):
                    continue
                try:
                    msg = parse_control(udp[4])
                except DecodeError:
                    continue
                out.append(Seen(int(batch.time_ns[i]), *udp[:4], msg))
    return out


# -- the committed capture set -----------------------------------------------------------------


def trim(src: Path, dst: Path, windows: Sequence[tuple[float, float]], data_limit: int = 40) -> int:
    """Keep every control message (UDP 4342) of ``src`` and at most ``data_limit`` other IP
    packets (LISP data, natively forwarded) per time window (UNIX seconds, e.g. around the
    roams); write ``dst``; return its size."""
    spans = " or ".join(
        f"(frame.time_epoch >= {a:.6f} and frame.time_epoch <= {b:.6f})" for a, b in windows
    )
    data = f"((ip or ipv6) and ({spans}))" if spans else "0"
    listed = subprocess.run(
        ["tshark", "-r", str(src), "-Y", f"udp.port == 4342 or {data}", "-T", "fields",
         "-e", "frame.number", "-e", "udp.port"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split("\n")  # fmt: skip
    keep: list[str] = []
    data_seen = 0
    for line in listed:
        if not line.strip():
            continue
        number, ports = line.split("\t", 1)
        if "4342" in ports.split(","):
            keep.append(number)
        elif data_seen < data_limit * max(1, len(windows)):
            data_seen += 1
            keep.append(number)
    tmp = dst.with_name(dst.name + ".tmp")
    frames = " or ".join(f"frame.number == {n}" for n in keep) or "0"
    subprocess.run(
        ["tshark", "-r", str(src), "-Y", frames, "-F", "pcapng", "-w", str(tmp)],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    tmp.replace(dst)
    return dst.stat().st_size


def regenerate(directory: str | Path, only: Sequence[str] | None = None) -> list[str]:
    """Run the :data:`REGENERATE` scenarios (or ``only``) and write trimmed captures (control
    messages plus a few data packets around each roam and injection) and their manifests to
    ``directory``; one line per file written."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for name in only or REGENERATE:
        with tempfile_dir() as tmp:
            m = run_scenario(name, tmp)
            windows = [
                (e.time_ns / 1e9 - 0.3, (e.end_ns or e.time_ns) / 1e9 + 0.7) for e in m.events
            ]
            windows += [
                (i["time_ns"] / 1e9 - 0.1, i["time_ns"] / 1e9 + 1.0)
                for i in m.extra.get("injected", [])
            ]
            for c in m.captures:
                size = trim(tmp / c.file, directory / c.file, windows)
                c.packets, c.dropped = _count_frames(directory / c.file), None
                lines.append(f"{c.file}: {size} bytes, {c.packets} packets")
            m.notes.append(
                "trimmed: every LISP control message, data packets only near the roams "
                "(python -m lisptrace.lab regenerate captures/)"
            )
            m.extra.pop("role_decisions", None)
            m.write(directory / f"{name}.manifest.json")
            lines.append(f"{name}.manifest.json")
    return lines


@contextlib.contextmanager
def tempfile_dir() -> Iterator[Path]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lisptrace-lab-") as d:
        yield Path(d)


def _count_frames(path: Path) -> int:
    from lisptrace.ingest.capture import open_capture

    with contextlib.closing(open_capture(path)) as cap:
        return sum(len(b) for b in cap.batches())


# -- command line ------------------------------------------------------------------------------


def summary(m: Manifest) -> str:
    """A few lines: what a run measured."""
    t = m.extra.get("timing", {})
    parts = [f"{m.scenario}: {len(m.events)} roam(s), {len(m.registrations)} registrations"]
    for r in t.get("roams", []):
        parts.append(
            f"  {r['host']} {r['kind']} (took {r.get('change_ms')} ms; after it: detected "
            f"{r.get('detected_ms')} ms, registered {r.get('registered_ms')} ms, "
            f"{r.get('first_smr_decision')} {r.get('smr_ms')} ms)"
        )
    for f in m.flows:
        res = f.result or {}
        if f.kind == "tcp":
            parts.append(f"  tcp {f.src}->{f.dst}: survived={res.get('survived')}")
        else:
            srv = res.get("server", {})
            parts.append(
                f"  udp {f.src}->{f.dst}: lost {res.get('lost')}/{res.get('sent')}, "
                f"max inter-arrival {srv.get('max_interarrival_ms')} ms"
            )
    for c in m.captures:
        parts.append(f"  capture {c.file}: {c.packets} packets")
    parts.append(f"  violations expected: {m.violations or 'none'}")
    if m.backend == "loopback":
        from lisptrace.lab.loopback import summary_lines

        parts += summary_lines(m)
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lisptrace.lab.scenarios inject ...`` (used inside the lab's hosts)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "inject":
        return inject_main(args[1:])
    print("usage: python -m lisptrace.lab SCENARIO --out DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
