"""Lab scenarios: every scenario's configuration and topology builds; ``clean-roam``,
``fault-no-smr`` and ``nat-traversal`` run live in namespaces (the TCP connection survives the
roam; the mobile node's capture holds the new Map-Register and the SMR -- or, with the fault,
no SMR; behind the NAT: the NAT verdict and the registration through the RTR); the rest run
live only under ``slow``."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from dissectors.lisp.map_register import MapRegister
from dissectors.lisp.map_request import MapRequest
from lisptrace.lab import scenarios as sc
from lisptrace.lab.__main__ import main as lab_main
from lisptrace.lab.manifest import Manifest
from lisptrace.lab.netns import LabError, Topology
from lisptrace.stack.config import FAULTS
from lisptrace.stack.mobile_node import is_private
from tests.lisptrace.lab.conftest import needs_netns


def rfc1918(address: str) -> bool:
    """What MN-NO-PRIVATE-RLOC forbids (RFC 1918 / fc00::/7; not 198.18/15, which Python's
    ``is_private`` also counts)."""
    return is_private(ipaddress.ip_address(address))


FAULT_SWITCHES = (
    "no-smr",
    "long-ttl",
    "late-register",
    "no-cache-clear",
    "petr-decap-any",
    "accept-bad-auth",
    "authoritative-proxy-reply",
    "forward-despite-proxy",
    "ignore-smr",
    "private-rloc",
)


# -- descriptions and configurations (anywhere) ------------------------------------------------


def test_every_fault_switch_has_a_scenario_expecting_its_rule() -> None:
    for switch in FAULT_SWITCHES:
        s = sc.get(f"fault-{switch}")
        assert len(s.violations) == 1
        (rule,) = s.violations
        owners = [role for role, table in FAULTS.items() if table.get(switch) == rule]
        assert owners, (switch, rule)
        assert any(f.endswith(f":{switch}") for f in s.faults)


def test_clean_scenarios_expect_no_violation() -> None:
    for name in (
        "clean-roam",
        "both-roam",
        "petr",
        "multihomed",
        "proxy-reply",
        "renumber",
        "nat-traversal",
    ):
        s = sc.get(name)
        assert s.violations == () and s.faults == []


def test_unknown_and_unbuilt_scenarios_say_why() -> None:
    with pytest.raises(LabError, match="known: clean-roam"):
        sc.get("nope")
    for name, why in sc.NOT_IMPLEMENTED.items():
        with pytest.raises(LabError, match=why[:20]):
            sc.get(name)
    assert {"square-routing", "nat-traversal"} <= set(sc.SCENARIOS)


def test_square_routing_configuration() -> None:
    """The site hosting the mobile node: its xTR registers 192.0.2.0/24 and uses the PETR;
    the Map-Resolver counts that prefix as LISP space; the node's RLOC there is one of its
    EIDs (not RFC 1918: MN-NO-PRIVATE-RLOC stays quiet)."""
    s = sc.get("square-routing")
    files = sc.configs(s)
    assert sc.check_configs(s)["sxtr.toml"] == ["xtr"]
    assert "use-petr = true" in files["sxtr.toml"] and sc.SQ_PREFIX in files["sxtr.toml"]
    assert 'name = "site-sq"' in files["ms.toml"] and sc.SQ_PREFIX in files["mr.toml"]
    (mn,) = s.mobiles
    rloc = mn.access(0)[0].split("/")[0]
    assert mn.in_site and ipaddress.ip_address(rloc) in ipaddress.ip_network(sc.SQ_PREFIX)
    assert not rfc1918(rloc) and s.nonlisp and s.site and s.violations == ()


@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_configurations_parse_and_build_roles(name: str) -> None:
    s = sc.SCENARIOS[name]
    roles = sc.check_configs(s)
    assert roles["ms.toml"] == (["petr"] if s.nonlisp else ["map-resolver"])
    for m in s.mobiles:
        assert roles[f"{m.name}.toml"] == ["mobile-node"]
        text = sc.configs(s)[f"{m.name}.toml"]
        for fault in m.faults:
            assert fault in text
    assert sc.KEY in sc.configs(s)["ms.toml"]


def test_nat_traversal_configuration() -> None:
    """The Map-Server offers the RTR, the mobile node is NAT-aware, the RTR resolves through
    the lab's Map-Resolver; the node's first access link is RFC 1918 space behind the NAT."""
    s = sc.get("nat-traversal")
    files = sc.configs(s)
    assert f'rtrs = ["{sc.RTR_RLOC}"]' in files["ms.toml"]
    assert "nat-traversal = true" in files["mn1.toml"]
    assert sc.check_configs(s)["rtr.toml"] == ["rtr"]
    assert sc.MR_ADDRESS in files["rtr.toml"]
    (mn,) = s.mobiles
    assert mn.nat and rfc1918(mn.access(0)[0].split("/")[0])
    assert not rfc1918(mn.access(1)[0].split("/")[0])  # roams to a public link
    fault = sc.get("fault-nat-private-rloc")
    assert fault.violations == ("MN-NO-PRIVATE-RLOC",) and fault.faults == ["mn1:private-rloc"]
    assert fault.rtr and fault.mobiles[0].nat


def test_injected_messages_decode() -> None:
    from dissectors.lisp.message import parse_control

    reg = parse_control(sc._bad_register())
    assert isinstance(reg, MapRegister)
    assert reg.verify(sc.KEY.encode()) is False
    data = sc._spoofed_data()
    assert data[0] & 0x80 and data[8] == 0x45  # N bit, then an IPv4 header


def test_list_names_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert lab_main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in [*sc.SCENARIOS, *sc.NOT_IMPLEMENTED]:
        assert name in out


# -- topologies (namespaces, nothing started) --------------------------------------------------


@needs_netns
@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(sc.SCENARIOS))
def test_topology_builds(name: str) -> None:
    s = sc.SCENARIOS[name]
    if any(m.nat for m in s.mobiles) and shutil.which("nft") is None:
        pytest.skip("nft (nftables) not installed")
    with Topology() as topo:
        built = sc.build(s, topo)
        described = topo.describe()
        assert {m.name for m in s.mobiles} <= set(built.hosts)
        for m in s.mobiles:
            assert f"{m.access(0)[0]}" in described[m.name]["eth0"]
            assert built.hosts[m.name].addresses("lt0") == [f"{m.eid}/32"]
        assert f"{sc.MR_ADDRESS}/24" in described["ms"]["eth0"]
        assert ("xtr" in built.hosts) == s.site and ("pitr" in built.hosts) == s.nonlisp
        assert s.core_vantage in built.core_ifs
        for m in s.mobiles:
            if m.in_site:  # the PITR attracts the site's EIDs; its hosts' traffic -> the TUN
                assert f"{sc.SQ_PREFIX} via {sc.PITR_RLOC}" in built.hosts["core"].routes()
                assert "lookup 100" in built.hosts["sxtr"].ip("rule").stdout
            if m.nat:  # masquerading in the NAT namespace; the RTR is on the core
                ruleset = built.hosts[f"nat{m.index}"].run(["nft", "list", "ruleset"]).stdout
                assert "masquerade" in ruleset
                assert f"{sc.RTR_RLOC}/24" in described["rtr"]["eth0"]
        # the core routes no EID: only LISP may carry them
        assert "10." not in built.hosts["core"].routes()


# -- live runs ---------------------------------------------------------------------------------


def _smrs(seen: list[sc.Seen]) -> list[sc.Seen]:
    return [x for x in seen if isinstance(x.message, MapRequest) and x.message.smr]


@needs_netns
@pytest.mark.netns
def test_clean_roam_live(tmp_path: Path) -> None:
    m = sc.run_scenario("clean-roam", tmp_path)
    assert Manifest.read(tmp_path / "clean-roam.manifest.json").scenario == "clean-roam"
    assert m.violations == [] and m.faults == []
    (roam,) = m.events
    assert roam.kind == "move-link" and roam.host == "mn1"
    new_rloc = roam.address_to.split("/")[0]  # type: ignore[union-attr]
    # the registrations seen by the Map-Server: before and after the roam
    mn_regs = [r for r in m.registrations if r.eid_prefix == "10.9.0.1/32"]
    assert [r.after_event for r in mn_regs][:1] == [None]
    assert any(r.after_event == 0 and r.rlocs == [new_rloc] for r in mn_regs)
    assert any(r.eid_prefix == sc.CN_PREFIX for r in m.registrations)
    # the flows: the TCP connection survived; UDP loss is bounded and reported
    tcp = next(f for f in m.flows if f.kind == "tcp")
    udp = next(f for f in m.flows if f.kind == "udp")
    assert tcp.result is not None and tcp.result["survived"] is True, tcp.result
    assert udp.result is not None and udp.result["sent"] > 100
    assert udp.max_loss is not None and 0 <= udp.result["lost"] <= udp.max_loss
    timing: dict[str, Any] = m.extra["timing"]
    assert timing["roams"][0]["registered_ms"] < 1000
    # the mobile node's access links: the Map-Register from the new RLOC, then the SMR
    assert {c.vantage for c in m.captures} == {"mn", "ms", "core"}
    seen = sc.control_messages(tmp_path / "clean-roam-mn.pcapng")
    regs = [x for x in seen if isinstance(x.message, MapRegister) and x.src == new_rloc]
    assert regs and regs[0].time_ns >= roam.time_ns
    smrs = _smrs(seen)
    assert smrs and smrs[0].src == new_rloc and smrs[0].dst == sc.XTR_RLOC
    assert smrs[0].time_ns >= regs[0].time_ns
    assert all(x.time_ns >= roam.time_ns for x in smrs)
    # the role logs stay beside the manifest
    assert (tmp_path / "clean-roam.work" / "ms.log.jsonl").exists()
    assert json.loads((tmp_path / "clean-roam.manifest.json").read_text())["timing"]


@needs_netns
@pytest.mark.netns
def test_fault_no_smr_live_capture_lacks_the_smr(tmp_path: Path) -> None:
    m = sc.run_scenario("fault-no-smr", tmp_path)
    assert m.violations == ["MN-SMR-REQUIRED"] and m.faults == ["mn1:no-smr"]
    (roam,) = m.events
    new_rloc = roam.address_to.split("/")[0]  # type: ignore[union-attr]
    seen = sc.control_messages(tmp_path / "fault-no-smr-mn.pcapng")
    assert any(isinstance(x.message, MapRegister) and x.src == new_rloc for x in seen)
    assert _smrs(seen) == []


@needs_netns
@pytest.mark.netns
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("LISPTRACE_LAB_ALL") != "1",
    reason="every scenario live takes ~3-4 min: set LISPTRACE_LAB_ALL=1 (.ci/run does)",
)
@pytest.mark.parametrize("name", sorted(set(sc.SCENARIOS) - {"clean-roam", "fault-no-smr"}))
def test_every_scenario_runs_live(tmp_path: Path, name: str) -> None:
    m = sc.run_scenario(name, tmp_path)
    s = sc.SCENARIOS[name]
    assert len(m.events) == len(s.roam_hosts)
    for vantage in ("mn", "ms", "core"):
        assert (tmp_path / f"{name}-{vantage}.pcapng").stat().st_size > 0
    for f in m.flows:
        if f.must_survive and f.kind == "tcp":
            assert f.result is not None and f.result["survived"] is True, (name, f.result)
    seen = sc.control_messages(tmp_path / f"{name}-ms.pcapng")
    assert any(isinstance(x.message, MapRegister) for x in seen)


@needs_netns
@pytest.mark.netns
@pytest.mark.skipif(shutil.which("nft") is None, reason="nft (nftables) not installed")
def test_nat_traversal_live(tmp_path: Path) -> None:
    """Behind the NAT: NAT detected from the Info-Reply, registered through the RTR (the RTR's
    RLOC at the Map-Server, never the private address), the correspondent reaches the node
    through the RTR; after the roam to the public link: registered directly."""
    m = sc.run_scenario("nat-traversal", tmp_path)
    work = tmp_path / "nat-traversal.work"
    log = [json.loads(x) for x in (work / "mn1.log.jsonl").read_text().splitlines()]
    kinds = [x["kind"] for x in log]
    detected = next(x for x in log if x["kind"] == "nat-detected")
    assert detected["fields"]["rloc"] == "192.168.11.2"
    assert detected["fields"]["global_rloc"] == "198.18.31.2"
    assert detected["fields"]["rtrs"] == [sc.RTR_RLOC]
    assert "register-sent-via-rtr" in kinds and "rtr-probe-answered" in kinds
    assert kinds.index("nat-detected") < kinds.index("register-sent-via-rtr")
    nat_none = [x for x in log if x["kind"] == "nat-none"]  # the public link after the roam
    assert nat_none and nat_none[0]["fields"]["rloc"] == "198.18.21.2"
    assert [v["verdict"] for v in m.extra["nat"]] == ["nat-detected", "nat-none"]
    # at the Map-Server: the RTR before the roam, the public RLOC after; no private RLOC
    regs = [r for r in m.registrations if r.eid_prefix == "10.9.0.1/32"]
    assert any(r.after_event is None and r.rlocs == [sc.RTR_RLOC] for r in regs)
    assert any(r.after_event == 0 and r.rlocs == ["198.18.21.2"] for r in regs)
    for x in sc.control_messages(tmp_path / "nat-traversal-ms.pcapng"):
        if isinstance(x.message, MapRegister):
            for rec in x.message.records:
                for loc in rec.locators:
                    assert not rfc1918(str(loc.address)), loc
    rtr = [json.loads(x)["kind"] for x in (work / "rtr.log.jsonl").read_text().splitlines()]
    assert "register-relayed" in rtr and "request-relayed" in rtr
    tcp = next(f for f in m.flows if f.kind == "tcp")
    assert tcp.result is not None and tcp.result["survived"] is True, tcp.result
    assert {c.vantage for c in m.captures} == {"mn", "ms", "nat", "core"}


# -- without namespaces: the loopback backend (control plane only; runs anywhere on Linux) ------


def test_clean_roam_on_loopback_registers_the_new_rloc_and_smrs(tmp_path: Path) -> None:
    started = time.monotonic()
    m = sc.run_scenario("clean-roam", tmp_path, backend="loopback")
    assert time.monotonic() - started < 15.0
    assert m.backend == "loopback" and m.flows == []
    assert any("data plane between EIDs was not exercised" in n for n in m.notes)
    (event,) = m.events
    new = event.address_to
    assert new is not None and new.startswith("127.77.") and new != event.address_from
    # the Map-Server accepted a Map-Register from the new RLOC, after the roam
    assert any(
        r.eid_prefix == "10.9.0.1/32" and r.rlocs == [new] and r.after_event == 0
        for r in m.registrations
    )
    cp = m.extra["control_plane"]
    assert cp["registered_from_new_rloc"]["ok"]
    assert (
        cp["smr_sent"]["ok"]
        and cp["smr_sent"]["evidence"]["fields"]["peer_rloc"] == (cp["peer_rloc"])
    )
    assert cp["smr_answered"]["ok"]
    assert cp["smr_answered"]["evidence"]["fields"]["rlocs"] == [new]
    assert m.extra["primer"]["node_decapsulated_and_dropped"] == 1
    assert m.extra["capture"].startswith("dumpcap" if m.captures else "none")
    again = Manifest.read(tmp_path / "clean-roam.manifest.json")
    assert again.backend == "loopback"
    assert "data plane: NOT exercised" in sc.summary(m)


def test_without_namespaces_run_scenario_falls_back_to_loopback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lisptrace.lab.netns import Availability

    monkeypatch.setattr(sc, "detect", lambda: Availability(False, "no namespaces here"))
    # a scenario the loopback backend cannot run: the fallback is chosen, then says why not
    with pytest.raises(LabError, match="loopback backend"):
        sc.run_scenario("nat-traversal", tmp_path)
    assert "no namespaces here; falling back to loopback" in capsys.readouterr().err
    with pytest.raises(LabError, match="namespaces unavailable"):
        sc.run_scenario("clean-roam", tmp_path, backend="netns")
