"""`coordinator bench ...`: benchmarks that print ratios measured side by side in one run."""

from __future__ import annotations

import argparse
import importlib

# Each name is a module in coordinator.bench exposing register(subparsers).
_BENCHES = ("routing", "fanout", "voting", "load", "intents", "confirmations", "startup")
# Shown by `coordinator --help` without importing the benchmarks (see cli.build_parser).
HELP = "benchmarks: " + ", ".join(_BENCHES)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "bench",
        help=HELP,
        description="Benchmarks that compare two implementations side by side in one run "
        "and print the measured ratios. Add --json for machine-readable output.",
    )
    inner = parser.add_subparsers(dest="bench", metavar="BENCH", parser_class=type(parser))
    for name in _BENCHES:
        try:
            module = importlib.import_module(f"coordinator.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"coordinator.bench.{name}":
                continue
            raise
        module.register(inner)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
