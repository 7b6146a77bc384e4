"""The ``skastro`` command line (also ``python -m skastro``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    run_demo(
        args.out,
        size=args.size,
        sections=args.sections,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``skastro`` command."""
    parser = argparse.ArgumentParser(
        prog="skastro",
        description="scikit-learn estimators for astronomical images and light curves.",
    )
    parser.add_argument("--verbose", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the paper comparisons on built-in simulated data",
        description="Simulate data, run the papers' comparisons, write a report.",
    )
    demo.add_argument("--out", default="skastro_demo", help="output folder")
    demo.add_argument("--size", choices=["small", "paper"], default="small")
    demo.add_argument(
        "--sections", nargs="+", default=None, help="run only these sections"
    )
    demo.add_argument("--random-state", type=int, default=0)
    demo.add_argument("--quiet", action="store_true")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``skastro`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError, OSError, KeyError) as exc:
        if args.verbose:
            raise
        print(f"skastro {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
