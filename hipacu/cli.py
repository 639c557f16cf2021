"""Command line: ``hipacu validate PATH``, ``hipacu grade [--json]``, ``hipacu report [--evidence DIR]``,
``hipacu init DIR``, ``hipacu import-revman FILE DIR``, ``hipacu --version``.

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


def _load(path: str | None):
    """Load evidence or print its problems; returns None after printing."""
    from hipacu.evidence import EvidenceError, load_evidence

    try:
        return load_evidence(path)
    except EvidenceError as exc:
        print(str(exc), file=sys.stderr)
        return None


def _cmd_grade(args: argparse.Namespace) -> int:
    from hipacu.review.claims import grade_claims

    ev = _load(args.evidence)
    if ev is None:
        return 1
    if args.json:  # schema: README "hipacu grade --json"
        import json

        from hipacu.review.export import grades_json

        print(json.dumps(grades_json(ev), indent=2, ensure_ascii=False, allow_nan=False))
        return 0
    table = grade_claims(ev)
    for _, r in table.iterrows():
        cert = r["certainty"].replace("_", " ") if r["certainty"] else "not graded"
        print(f"{r['claim_id']:<4} {r['verdict'].upper()}  [{cert}{' ' + r['symbols'] if r['symbols'] else ''}]")
        print(f"     claim:  {r['claim']}")
        print(f"     reason: {r['reason']}")
        if r["reviews"]:
            print(f"     reviews: {r['reviews']}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hipacu.report import main as report_main

    return report_main(args.out, args.jobs, args.evidence)


def _cmd_init(args: argparse.Namespace) -> int:
    from hipacu.evidence.template import init_folder

    try:
        written = init_folder(Path(args.path))
    except (FileExistsError, OSError) as exc:
        print(f"hipacu init: {exc}", file=sys.stderr)
        return 1
    print(f"{args.path}: wrote {', '.join(p.name for p in written)}")
    print(f"next: edit the files (columns: evidence/README.md), then `hipacu validate {args.path}` and "
          f"`hipacu report --evidence {args.path}`")
    return 0


def _cmd_import_revman(args: argparse.Namespace) -> int:
    from hipacu.revman import RevManError, import_revman

    lib = True if args.lower_is_better else (False if args.higher_is_better else None)
    try:
        written = import_revman(args.file, args.dir, source_url=args.source_url, design=args.design, lower_is_better=lib,
                                value_type=args.value_type)
    except (RevManError, ValueError, OSError) as exc:
        print(f"hipacu import-revman: {exc}", file=sys.stderr)
        return 1
    for folder in written:
        print(f"{folder}: written")
    return 0


def _version() -> str:
    import hipacu

    return f"hipacu {hipacu.__version__}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hipacu", description="Evidence-grading meta-analysis: pool, grade with GRADE, report, every number sourced.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    i = sub.add_parser("init", help="write a minimal, valid evidence folder to fill in (one sourced example row)")
    i.add_argument("path", help="folder to write (created if needed; existing files are never overwritten)")
    i.set_defaults(func=_cmd_init)
    rv = sub.add_parser("import-revman", help="a RevMan 5 file (.rm5) as evidence folders, one per analysis")
    rv.add_argument("file", help="the .rm5 file")
    rv.add_argument("dir", help="output folder; each analysis goes to DIR/analysis_<comparison>.<outcome>")
    rv.add_argument("--source-url", required=True, help="where the review can be read (every row cites it)")
    rv.add_argument("--design", required=True, help="design of the included studies (e.g. rct); not in RevMan's data")
    rv.add_argument("--value-type", choices=("final", "change"), default=None,
                    help="continuous and generic analyses: values at follow-up or change from baseline")
    d = rv.add_mutually_exclusive_group()
    d.add_argument("--lower-is-better", action="store_true", help="lower values favour the intervention")
    d.add_argument("--higher-is-better", action="store_true", help="higher values favour the intervention")
    rv.set_defaults(func=_cmd_import_revman)
    v = sub.add_parser("validate", help="check an evidence folder and list every problem")
    v.add_argument("path", help="folder holding studies.csv, outcomes.csv, safety.csv, reviews.csv, claims.csv, analyses.toml")
    v.set_defaults(func=_cmd_validate)
    g = sub.add_parser("grade", help="the article's claims with their verdicts, certainty and reasons")
    g.add_argument("--evidence", default=None, help="evidence folder (default: the bundled evidence)")
    g.add_argument("--json", action="store_true",
                   help="machine-readable output: every analysis with its grade and every claim (schema in the README)")
    g.set_defaults(func=_cmd_grade)
    r = sub.add_parser("report", help="run every analysis and notebook; write an HTML report with all figures")
    r.add_argument("--out", default="report", help="output folder (default: report/)")
    r.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel (default: 2)")
    r.add_argument("--evidence", default=None,
                   help="evidence folder (default: the bundled evidence); its topic.toml gives the report's title, "
                        "question, citation and notebooks, and each notebook receives the folder as EVIDENCE")
    r.set_defaults(func=_cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader closed the pipe (`hipacu grade | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
