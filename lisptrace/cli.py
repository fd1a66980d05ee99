"""The ``lisptrace`` command line. Each command calls library functions and prints.

Exit statuses (docs/cli.md): 0 success; 2 usage or input error (one line on stderr);
3 decoded, but a capture was truncated (every frame before the cut is in the output);
130 interrupted.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lisptrace import __version__

if TYPE_CHECKING:
    from lisptrace.ingest.layers import Ports
    from lisptrace.ingest.reading import Reading

# Each command imports its machinery when it runs (``lisptrace decode`` does not load dpkt,
# rich, asyncio or the stack): see test_cli.py::test_commands_import_lazily.

EXIT_USAGE = 2
EXIT_TRUNCATED = 3
# lisptrace.stack.serve.ROLES, spelled out so that the CLI does not import the stack to list
# them (a test checks that the two agree)
ROLES = ("map-server", "map-resolver", "xtr", "petr", "pitr", "mobile-node", "rtr")
_DONE: list[str] = []  # commands that finished all their work (see run)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lisptrace")
def app() -> None:
    """Wireshark-style analysis of LISP Mobile Node (and Mobile IPv6) traffic."""


PORT = click.IntRange(1, 65535)
_F = TypeVar("_F", bound=Callable[..., Any])


def _port_options(command: _F) -> _F:
    """The LISP ports (Wireshark's "Decode As"): ``--control-port``, ``--data-port``,
    ``--gpe-port``."""
    for name, default, what in reversed(
        [
            ("control", 4342, "LISP control messages: this port at either end."),
            ("data", 4341, "LISP data plane: UDP to this port."),
            ("gpe", 4790, "LISP-GPE: UDP to this port."),
        ]
    ):
        option = click.option(
            f"--{name}-port", type=PORT, default=default, show_default=True, help=what
        )
        command = option(command)
    return command


def _ports(control: int, data: int, gpe: int) -> Ports:
    if len({control, data, gpe}) < 3:
        raise click.UsageError(
            f"--control-port, --data-port and --gpe-port must differ ({control}, {data}, {gpe})"
        )
    from lisptrace.ingest.layers import Ports

    return Ports(control, data, gpe)


@app.command()
@click.argument("capture", type=click.Path(path_type=Path))
@click.option("-V", "--verbose", is_flag=True, help="Print the field tree of each message.")
@click.option("--all", "all_frames", is_flag=True, help="List frames with no LISP too.")
@_port_options
def show(
    capture: Path,
    verbose: bool,
    all_frames: bool,
    control_port: int,
    data_port: int,
    gpe_port: int,
) -> None:
    """List the LISP messages of CAPTURE (pcap/pcapng, gzip allowed), one line each."""
    ports = _ports(control_port, data_port, gpe_port)
    from lisptrace.ingest.capture import CaptureError
    from lisptrace.ingest.walk import dissect, read_frames
    from lisptrace.render import summary, tree

    if not capture.is_file():
        raise click.UsageError(f"{capture}: no such file")
    warnings: list[str] = []
    try:
        for frame in read_frames(capture, warnings):
            d = dissect(frame, ports)
            if not d.protocol and not all_frames:
                continue
            head = f"{frame.number:>6} {frame.time_ns / 1e9:.6f} {d.src} -> {d.dst}"
            if d.message is not None:
                click.echo(f"{head} {d.protocol} {summary(d.message)}")
                if verbose:
                    for line in tree(d.message):
                        click.echo("        " + line)
            elif d.error is not None:
                click.echo(f"{head} {d.protocol} [malformed: {d.error}]")
            else:
                click.echo(f"{head} (not LISP)")
    except CaptureError as exc:
        raise click.UsageError(str(exc)) from None
    for w in warnings:
        click.echo(f"lisptrace: warning: {w}", err=True)
    if warnings:
        sys.exit(EXIT_TRUNCATED)


def _table_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    from lisptrace.tables import TABLES

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise click.UsageError(
            f"--tables: unknown table(s) {', '.join(unknown)} (tables: {', '.join(TABLES)})"
        )
    return [n for n in names if n != "packets"]


@app.command()
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Output directory (one file per table + manifest.json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "arrow"]),
    default="parquet",
    show_default=True,
    help="Parquet (zstd) or Arrow IPC files.",
)
@click.option("--tables", help="Comma-separated tables to write (packets is always written).")
@click.option(
    "--keys",
    type=click.Path(path_type=Path),
    help="TOML key file to verify Map-Register/Notify HMACs (see docs/cli.md).",
)
@_port_options
@click.option("--overwrite", is_flag=True, help="Replace a decoded output already in OUTPUT.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary line.")
def decode(
    captures: tuple[Path, ...],
    out: Path,
    fmt: str,
    tables: str | None,
    keys: Path | None,
    control_port: int,
    data_port: int,
    gpe_port: int,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Decode CAPTURE... (merged by time) into Arrow tables in OUTPUT."""
    for c in captures:
        if not c.is_file():
            raise click.UsageError(f"{c}: no such file")
    ports = _ports(control_port, data_port, gpe_port)
    # The reading starts first (numpy and the capture reader only): its thread reads the
    # first batches while pyarrow and the codecs are imported below.
    from lisptrace.ingest.capture import CaptureError
    from lisptrace.ingest.reading import Reading

    try:
        reading = Reading(captures, ports=ports)
    except CaptureError as exc:
        raise click.UsageError(str(exc)) from None
    with contextlib.closing(reading):  # also when an option below is refused
        wanted = _table_list(tables)
        from lisptrace.ingest.keys import KeyFileError, load_keys

        ring = None
        if keys is not None:
            try:
                ring = load_keys(keys)
            except KeyFileError as exc:
                raise click.UsageError(str(exc)) from None
        _arrow_memory_pool()
        _glibc_heap_pad()
        _pyarrow_without_pandas()
        from lisptrace.ingest.decode import decode as run_decode

        try:
            if not quiet and sys.stderr.isatty():
                summary_ = _with_progress(run_decode, reading, out, fmt, wanted, ring, overwrite)
            else:
                summary_ = run_decode(reading, out, fmt, wanted, ring, overwrite=overwrite)
        except FileExistsError as exc:
            raise click.UsageError(f"{exc} (use --overwrite)") from None
    for w in summary_.warnings:
        click.echo(f"lisptrace: warning: {w}", err=True)
    if not quiet:
        click.echo(summary_.line(), err=True)
    _DONE.append("decode")
    if summary_.truncated:
        sys.exit(EXIT_TRUNCATED)


def _arrow_memory_pool() -> None:
    """Have the decode's Arrow buffers (its tables, Parquet's encoding) come from Arrow's
    jemalloc pool where pyarrow has one, unless ``ARROW_DEFAULT_MEMORY_POOL`` says otherwise.

    With the default mimalloc, the resident size of a decode drifts up with its length and from
    run to run (1M frames 311-332 MB, 4M 355-375 MB); with jemalloc it is lower and steady
    (273-281 and 299-301 MB) at the same speed (docs/performance.md). Arrow reads the variable
    once, when it first allocates, so this is done before pyarrow is imported (or not at all).
    Whether the pool exists is read from pyarrow's build configuration, not tried: an absent
    pool named in the variable would cost a warning on stderr.
    """
    if "pyarrow" in sys.modules or "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    spec = importlib.util.find_spec("pyarrow")
    if spec is None or spec.origin is None:
        return
    config = Path(spec.origin).parent / "include" / "arrow" / "util" / "config.h"
    try:
        lines = config.read_text().splitlines()
    except OSError:
        return
    if any(line.split() == ["#define", "ARROW_JEMALLOC"] for line in lines):  # not "#undef"
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"


GLIBC_TOP_PAD = 16 << 20
_M_TOP_PAD = -2  # glibc's mallopt parameter


def _glibc_heap_pad() -> None:
    """Have glibc keep ``GLIBC_TOP_PAD`` bytes at the top of its heaps when it trims them.

    What the decode still takes from malloc (Parquet's zstd contexts, numpy's small arrays,
    Python's larger objects) comes and goes with every batch; glibc gave the top of its heaps
    back each time and faulted the pages in again for the next batch (~10,000 page faults in a
    1M-frame decode). Keeping 16 MiB: ~3 % faster, peak RSS +3-4 MB (docs/performance.md).
    Other C libraries are left alone.
    """
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return
    except (ValueError, OSError):
        return
    import ctypes

    ctypes.CDLL(None).mallopt(_M_TOP_PAD, GLIBC_TOP_PAD)


def _pyarrow_without_pandas() -> None:
    """Spare the decode pandas' import (0.2-0.3 s, ~40 MB): pyarrow tries it once, lazily, at
    its first array conversion, and the decode never hands pandas anything. pyarrow's one try
    finds none; pandas stays importable (``to_pandas()`` imports it when asked)."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    class NoPandas:
        @staticmethod
        def find_spec(name: str, *_: Any) -> None:
            if name.partition(".")[0] == "pandas":
                raise ImportError("not for the decode")

    sys.meta_path.insert(0, NoPandas)  # type: ignore[arg-type]
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(NoPandas)  # type: ignore[arg-type]


def _with_progress(
    run: Callable[..., Any],
    reading: Reading,
    out: Path,
    fmt: str,
    wanted: list[str] | None,
    ring: Any,
    overwrite: bool,
) -> Any:
    """Run the decode under a rich progress display on stderr (frames decoded, elapsed)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("decoding"),
        BarColumn(),
        TextColumn("{task.fields[frames]:,} frames"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("decode", total=None, frames=0)

        def progress(frames: int) -> None:
            bar.update(task, frames=frames)

        return run(reading, out, fmt, wanted, ring, progress=progress, overwrite=overwrite)


@app.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="TOML file with the role's section.",
)
@click.option("--tun", metavar="IFNAME", help="TUN device carrying local hosts' traffic.")
@click.option(
    "--log",
    "log_path",
    type=click.Path(path_type=Path),
    help="Decision log, JSON lines (default: stdout).",
)
@click.option(
    "--control",
    metavar="ADDR:PORT",
    help="Loopback UDP endpoint taking JSON commands (new RLOCs; packets as if from the TUN).",
)
def serve(
    role: str, config_path: Path, tun: str | None, log_path: Path | None, control: str | None
) -> None:
    """Run a reference LISP ROLE as a process until SIGTERM (see docs/stack.md)."""
    from lisptrace.stack.serve import serve as run_role

    if log_path is None:
        sys.exit(run_role(role, str(config_path), tun=tun, control=control))
    try:
        stream = log_path.open("a", encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"--log {log_path}: {exc.strerror or exc}") from None
    with stream:
        sys.exit(run_role(role, str(config_path), tun=tun, log=stream, control=control))


@app.command(
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lab(args: tuple[str, ...]) -> None:
    """Run a lab SCENARIO --out DIR in network namespaces (--list, --check, --cleanup,
    regenerate captures/; see docs/lab.md). -h for its options."""
    from lisptrace.lab.__main__ import main as lab_main

    sys.exit(lab_main(list(args)))


@app.command()
def anomalies() -> None:
    """List every anomaly code the decoders can report (Markdown table)."""
    from lisptrace.render import anomaly_catalog_markdown

    click.echo(anomaly_catalog_markdown(), nl=False)


def run() -> None:
    """The ``lisptrace`` console script: :func:`main`, and then, once a decode has written and
    closed every file and printed its summary, the process ends at once (``os._exit``) when
    only this thread is left: Python's teardown (freeing every module and object, ~50 ms) does
    nothing a finished decode needs. Other commands end as usual."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if _DONE and isinstance(code, int | None) and threading.active_count() == 1:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
                stream.flush()
        os._exit(code or 0)
    sys.exit(code)  # type: ignore[arg-type]


def main() -> None:
    """Entry point: usage errors are one line on stderr with exit status 2, never a traceback."""
    try:
        app.main(standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"lisptrace: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        sys.exit(130)
