"""The test applications report correctly: a TCP session that survives when nothing changes,
one reported broken when the link is moved (no LISP here) or the peer dies, and a UDP stream
whose loss and gaps are counted."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from lisptrace.lab.apps import main, start_app, udp_analyse
from lisptrace.lab.netns import LoopbackLab, Topology

# --------------------------------------------------------------------------- analysis


def test_udp_analyse_counts_loss_runs_duplicates_and_reordering() -> None:
    ms = 1_000_000
    # seq 0..9 sent every 10 ms; 3-5 lost, 7 duplicated, 9 before 8
    arrivals = [(s, s * 10 * ms, s * 10 * ms + ms) for s in (0, 1, 2, 6, 7, 7)]
    arrivals += [(9, 90 * ms, 91 * ms), (8, 80 * ms, 92 * ms)]
    r = udp_analyse(arrivals, total=12)
    assert (r["expected"], r["received"], r["lost"]) == (12, 7, 5)
    assert (r["duplicates"], r["reordered"]) == (1, 1)
    assert r["loss_runs"] == [
        {
            "first": 3,
            "last": 5,
            "count": 3,
            "arrival_before_ns": 21 * ms,
            "arrival_after_ns": 61 * ms,
            "silence_ms": 40.0,
        },
        {
            "first": 10,
            "last": 11,
            "count": 2,
            "arrival_before_ns": 91 * ms,
            "arrival_after_ns": None,
            "silence_ms": None,
        },
    ]
    assert r["max_interarrival_ms"] == 40.0
    assert r["delay_ms"] == {"min": 1.0, "mean": 2.571, "max": 12.0}


def test_udp_analyse_without_end_marker_uses_highest_seq() -> None:
    r = udp_analyse([(0, 0, 1), (2, 0, 2)], total=None)
    assert (r["expected"], r["lost"], r["total_from_sender"]) == (3, 1, None)
    assert udp_analyse([], None)["received"] == 0


# --------------------------------------------------------------------------- loopback


@pytest.fixture
def loop() -> LoopbackLab:
    with LoopbackLab() as fallback:
        yield fallback


def test_tcp_survives_when_nothing_changes_loopback(loop: LoopbackLab, tmp_path: Path) -> None:
    a, b = loop.add_host("a"), loop.add_host("b")
    srv = start_app(b, "tcp-server", tmp_path, "srv", "--bind", loop.address["b"])
    cli = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        loop.address["b"],
        "--port",
        str(srv.port),
        "--bind",
        loop.address["a"],
        "--duration",
        "0.5",
        "--interval-ms",
        "20",
    )
    c, s = cli.result(10), srv.result(10)
    assert c["survived"] and c["reason"] == "" and c["bye"]
    assert c["sent"] == c["echoed"] >= 10
    assert c["local"].startswith(loop.address["a"] + ":")
    assert s["ok"] and s["connections"][0]["end"] == "bye"
    conn = s["connections"][0]
    assert (conn["bytes_received"], conn["bytes_sent"]) == (c["bytes_sent"], c["bytes_received"])
    assert cli.proc.returncode == 0 and srv.proc.returncode == 0


def test_tcp_reported_broken_when_the_server_dies(loop: LoopbackLab, tmp_path: Path) -> None:
    a, b = loop.add_host("a"), loop.add_host("b")
    srv = start_app(b, "tcp-server", tmp_path, "srv", "--bind", loop.address["b"])
    cli = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        loop.address["b"],
        "--port",
        str(srv.port),
        "--duration",
        "3",
        "--interval-ms",
        "20",
    )
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGKILL)
    c = cli.result(10)
    assert not c["survived"]
    assert any(w in c["reason"] for w in ("eof", "reset", "error"))
    assert cli.proc.returncode == 1


def test_tcp_client_reports_connect_failure(loop: LoopbackLab, tmp_path: Path) -> None:
    a = loop.add_host("a")
    c = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        "127.77.9.9",
        "--port",
        "9",
        "--give-up-ms",
        "500",
    ).result(10)
    assert not c["survived"] and c["reason"].startswith("connect failed")


def test_udp_stream_loopback(loop: LoopbackLab, tmp_path: Path) -> None:
    a, b = loop.add_host("a"), loop.add_host("b")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", loop.address["b"])
    tx = start_app(
        a,
        "udp-sender",
        tmp_path,
        "tx",
        "--to",
        loop.address["b"],
        "--port",
        str(rx.port),
        "--bind",
        loop.address["a"],
        "--count",
        "50",
        "--interval-ms",
        "2",
    )
    t, r = tx.result(10), rx.result(10)
    assert t["sent"] == t["attempted"] == 50 and t["send_errors"] == 0
    assert r["complete"] and r["received"] == 50 and r["lost"] == 0 and r["loss_runs"] == []
    assert r["senders"] == [t["local"]]
    assert t["start_ns"] <= r["first_ns"] <= r["last_ns"] <= t["end_ns"]


def test_receiver_writes_its_result_on_sigterm(loop: LoopbackLab, tmp_path: Path) -> None:
    b = loop.add_host("b")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", loop.address["b"])
    r = rx.stop()
    assert r["received"] == 0 and not r["complete"]


def test_cli_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        main([])


# --------------------------------------------------------------------------- namespaces


@pytest.mark.netns
def test_tcp_across_a_router_survives_when_nothing_changes(
    routed: Topology, tmp_path: Path
) -> None:
    a, b = routed.host("a"), routed.host("b")
    srv = start_app(b, "tcp-server", tmp_path, "srv", "--bind", "198.18.2.2")
    cli = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        "198.18.2.2",
        "--port",
        str(srv.port),
        "--duration",
        "0.6",
        "--interval-ms",
        "20",
    )
    c = cli.result(10)
    assert c["survived"] and c["local"].startswith("198.18.1.2:")
    assert srv.result(10)["connections"][0]["peer"].startswith("198.18.1.2:")


@pytest.mark.netns
def test_tcp_over_ipv6(routed: Topology, tmp_path: Path) -> None:
    a, b = routed.host("a"), routed.host("b")
    srv = start_app(b, "tcp-server", tmp_path, "srv", "--bind", "2001:db8:2::2")
    c = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        "2001:db8:2::2",
        "--port",
        str(srv.port),
        "--duration",
        "0.3",
        "--interval-ms",
        "20",
    ).result(10)
    assert c["survived"] and c["local"].startswith("2001:db8:1::2:")


@pytest.mark.netns
@pytest.mark.parametrize("how", ["move-link", "set-address"])
def test_tcp_reported_broken_when_the_mobile_side_moves(
    routed: Topology, tmp_path: Path, how: str
) -> None:
    """Without LISP, the old address is gone or unreachable: the client must say so."""
    a, b = routed.host("a"), routed.host("b")
    srv = start_app(b, "tcp-server", tmp_path, "srv", "--bind", "198.18.2.2")
    rx = start_app(b, "udp-receiver", tmp_path, "rx", "--bind", "198.18.2.2")
    cli = start_app(
        a,
        "tcp-client",
        tmp_path,
        "cli",
        "--connect",
        "198.18.2.2",
        "--port",
        str(srv.port),
        "--duration",
        "2",
        "--interval-ms",
        "20",
        "--give-up-ms",
        "600",
    )
    tx = start_app(
        a,
        "udp-sender",
        tmp_path,
        "tx",
        "--to",
        "198.18.2.2",
        "--port",
        str(rx.port),
        "--duration",
        "1.2",
        "--interval-ms",
        "10",
    )
    time.sleep(0.4)
    if how == "move-link":
        change = a.move_link("eth0", "eth1", gateway="198.18.3.1")
    else:
        change = a.set_address("eth0", "198.18.1.9/24", gateway="198.18.1.1")
    c = cli.result(10)
    assert not c["survived"]
    assert c["reason"].startswith("stalled") or "error" in c["reason"], c["reason"]
    assert c["echoed"] < c["sent"] or not c["bye"]
    # the silence starts around the roam
    assert c["gaps"] and abs(c["gaps"][-1][0] - change.start_ns) < 200_000_000
    srv.stop()
    t, r = tx.result(10), rx.result(10)
    # UDP keeps flowing from the new address (a fresh socket per datagram route) or is lost
    assert r["expected"] == t["attempted"]
    assert r["received"] + r["lost"] == r["expected"]
