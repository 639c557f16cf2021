"""Command line: ``hipacu validate PATH`` (and, as they land, ``report`` and ``grade``).

A user's data mistake prints the problems and exits 1; it never shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_validate(args: argparse.Namespace) -> int:
    from hipacu.evidence import validate

    ev, problems = validate(Path(args.path))
    if problems:
        print(f"{len(problems)} problem(s) in {args.path}:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    print(f"{args.path}: valid; {ev.summary()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hipacu", description="Evidence-graded meta-analysis of acupuncture for hip pain.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check an evidence folder and list every problem")
    v.add_argument("path", help="folder holding studies.csv, outcomes.csv, safety.csv, reviews.csv, claims.csv, analyses.toml")
    v.set_defaults(func=_cmd_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
