"""Real application traffic between lab hosts, each writing a JSON result file.

Run inside a host (``host.python("lisptrace.lab.apps", "tcp-server", ...)``) or with
:func:`start_app`, which also waits until a server or receiver is ready:

* ``tcp-server`` / ``tcp-client``: one TCP connection kept open; the client sends a
  ``PING <seq> <time_ns>`` line every ``--interval-ms`` for ``--duration`` seconds, the server
  echoes ``PONG <seq>``, and the client ends with ``BYE`` / ``BYE``. The connection
  *survived* when every ping was echoed, both sides saw bytes, no reset or error occurred,
  no silence lasted ``--give-up-ms`` and the goodbye came back. ``TCP_USER_TIMEOUT`` is set to
  the same value so the kernel gives up too. Silences longer than three intervals are
  reported as ``gaps`` (wall-clock ns, the capture's clock).
* ``udp-sender`` / ``udp-receiver``: datagrams ``LTU1 | seq (u64) | send time ns (u64) |
  padding`` every ``--interval-ms``, then an END datagram (three times) carrying the count
  sent; the receiver reports received, lost, duplicates, reordered, the runs of lost
  sequence numbers with the arrival times around them, and one-way delay (same host clock).

Every command writes ``--result FILE`` (also on SIGTERM) and servers/receivers write
``--ready FILE`` once bound. Exit status 0 when the flow was healthy, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lisptrace.lab.netns import Host, LabError

UDP_MAGIC = b"LTU1"
UDP_HEADER = struct.Struct("!4sQQ")
UDP_END = 0xFFFF_FFFF_FFFF_FFFF


def _write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write atomically (readers never see half a file)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


# --------------------------------------------------------------------------- TCP


async def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def tcp_server(args: argparse.Namespace) -> int:
    stop = await _stop_event()
    conns: list[dict[str, Any]] = []
    done = asyncio.Event()
    idle = args.idle_ms / 1000 if args.idle_ms else None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        c: dict[str, Any] = {
            "peer": f"{peer[0]}:{peer[1]}",
            "local": "{}:{}".format(*writer.get_extra_info("sockname")[:2]),
            "accepted_ns": time.time_ns(),
            "bytes_received": 0,
            "bytes_sent": 0,
            "messages": 0,
            "end": "open",
        }
        conns.append(c)
        try:
            while True:
                line = await asyncio.wait_for(reader.readline(), idle)
                if not line:
                    c["end"] = "eof"
                    break
                c["bytes_received"] += len(line)
                words = line.split()
                if words[:1] == [b"PING"] and len(words) >= 2:
                    c["messages"] += 1
                    reply = b"PONG " + words[1] + b"\n"
                elif words[:1] == [b"BYE"]:
                    reply = b"BYE\n"
                else:
                    c["end"] = f"garbage: {line[:40]!r}"
                    break
                writer.write(reply)
                await writer.drain()
                c["bytes_sent"] += len(reply)
                if reply == b"BYE\n":
                    c["end"] = "bye"
                    break
        except TimeoutError:
            c["end"] = "idle"
        except ConnectionResetError:
            c["end"] = "reset"
        except OSError as exc:
            c["end"] = f"error: {exc}"
        finally:
            c["closed_ns"] = time.time_ns()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            if sum(1 for x in conns if "closed_ns" in x) >= args.connections:
                done.set()

    server = await asyncio.start_server(handle, args.bind, args.port, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    if args.ready:
        _write_json(args.ready, {"pid": os.getpid(), "address": args.bind, "port": port})
    waiters = [asyncio.ensure_future(done.wait()), asyncio.ensure_future(stop.wait())]
    await asyncio.wait(waiters, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    for w in waiters:
        w.cancel()
    server.close()
    ok = bool(conns) and all(c["end"] == "bye" and c["bytes_received"] > 0 for c in conns)
    _write_json(
        args.result,
        {"app": "tcp-server", "ok": ok, "port": port, "connections": conns},
    )
    return 0 if ok else 1


async def tcp_client(args: argparse.Namespace) -> int:
    stop = await _stop_event()
    interval = args.interval_ms / 1000
    give_up_ns = int(args.give_up_ms * 1e6)
    r: dict[str, Any] = {
        "app": "tcp-client",
        "survived": False,
        "reason": "",
        "peer": f"{args.connect}:{args.port}",
        "sent": 0,
        "echoed": 0,
        "bytes_sent": 0,
        "bytes_received": 0,
        "gaps": [],
        "max_silence_ms": 0.0,
        "bye": False,
    }
    start = time.time_ns()
    r["start_ns"] = start
    sock = socket.socket(_family(args.connect), socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(AttributeError, OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(args.give_up_ms))
    if args.bind:
        sock.bind((args.bind, 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(
            loop.sock_connect(sock, (args.connect, args.port)), args.give_up_ms / 1000
        )
    except (OSError, TimeoutError) as exc:
        sock.close()
        r["reason"] = f"connect failed: {exc!r}"
        r["end_ns"] = time.time_ns()
        _write_json(args.result, r)
        return 1
    r["connected_ns"] = time.time_ns()
    r["local"] = "{}:{}".format(*sock.getsockname()[:2])
    reader, writer = await asyncio.open_connection(sock=sock)
    last_progress = time.time_ns()
    bye = asyncio.Event()
    failure: list[str] = []

    def silence(now: int) -> None:
        gap = now - last_progress
        r["max_silence_ms"] = max(r["max_silence_ms"], _ms(gap))
        if gap > 3 * interval * 1e9:
            r["gaps"].append([last_progress, now])

    async def read() -> None:
        nonlocal last_progress
        try:
            while True:
                line = await reader.readline()
                if not line:
                    failure.append("eof from server")
                    return
                r["bytes_received"] += len(line)
                now = time.time_ns()
                if line.startswith(b"PONG"):
                    silence(now)
                    r["echoed"] += 1
                    last_progress = now
                elif line == b"BYE\n":
                    bye.set()
                    return
        except ConnectionResetError:
            failure.append("reset")
        except OSError as exc:
            failure.append(f"error: {exc}")

    reading = asyncio.ensure_future(read())
    end = time.monotonic() + args.duration
    seq = 0
    try:
        while time.monotonic() < end and not failure and not stop.is_set():
            now = time.time_ns()
            if r["sent"] > r["echoed"] and now - last_progress > give_up_ns:
                failure.append(f"stalled: no echo for {args.give_up_ms} ms")
                break
            line = f"PING {seq} {now} ".encode()
            line = line.ljust(max(args.size, len(line) + 1) - 1, b"x") + b"\n"
            writer.write(line)
            r["sent"] += 1
            r["bytes_sent"] += len(line)
            seq += 1
            await asyncio.sleep(interval)
        if not failure and not stop.is_set():
            writer.write(b"BYE\n")
            r["bytes_sent"] += 4
            deadline = time.time_ns() + give_up_ns
            while not bye.is_set() and not failure and time.time_ns() < deadline:
                await asyncio.sleep(0.005)
            r["bye"] = bye.is_set()
            if not bye.is_set() and not failure:
                failure.append(f"stalled: no goodbye within {args.give_up_ms} ms")
    except ConnectionResetError:
        failure.append("reset")
    except OSError as exc:
        failure.append(f"error: {exc}")
    finally:
        if not r["bye"]:
            silence(time.time_ns())
        reading.cancel()
        with contextlib.suppress(BaseException):
            await reading
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if stop.is_set() and not failure:
        failure.append("interrupted")
    r["end_ns"] = time.time_ns()
    r["survived"] = (
        not failure
        and r["bye"]
        and r["echoed"] == r["sent"] > 0
        and r["bytes_received"] > 0
        and r["bytes_sent"] > 0
    )
    r["reason"] = "; ".join(failure) if failure else ("" if r["survived"] else "incomplete")
    _write_json(args.result, r)
    return 0 if r["survived"] else 1


# --------------------------------------------------------------------------- UDP


def udp_sender(args: argparse.Namespace) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    sock = socket.socket(_family(args.to), socket.SOCK_DGRAM)
    if args.bind or args.sport:
        sock.bind((args.bind or ("::" if ":" in args.to else "0.0.0.0"), args.sport))
    dst = (args.to, args.port)
    size = max(args.size, UDP_HEADER.size)
    r: dict[str, Any] = {"app": "udp-sender", "peer": f"{args.to}:{args.port}", "sent": 0}
    r["send_errors"] = 0
    r["start_ns"] = time.time_ns()
    limit = args.count if args.count else None
    end = time.monotonic() + args.duration
    seq = 0
    next_t = time.monotonic()
    while not stop and (seq < limit if limit is not None else time.monotonic() < end):
        payload = UDP_HEADER.pack(UDP_MAGIC, seq, time.time_ns()).ljust(size, b"\0")
        try:
            sock.sendto(payload, dst)
            r["sent"] += 1
        except OSError as exc:
            r["send_errors"] += 1
            r["last_error"] = str(exc)
        seq += 1
        next_t += args.interval_ms / 1000
        time.sleep(max(0.0, next_t - time.monotonic()))
    r["attempted"] = seq
    end_payload = UDP_HEADER.pack(UDP_MAGIC, UDP_END, seq).ljust(size, b"\0")
    for _ in range(3):
        with contextlib.suppress(OSError):
            sock.sendto(end_payload, dst)
        time.sleep(0.02)
    r["end_ns"] = time.time_ns()
    if r["sent"]:
        r["local"] = "{}:{}".format(*sock.getsockname()[:2])
    sock.close()
    _write_json(args.result, r)
    return 0 if r["send_errors"] == 0 else 1


def udp_analyse(arrivals: Sequence[tuple[int, int, int]], total: int | None) -> dict[str, Any]:
    """Loss, duplicates, reordering and loss runs from ``(seq, sent_ns, arrived_ns)``."""
    seen: dict[int, int] = {}
    duplicates = reordered = 0
    highest = -1
    delays = []
    for seq, sent, arrived in arrivals:
        if seq in seen:
            duplicates += 1
            continue
        seen[seq] = arrived
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
        delays.append(arrived - sent)
    expected = total if total is not None else highest + 1
    runs: list[dict[str, Any]] = []
    start: int | None = None
    for seq in range(expected + 1):
        missing = seq < expected and seq not in seen
        if missing and start is None:
            start = seq
        elif not missing and start is not None:
            before = seen.get(start - 1)
            after = seen.get(seq)
            runs.append(
                {
                    "first": start,
                    "last": seq - 1,
                    "count": seq - start,
                    "arrival_before_ns": before,
                    "arrival_after_ns": after,
                    "silence_ms": _ms(after - before) if before and after else None,
                }
            )
            start = None
    times = sorted(seen.values())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "expected": expected,
        "received": len(seen),
        "lost": expected - len([s for s in seen if s < expected]),
        "duplicates": duplicates,
        "reordered": reordered,
        "loss_runs": runs,
        "max_interarrival_ms": _ms(max(gaps)) if gaps else None,
        "delay_ms": {
            "min": _ms(min(delays)),
            "mean": _ms(sum(delays) // len(delays)),
            "max": _ms(max(delays)),
        }
        if delays
        else None,
        "total_from_sender": total,
    }


def udp_receiver(args: argparse.Namespace) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    sock = socket.socket(_family(args.bind), socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    sock.settimeout(0.05)
    port = sock.getsockname()[1]
    if args.ready:
        _write_json(args.ready, {"pid": os.getpid(), "address": args.bind, "port": port})
    arrivals: list[tuple[int, int, int]] = []
    total: int | None = None
    senders: set[str] = set()
    deadline = time.monotonic() + args.timeout
    linger_until: float | None = None
    while not stop and time.monotonic() < deadline:
        if linger_until is not None and time.monotonic() > linger_until:
            break
        try:
            data, addr = sock.recvfrom(65535)
        except TimeoutError:
            continue
        now = time.time_ns()
        if len(data) < UDP_HEADER.size:
            continue
        magic, seq, stamp = UDP_HEADER.unpack_from(data)
        if magic != UDP_MAGIC:
            continue
        senders.add(f"{addr[0]}:{addr[1]}")
        if seq == UDP_END:
            total = stamp
            linger_until = linger_until or time.monotonic() + args.linger_ms / 1000
            continue
        arrivals.append((seq, stamp, now))
    sock.close()
    r = {"app": "udp-receiver", "port": port, "senders": sorted(senders)}
    r.update(udp_analyse(arrivals, total))
    r["complete"] = total is not None
    r["first_ns"] = arrivals[0][2] if arrivals else None
    r["last_ns"] = arrivals[-1][2] if arrivals else None
    _write_json(args.result, r)
    return 0 if r["complete"] and r["lost"] == 0 else 1


# --------------------------------------------------------------------------- runner API


def wait_for_file(
    path: str | Path, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None
) -> dict[str, Any]:
    """Wait for a JSON file an app writes (ready or result); raises :class:`LabError`."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        if proc is not None and proc.poll() is not None and not path.exists():
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise LabError(f"{path.name}: the app exited ({proc.returncode}) {err.strip()}")
        time.sleep(0.01)
    raise LabError(f"{path}: not written within {timeout} s")


class App:
    """A running app: its process, result file, and (servers) what it bound."""

    def __init__(self, proc: subprocess.Popen[bytes], result: Path, ready: dict[str, Any]) -> None:
        self.proc = proc
        self.result_path = result
        self.ready = ready

    @property
    def port(self) -> int:
        return int(self.ready["port"])

    def result(self, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the process to finish and return its JSON result."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        return json.loads(self.result_path.read_text())

    def stop(self, timeout: float = 5.0) -> dict[str, Any]:
        """SIGTERM (the app writes its result), then return the result."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return json.loads(self.result_path.read_text())


def start_app(host: Host, command: str, workdir: str | Path, name: str, *args: str) -> App:
    """Start ``apps COMMAND args...`` in ``host`` writing ``workdir/name.json``; for servers
    and receivers wait until they are bound (``App.ready`` holds address and port)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir / f"{name}.json"
    result.unlink(missing_ok=True)
    argv = [command, "--result", str(result), *args]
    ready: dict[str, Any] = {}
    if command in ("tcp-server", "udp-receiver"):
        ready_path = workdir / f"{name}.ready.json"
        ready_path.unlink(missing_ok=True)
        argv += ["--ready", str(ready_path)]
        proc = host.python("lisptrace.lab.apps", *argv, stderr=subprocess.PIPE)
        ready = wait_for_file(ready_path, 10.0, proc)
    else:
        proc = host.python("lisptrace.lab.apps", *argv, stderr=subprocess.PIPE)
    return App(proc, result, ready)


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lisptrace.lab.apps", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(s: argparse.ArgumentParser) -> None:
        s.add_argument("--result", required=True, help="JSON result file")

    s = sub.add_parser("tcp-server", help="echo PINGs on one or more TCP connections")
    common(s)
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--ready", help="JSON file written once listening")
    s.add_argument("--connections", type=int, default=1, help="stop after N have ended")
    s.add_argument("--timeout", type=float, default=120.0, help="stop after S seconds")
    s.add_argument("--idle-ms", type=float, default=0, help="end a silent connection (0: never)")

    s = sub.add_parser("tcp-client", help="one long TCP connection, a PING every interval")
    common(s)
    s.add_argument("--connect", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bind", help="source address")
    s.add_argument("--interval-ms", type=float, default=100)
    s.add_argument("--duration", type=float, default=5.0)
    s.add_argument("--give-up-ms", type=float, default=10000)
    s.add_argument("--size", type=int, default=64, help="PING line length")

    s = sub.add_parser("udp-sender", help="numbered datagrams every interval")
    common(s)
    s.add_argument("--to", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bind", help="source address")
    s.add_argument("--sport", type=int, default=0)
    s.add_argument("--interval-ms", type=float, default=20)
    s.add_argument("--duration", type=float, default=5.0)
    s.add_argument("--count", type=int, default=0, help="send exactly N (overrides duration)")
    s.add_argument("--size", type=int, default=64)

    s = sub.add_parser("udp-receiver", help="count numbered datagrams, loss and gaps")
    common(s)
    s.add_argument("--bind", default="0.0.0.0")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--ready", help="JSON file written once bound")
    s.add_argument("--timeout", type=float, default=120.0)
    s.add_argument("--linger-ms", type=float, default=200, help="keep reading after END")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "tcp-server":
        return asyncio.run(tcp_server(args))
    if args.command == "tcp-client":
        return asyncio.run(tcp_client(args))
    if args.command == "udp-sender":
        return udp_sender(args)
    return udp_receiver(args)


if __name__ == "__main__":
    sys.exit(main())
