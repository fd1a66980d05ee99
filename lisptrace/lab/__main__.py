"""``python -m lisptrace.lab``: run a scenario, regenerate ``captures/``, housekeeping.

* ``python -m lisptrace.lab SCENARIO --out DIR`` -- run one scenario (``--list``: the names);
* ``python -m lisptrace.lab regenerate captures/`` -- the committed, trimmed capture set;
* ``--cleanup [--force]`` / ``--check`` -- delete namespaces of dead runs / say whether
  namespaces work here.
"""

from __future__ import annotations

import argparse
import sys

from lisptrace.lab.netns import LabError, cleanup, detect, ours


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lisptrace.lab")
    p.add_argument("scenario", nargs="?", help="a scenario name, or 'regenerate'")
    p.add_argument("directory", nargs="?", help="with 'regenerate': the captures directory")
    p.add_argument("--out", help="where the captures and the manifest go")
    p.add_argument("--only", action="append", help="with 'regenerate': just these scenarios")
    p.add_argument(
        "--backend",
        choices=("netns", "loopback"),
        help="netns (default when available) or loopback (control plane only, no root needed)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios")
    p.add_argument("--check", action="store_true", help="say whether namespaces are usable")
    p.add_argument("--cleanup", action="store_true", help="delete namespaces of dead lab runs")
    p.add_argument("--force", action="store_true", help="with --cleanup: of live runs too")
    args = p.parse_args(argv)
    if args.list:
        from lisptrace.lab.scenarios import NOT_IMPLEMENTED, SCENARIOS

        for name, s in SCENARIOS.items():
            print(f"{name:34} {s.description}")
        for name, why in NOT_IMPLEMENTED.items():
            print(f"{name:34} (not implemented) {why}")
        return 0
    if args.scenario and not (args.check or args.cleanup):
        return _run(args)
    if args.check or not args.cleanup:
        a = detect()
        print(f"{a.backend}: {a.reason}")
        if not args.cleanup:
            return 0 if a.netns else 1
    if not detect(probe=False).netns:
        print("nothing to clean: namespaces unavailable")
        return 0
    gone = cleanup(force=args.force)
    for ns in gone:
        print(f"deleted {ns}")
    left = ours(force=True)
    if left:
        print(f"{len(left)} namespace(s) of live runs kept (use --force): {' '.join(left)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from lisptrace.lab.scenarios import regenerate, run_scenario, summary

    try:
        if args.scenario == "regenerate":
            directory = args.directory or args.out or "captures"
            for line in regenerate(directory, args.only):
                print(line)
            return 0
        if not args.out:
            print("python -m lisptrace.lab SCENARIO --out DIR", file=sys.stderr)
            return 2
        manifest = run_scenario(args.scenario, args.out, backend=args.backend)
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    print(summary(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
