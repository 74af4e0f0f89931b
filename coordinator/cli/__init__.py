"""`coordinator` console script.

Each subcommand lives in its own module exposing `register(subparsers)`; the module must
import heavy dependencies inside its handler so `coordinator --help` stays instant.
Handlers return an exit code. Errors map to exit codes in one place:
`UsageError` (bad input, bad files, bad settings) -> 2, storage the OS refuses (full disk,
read-only dir) -> 2, other `CoordinatorError` -> 1, Ctrl-C -> 130.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Sequence

from coordinator.errors import CoordinatorError, UsageError, as_storage_error
from coordinator.settings import get_settings

__all__ = ["build_parser", "main"]

# Order is the order shown in --help.
_SUBCOMMAND_MODULES = ("ask", "routes", "review", "bench", "tickets", "serve", "web")


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line and exits 2 (its default code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _selected(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line, if any (first word not an option)."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser for the subcommand `argv` selects; others appear in --help only.

    A module with a `HELP` string is registered in full only when it is the selected
    command (its `register` may import heavy modules: the benchmarks' parsers do), which
    buys start-up time for every other command and for `--help`."""
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
    selected = _selected(argv)
    for name in _SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"coordinator.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet in this checkout
            if exc.name == f"coordinator.cli.{name}":
                continue
            raise
        if name != selected and isinstance(getattr(module, "HELP", None), str):
            sub.add_parser(name, help=module.HELP)
        else:
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (None: this process's own, `sys.argv`)."""
    try:
        return _main(argv)
    finally:
        if argv is None:  # the process is the command and ends now (not a caller's test)
            _before_exit()


def _before_exit() -> None:
    """Spare interpreter shutdown its garbage collections over everything ADK imported.

    Shutdown collects garbage several times while it tears the modules down; over the
    ~200,000 objects of an ADK process that cost 0.3-0.5 s of CPU per command (measured
    against `os._exit`). Frozen objects are skipped by those collections and freed by the
    OS with the process; shutdown itself (atexit handlers, flushing and closing files)
    still runs. Only for the process's own command line: a caller of `main([...])`
    keeps its garbage collector as it was."""
    gc.freeze()


def _main(argv: Sequence[str] | None = None) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:

        get_settings()  # a bad COORDINATOR_* value is named before any work starts
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"coordinator: error: {exc}", file=sys.stderr)
        return 2
    except CoordinatorError as exc:
        storage = as_storage_error(exc)
        if storage is not None:  # e.g. a full disk met inside a model turn
            print(f"coordinator: error: {storage}", file=sys.stderr)
            return 2
        print(f"coordinator: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("coordinator: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the OS error boundary: a full disk, a read-only dir, ...
        storage = as_storage_error(exc)
        if storage is None:
            raise
        print(f"coordinator: error: {storage}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
