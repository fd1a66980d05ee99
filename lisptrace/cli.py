"""The ``lisptrace`` command line. Each command calls library functions and prints."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lisptrace import __version__
from lisptrace.ingest.walk import CaptureError, dissect, read_frames
from lisptrace.render import anomaly_catalog_markdown, summary, tree


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lisptrace")
def app() -> None:
    """Wireshark-style analysis of LISP Mobile Node (and Mobile IPv6) traffic."""


@app.command()
@click.argument("capture", type=click.Path(path_type=Path))
@click.option("-V", "--verbose", is_flag=True, help="Print the field tree of each message.")
@click.option("--all", "all_frames", is_flag=True, help="List frames with no LISP too.")
def show(capture: Path, verbose: bool, all_frames: bool) -> None:
    """List the LISP messages of CAPTURE (pcap/pcapng, gzip allowed), one line each."""
    if not capture.is_file():
        raise click.UsageError(f"{capture}: no such file")
    try:
        for frame in read_frames(capture):
            d = dissect(frame)
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


@app.command()
def anomalies() -> None:
    """List every anomaly code the decoders can report (Markdown table)."""
    click.echo(anomaly_catalog_markdown(), nl=False)


def main() -> None:
    """Entry point: usage errors are one line on stderr with exit status 2, never a traceback."""
    try:
        app.main(standalone_mode=False)
    except click.ClickException as exc:
        click.echo(f"lisptrace: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
