"""Lab scenarios: every scenario's configuration and topology builds; ``clean-roam`` and
``fault-no-smr`` run live in namespaces (the TCP connection survives the roam; the mobile
node's capture holds the new Map-Register and the SMR -- or, with the fault, no SMR); the
rest run live only under ``slow``."""

from __future__ import annotations

import json
import os
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
from tests.lisptrace.lab.conftest import needs_netns

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
    for name in ("clean-roam", "both-roam", "petr", "multihomed", "proxy-reply", "renumber"):
        s = sc.get(name)
        assert s.violations == () and s.faults == []


def test_unknown_and_unbuilt_scenarios_say_why() -> None:
    with pytest.raises(LabError, match="known: clean-roam"):
        sc.get("nope")
    with pytest.raises(LabError, match=r"7\.1\.1"):
        sc.get("square-routing")


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
    reason="every scenario live takes ~3 min: set LISPTRACE_LAB_ALL=1",
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
