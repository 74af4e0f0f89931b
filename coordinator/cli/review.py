"""`coordinator review FILE`: review a contract or a code snippet, print the report.

Input rules (all one-line errors, exit 2): FILE must exist, be UTF-8 text (no NUL bytes),
not be empty, and be at most --max-bytes (default 1 MB, ~300 pages). Above that we refuse
rather than review slowly: the offline clause checks run at ~0.2 MB/s on this class of
machine, so 5 MB would take ~25 s; split such a file and review the parts. A document with
no recognisable headings is still reviewed, in size-bounded chunks.
"""

from __future__ import annotations

import argparse
from typing import Any

from coordinator.app_spec import ReviewFlags
from coordinator.cli._args import positive_int
from coordinator.cli._gc import one_shot
from coordinator.errors import UsageError
from coordinator.inputs.input_files import DEFAULT_MAX_BYTES, decode_text, read_bounded

__all__ = ["DEFAULT_MAX_BYTES", "read_document", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review",
        help="review a contract or a code snippet (parallel checks + voting)",
        description="Review FILE ('-' for stdin): a contract (sectioned, clause checks in "
        "parallel, 3 judges on high-risk clauses) or code/config (N voters). Prints the "
        "report: --format text (default) or markdown for people, json for the typed report.",
    )
    p.add_argument("file", metavar="FILE", help="UTF-8 text file, or '-' for stdin")
    p.add_argument(
        "--kind",
        default="auto",
        help="what FILE is: a review kind of the app, e.g. contract or security "
        "(default: auto, decided from its content)",
    )
    p.add_argument("--rulebook", default=None, help="rulebook YAML (contract or security)")
    p.add_argument("--voters", type=int, default=3, help="security voters, 1-6 (default 3)")
    p.add_argument(
        "--format",
        choices=["text", "markdown", "json"],
        default="text",
        help="text/markdown: verdict, high risk first, the rest by category; json: the report",
    )
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument(
        "--max-bytes",
        type=positive_int,
        default=DEFAULT_MAX_BYTES,
        help="refuse larger inputs (default %(default)s)",
    )
    p.set_defaults(func=run)


def read_document(name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The document text, or `UsageError` saying in one line why it cannot be reviewed."""
    data = read_bounded(
        name, max_bytes, advice=" (--max-bytes); split the document and review the parts"
    )
    label = "standard input" if name == "-" else name
    text = decode_text(data, label)
    if not text.strip():
        raise UsageError(f"{label}: empty document, nothing to review")
    return text


def _options(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The app's build options for `kind` from the flags (bounds checked by the app)."""
    from coordinator.parallel.review import review_kind  # deferred: see run()

    return review_kind(kind).options(ReviewFlags(rulebook=args.rulebook, voters=args.voters))


@one_shot
def run(args: argparse.Namespace) -> int:
    # deferred: rich's progress bars only once a review runs (every command imports this module)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    # deferred: the runner imports ADK (~1 s); `coordinator review --help` stays instant
    from coordinator.parallel.review import detect_kind, run_review_sync

    text = read_document(args.file, args.max_bytes)
    kind = detect_kind(text) if args.kind == "auto" else args.kind
    options = _options(kind, args)
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage.replace("_", " "), total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        result = run_review_sync(kind, text, on_progress=on_progress, **options)
    report = result.report
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(report.model_dump_json(indent=2))
    elif result.render is not None:  # the review kind says how its report reads
        print(result.render(report, fmt))
    else:
        print(result.text)
    return 0
