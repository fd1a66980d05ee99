"""``python -m lisptrace.lab --cleanup [--force]`` / ``--check``: lab housekeeping until the
``lisptrace lab`` command exists."""

from __future__ import annotations

import argparse
import sys

from lisptrace.lab.netns import cleanup, detect, ours


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lisptrace.lab")
    p.add_argument("--check", action="store_true", help="say whether namespaces are usable")
    p.add_argument("--cleanup", action="store_true", help="delete namespaces of dead lab runs")
    p.add_argument("--force", action="store_true", help="with --cleanup: of live runs too")
    args = p.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
