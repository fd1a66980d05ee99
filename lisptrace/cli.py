"""The ``lisptrace`` command line. Each command calls library functions and prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from lisptrace import __version__
from lisptrace.ingest.walk import CaptureError, dissect, read_frames
from lisptrace.render import summary, tree

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Wireshark-style analysis of LISP Mobile Node (and Mobile IPv6) traffic.",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"lisptrace: {message}", err=True)
    return typer.Exit(2)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def show(
    capture: Annotated[Path, typer.Argument(help="pcap or pcapng file (gzip allowed)")],
    verbose: Annotated[
        bool, typer.Option("-V", "--verbose", help="field tree per message")
    ] = False,
    all_frames: Annotated[bool, typer.Option("--all", help="list frames with no LISP too")] = False,
) -> None:
    """List the LISP messages of a capture, one line each (like tshark), or as field trees."""
    if not capture.is_file():
        raise _fail(f"{capture}: no such file")
    try:
        for frame in read_frames(capture):
            d = dissect(frame)
            if not d.protocol and not all_frames:
                continue
            head = f"{frame.number:>6} {frame.time_ns / 1e9:.6f} {d.src} -> {d.dst}"
            if d.message is not None:
                typer.echo(f"{head} {d.protocol} {summary(d.message)}")
                if verbose:
                    for line in tree(d.message):
                        typer.echo("        " + line)
            elif d.error is not None:
                typer.echo(f"{head} {d.protocol} [malformed: {d.error}]")
            else:
                typer.echo(f"{head} (not LISP)")
    except CaptureError as exc:
        raise _fail(str(exc)) from None


def main() -> None:
    """Entry point: usage errors are one line on stderr with exit status 2, never a traceback."""
    try:
        code = app(standalone_mode=False)
    except click.UsageError as exc:
        typer.echo(f"lisptrace: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
