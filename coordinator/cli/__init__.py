"""`coordinator` console script.

Each subcommand lives in its own module exposing `register(subparsers)`; the module must
import heavy dependencies inside its handler so `coordinator --help` stays instant.
Handlers return an exit code. Errors map to exit codes in one place:
`UsageError` (bad input, bad files) -> 2, other `CoordinatorError` -> 1, Ctrl-C -> 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from coordinator.errors import CoordinatorError, UsageError

__all__ = ["build_parser", "main"]

# Order is the order shown in --help.
_SUBCOMMAND_MODULES = ("ask", "routes", "review", "bench", "web")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2 (its default code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="coordinator",
        description=(
            "Multi-agent coordinator on Google ADK. Routes each request to the right "
            "specialist and runs independent work in parallel. Offline by default "
            "(WordLlama embeddings + local deterministic models); uses Gemini when "
            "GOOGLE_API_KEY (or Vertex settings) is set in the environment or .env."
        ),
        epilog="Run `coordinator COMMAND --help` for the options of each command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"coordinator.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet in this checkout
            if exc.name == f"coordinator.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"coordinator: error: {exc}", file=sys.stderr)
        return 2
    except CoordinatorError as exc:
        print(f"coordinator: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("coordinator: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
