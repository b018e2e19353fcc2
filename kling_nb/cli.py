"""The ``kling-nb`` command line: ``kling-nb --version`` and ``kling-nb simulator ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kling_nb._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kling-nb",
        description="Kling video generation from Jupyter notebooks, through the Oxen.ai API.",
    )
    parser.add_argument("--version", action="version", version=f"kling-nb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sim = sub.add_parser(
        "simulator",
        help="serve a local simulator of the Oxen.ai API (needs the 'simulator' extra)",
        description="Serve a faithful local Oxen.ai API on loopback until stopped.",
    )
    try:
        from kling_nb.simulator.cli import add_arguments
    except ImportError:  # the simulator extra is not installed
        sim.set_defaults(_missing_extra=True)
    else:
        add_arguments(sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "simulator":
        if getattr(args, "_missing_extra", False):
            print(
                "kling-nb simulator needs the simulator extra: pip install 'kling-nb[simulator]'",
                file=sys.stderr,
            )
            return 2
        from kling_nb.simulator.cli import serve

        return serve(args)
    parser.error(f"unknown command {args.command!r}")  # argparse exits; never returns


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
