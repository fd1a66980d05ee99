"""Packet capture at a vantage point: dumpcap (or tshark) on one interface of one host.

:meth:`Capture.start` returns only once the capture is really running (dumpcap has opened
the interface and written the pcapng header, which it reports on stderr with ``File: ...``
after activating the socket), so traffic sent afterwards is in the file. :meth:`Capture.stop`
sends SIGTERM, which dumpcap handles by flushing, writing the interface statistics and
closing the file; the file is complete when it returns. Timestamps are the kernel's
wall clock, the same clock as ``time.time_ns()`` used for roaming events.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from lisptrace.lab.netns import Host, LabError


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """What a finished capture wrote: file, packets dumpcap counted, drops, its stderr."""

    vantage: str
    host: str
    interface: str
    path: Path
    packets: int | None
    dropped: int | None
    log: str


def capture_tool() -> str | None:
    """``dumpcap`` if installed, else ``tshark``, else None."""
    for tool in ("dumpcap", "tshark"):
        if shutil.which(tool):
            return tool
    return None


class Capture:
    """Capture ``interface`` of ``host`` into ``path`` (pcapng); a context manager."""

    def __init__(
        self,
        host: Host,
        interface: str,
        path: str | Path,
        vantage: str | None = None,
        capture_filter: str | None = None,
        snaplen: int | None = None,
        comment: str | None = None,
        tool: str | None = None,
    ) -> None:
        self.host = host
        self.interface = interface
        self.path = Path(path).resolve()
        self.vantage = vantage or f"{host.name}:{interface}"
        self.capture_filter = capture_filter
        self.snaplen = snaplen
        self.comment = comment
        self.tool = tool or capture_tool()
        if self.tool is None:
            raise LabError("neither dumpcap nor tshark is installed: cannot capture")
        self.proc: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self.result: CaptureResult | None = None

    def argv(self) -> list[str]:
        """The command line (dumpcap writes pcapng by default; tshark is told to)."""
        argv = [self.tool or "dumpcap", "-i", self.interface, "-w", str(self.path)]
        if self.tool != "dumpcap":
            argv += ["-F", "pcapng", "-n"]
        if self.snaplen:
            argv += ["-s", str(self.snaplen)]
        if self.capture_filter:
            argv += ["-f", self.capture_filter]
        if self.comment and self.tool == "dumpcap":
            argv += ["--capture-comment", self.comment]
        return argv

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self._lines.append(line)
            # dumpcap prints "File:" after activating the socket and writing the header
            ready_word = "File:" if self.tool == "dumpcap" else "Capturing on"
            if line.startswith(ready_word):
                self._ready.set()
        self._ready.set()

    def start(self, timeout: float = 10.0) -> Capture:
        """Start and wait until the capture runs (raises :class:`LabError` if it fails)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self.proc = self.host.popen(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        # the header is on disk once dumpcap says "File:"; tshark: wait for the file itself
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.path.exists() and self.path.stat().st_size > 0 and self._ready.is_set():
                return self
            time.sleep(0.01)
        log = "\n".join(self._lines)
        self.stop()
        raise LabError(f"capture on {self.vantage} did not start: {log.strip() or 'timeout'}")

    def stop(self, timeout: float = 10.0) -> CaptureResult:
        """Stop cleanly (SIGTERM, then SIGKILL after ``timeout``); idempotent."""
        if self.result is not None:
            return self.result
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._reader is not None:
            self._reader.join(timeout=2)
        log = "\n".join(self._lines)
        packets = re.search(r"Packets captured: (\d+)", log)
        dropped = re.search(r"received/dropped on interface '[^']*': \d+/(\d+)", log)
        self.result = CaptureResult(
            self.vantage,
            self.host.name,
            self.interface,
            self.path,
            int(packets.group(1)) if packets else None,
            int(dropped.group(1)) if dropped else None,
            log,
        )
        return self.result

    def __enter__(self) -> Capture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
