"""The lab without namespaces: a scenario's control plane on 127.77.x.y loopback addresses.

:func:`run_loopback` (``run_scenario(..., backend="loopback")``, and what ``run_scenario``
does when :func:`~lisptrace.lab.netns.detect` says namespaces are unavailable) runs the roles
as real processes in the current namespace, each on its own 127.77.0.x address (the whole of
127.0.0.0/8 is local on Linux: no alias needed):

* ``ms``: the Map-Server with the co-located Map-Resolver (two addresses, one process);
* ``xtr``: the correspondent site's xTR, without TUN;
* ``mn1``: the mobile node, without TUN and without interfaces to watch: it starts on its
  configured RLOC and is told its new one through ``serve --control`` (a loopback UDP
  endpoint taking JSON commands; see :mod:`lisptrace.stack.serve`).

There is no application traffic between EIDs (no TUN without root). To make the xTR hold a
mapping for the node's EID and the node count the xTR as a peer (whom it must SMR after a
roam), the lab feeds the xTR one IP packet (cn's EID -> the node's EID) through the xTR's
control endpoint, as if read from its TUN: the xTR resolves the EID, encapsulates the packet
to the node's RLOC, the node decapsulates it and drops it (no TUN to deliver it to).

Then the node is renumbered (a new 127.77.0.x RLOC) and the run checks the control plane
from the JSON decision logs: the Map-Server accepted a Map-Register from the new RLOC, the
node sent an SMR to the xTR, and the xTR's SMR-invoked Map-Request was answered with the new
RLOC (its ``cache-installed`` lists it). The manifest says ``backend: loopback``, has no
flows, a note that the data plane was not exercised, and under ``control_plane`` each check
with its evidence. Capture: dumpcap on ``lo`` (filter ``net 127.77.0.0/16``) when running as
root and dumpcap is installed; otherwise none, and the manifest says which.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from lisptrace.lab import scenarios as sc
from lisptrace.lab.capture import Capture
from lisptrace.lab.manifest import CaptureInfo, HostInfo, Manifest, Registration, RoamEvent
from lisptrace.lab.netns import LabError, LoopbackLab

NET = "127.77.0.0/16"
CONTROL_PORT = {"xtr": 4350, "mn1": 4351}
DATA_PLANE_NOTE = (
    "loopback backend: the data plane between EIDs was not exercised (no TUN devices, no "
    "application flows); one synthetic IP packet (cn's EID -> the mobile node's EID) was fed "
    "to the xTR's ITR through its control endpoint so that it resolves the node's EID and "
    "the node counts it as a peer; the node decapsulated it and dropped it (no TUN)"
)


def supported(s: sc.Scenario) -> str | None:
    """Why ``s`` cannot run on the loopback backend (None: it can)."""
    if len(s.mobiles) != 1 or not s.site:
        return "the loopback backend runs one mobile node and the xTR site only"
    m = s.mobiles[0]
    if s.nonlisp or s.rtr or m.nat or m.in_site or m.petr or s.injects:
        return "the loopback backend has no PETR/PITR, RTR, NAT or square-routing site"
    if m.multihoming != "active-passive" or m.both_up:
        return "the loopback backend gives the mobile node one RLOC at a time"
    if s.roam == "none":
        return "the loopback backend runs roaming scenarios only"
    return None


def configs(s: sc.Scenario, addr: dict[str, str]) -> dict[str, str]:
    """The scenario's TOML files with loopback addresses (the mobile node: one interface
    ``lo0`` with its initial RLOC, no interface to watch)."""
    swap = {sc.MS_ADDRESS: addr["ms"], sc.MR_ADDRESS: addr["mr"], sc.XTR_RLOC: addr["xtr"]}
    out: dict[str, str] = {}
    for file, text in sc.configs(s).items():
        for old, new in swap.items():
            text = text.replace(f'"{old}', f'"{new}')
        m = next((m for m in s.mobiles if file == f"{m.name}.toml"), None)
        if m is not None:
            text = text.split("[mobile-node.interfaces.")[0]
            text += f'[mobile-node.interfaces.lo0]\npriority = 1\naddress = "{addr[m.name]}"\n'
        out[file] = text
    return out


def _command(endpoint: tuple[str, int], command: dict[str, Any]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(json.dumps(command).encode(), endpoint)


def _wait(what: str, timeout: float, probe: Any) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def run_loopback(s: sc.Scenario, out: Path, reason: str = "") -> Manifest:
    """Run ``s`` on loopback addresses (see the module's docstring); write
    ``out/NAME.manifest.json`` (and ``out/NAME-lo.pcapng`` when capturing)."""
    why = supported(s)
    if why is not None:
        raise LabError(f"scenario {s.name}: {why}")
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"{s.name}.work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    m = Manifest(s.name, backend="loopback", description=s.description, created_ns=time.time_ns())
    m.faults = s.faults
    m.violations = list(s.violations)
    m.notes = [*s.notes, DATA_PLANE_NOTE]
    if reason:
        m.notes.append(f"network namespaces unavailable: {reason}")
    mn = s.mobiles[0]
    with LoopbackLab(reason, base=NET) as lab:
        hosts = {n: lab.add_host(n) for n in ("ms", "mr", "xtr", mn.name, "lab")}
        addr = dict(lab.address)
        ctl = {n: (addr["lab"], port) for n, port in CONTROL_PORT.items()}
        for file, text in configs(s, addr).items():
            (work / file).write_text(text)
        capture: Capture | None = None
        if os.geteuid() == 0 and shutil.which("dumpcap"):
            capture = Capture(
                hosts["lab"],
                "lo",
                out / f"{s.name}-lo.pcapng",
                vantage="lo",
                capture_filter=f"net {NET}",
            ).start()
            m.extra["capture"] = "dumpcap on lo (root), filter net 127.77.0.0/16"
        else:
            m.extra["capture"] = "none: capturing on lo needs root and dumpcap"
        roles: dict[str, sc.RoleProc] = {}
        try:
            roles["ms"] = sc.start_role(hosts["ms"], "map-resolver", work / "ms.toml", work, "ms")
            roles["xtr"] = _start(hosts["xtr"], "xtr", work, "xtr", ctl["xtr"])
            roles[mn.name] = _start(hosts[mn.name], "mobile-node", work, mn.name, ctl[mn.name])
            sc._wait_registered(s, roles)
            # prime: the xTR resolves the node's EID and sends it one packet (peer for the SMR)
            packet = sc._ipv4_udp(sc.CN_EID, mn.eid, 40000, sc.UDP_PORT, b"lisptrace-loopback")
            _command(ctl["xtr"], {"packet": packet.hex()})
            xtr, node, ms = roles["xtr"].log, roles[mn.name].log, roles["ms"].log
            if not _wait("prime", 5.0, lambda: xtr.find("cache-installed")):
                raise LabError("loopback: the xTR never resolved the mobile node's EID")
            time.sleep(0.3)  # the encapsulated packet reaches the node
            change = lab.renumber(mn.name)
            new = str(change.address_to)
            _command(ctl[mn.name], {"rlocs": {"lo0": new}})
            # the roam: a new 127.77.0.x address, told to the node (the command is its end)
            change = dataclasses.replace(change, end_ns=time.time_ns())
            after = change.start_ns / 1e9
            checks = _check(s, ms, node, xtr, new, addr["xtr"], after)
            time.sleep(0.3)  # let the last control messages land in the capture
            for rp in roles.values():
                rp.host.terminate(rp.proc)
        finally:
            for rp in roles.values():
                rp.host.terminate(rp.proc, grace=2.0)
            if capture is not None:
                result = capture.stop()
                m.captures.append(
                    CaptureInfo(result.path.name, "lo", "lab", "lo", result.packets, result.dropped)
                )
    logs = {n: rp.log for n, rp in roles.items()}
    addr = dict(lab.address)  # the mobile node's: after the roam
    m.hosts = [
        HostInfo("ms", "map-server", None, {"lo": [f"{addr['ms']}/32"]}),
        HostInfo("mr", "map-resolver", None, {"lo": [f"{addr['mr']}/32"]}),
        HostInfo("xtr", "xtr", None, {"lo": [f"{addr['xtr']}/32"]}, [sc.CN_PREFIX]),
        HostInfo(mn.name, "mobile-node", None, {"lo": [f"{addr[mn.name]}/32"]}, [f"{mn.eid}/32"]),
    ]
    event = RoamEvent.from_change(change)
    m.events = [event]
    m.registrations = [
        Registration(
            r.eid_prefix,
            r.rlocs,
            addr["ms"],
            r.site,
            r.ttl_minutes,
            r.proxy_reply,
            r.after_event,
        )
        for r in sc._registrations(s, logs, m.events)
    ]
    m.flows = []
    m.extra["data_plane"] = "not exercised (loopback backend: no TUN, no application flows)"
    m.extra["control_plane"] = checks
    stopped = logs[mn.name].find("serve-stopped")
    m.extra["primer"] = {
        "packet": f"{sc.CN_EID} -> {mn.eid} UDP, fed to the xTR's ITR via --control",
        "xtr_resolved": bool(logs["xtr"].find("cache-installed")),
        "node_decapsulated_and_dropped": stopped[0]["fields"].get("deliver_dropped")
        if stopped
        else None,
    }
    m.extra["role_decisions"] = {n: sc._counts(log.lines) for n, log in logs.items()}
    m.write(out / f"{s.name}.manifest.json")
    return m


def _start(host: Any, role: str, work: Path, name: str, control: tuple[str, int]) -> sc.RoleProc:
    return sc.start_role(
        host, role, work / f"{name}.toml", work, name, control=f"{control[0]}:{control[1]}"
    )


def _check(
    s: sc.Scenario,
    ms: sc.RoleLog,
    node: sc.RoleLog,
    xtr: sc.RoleLog,
    new: str,
    xtr_rloc: str,
    after: float,
    timeout: float = 5.0,
) -> dict[str, Any]:
    """The control-plane checks after the roam, each ``{"ok": bool, "evidence": line}``."""
    eid = s.mobiles[0].eid

    def first(log: sc.RoleLog, kind: str, where: Any) -> dict[str, Any] | None:
        hits = log.find(kind, lambda x: x["time"] >= after and where(x))
        return hits[0] if hits else None

    def registered() -> dict[str, Any] | None:
        return first(ms, "register-accepted", lambda x: new in x["fields"].get("rlocs", []))

    def smr() -> dict[str, Any] | None:
        return first(node, "smr-sent", lambda x: x["fields"].get("peer_rloc") == xtr_rloc)

    def answered() -> dict[str, Any] | None:
        asked = xtr.find("smr-invoked-request", lambda x: x["time"] >= after)
        nonces = {x["fields"].get("nonce") for x in asked}
        return first(
            xtr,
            "cache-installed",
            lambda x: x["fields"].get("nonce") in nonces and x["fields"].get("rlocs") == [new],
        )

    expect_smr = not any(f in ("no-smr", "ignore-smr") for m in s.mobiles for f in m.faults)
    expect_smr = expect_smr and "ignore-smr" not in s.xtr_faults
    found: dict[str, Any] = {}
    probes = {"registered_from_new_rloc": registered, "smr_sent": smr, "smr_answered": answered}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(found) < len(probes):
        for name, probe in probes.items():
            if name not in found and (hit := probe()) is not None:
                found[name] = hit
        if not expect_smr and "registered_from_new_rloc" in found:
            break
        time.sleep(0.05)
    out: dict[str, Any] = {
        "new_rloc": new,
        "peer_rloc": xtr_rloc,
        "eid": eid,
        "smr_expected": expect_smr,  # False with the no-smr / ignore-smr faults
    }
    for name in probes:
        hit = found.get(name)
        out[name] = {
            "ok": hit is not None,
            "evidence": None
            if hit is None
            else {k: hit[k] for k in ("time", "role", "kind", "detail", "fields")},
        }
    return out


def summary_lines(m: Manifest) -> list[str]:
    """What the CLI adds for a loopback run."""
    cp = m.extra.get("control_plane", {})
    lines = [f"  backend: loopback; capture: {m.extra.get('capture')}"]
    for name in ("registered_from_new_rloc", "smr_sent", "smr_answered"):
        ok = (cp.get(name) or {}).get("ok")
        lines.append(f"  control plane: {name}: {'yes' if ok else 'NO'}")
    lines.append("  data plane: NOT exercised (loopback backend: no TUN, no application traffic)")
    return lines
