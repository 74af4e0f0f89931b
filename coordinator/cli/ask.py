"""`coordinator ask "TEXT"`: one request through the coordinator, answer on stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coordinator.cli._gc import one_shot
from coordinator.errors import UsageError
from coordinator.inputs.input_files import read_bounded
from coordinator.settings import get_settings

__all__ = ["read_request", "register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ask",
        help="send one request to the coordinator and print the answer",
        description="Route one request to the right specialist and print its answer. "
        "TEXT may be '-' to read the request from standard input (UTF-8). "
        "Use the same --session to continue a conversation.",
    )
    p.add_argument("text", metavar="TEXT", help="the request, or '-' to read stdin")
    p.add_argument("--json", action="store_true", help="print the whole Reply as JSON")
    p.add_argument("--user", default="user", help="acting user id (default: %(default)s)")
    p.add_argument("--session", default=None, help="session id to continue (default: new)")
    p.add_argument(
        "--model",
        metavar="MODEL_DIR",
        default=None,
        help="route with a classifier trained by `coordinator routes train` "
        "(default: COORDINATOR_ROUTER_MODEL, else trained from the routes file)",
    )
    p.set_defaults(func=run)


def read_request(text: str, max_chars: int) -> str:
    """The request text; '-' reads stdin, which must be UTF-8.

    Stdin is read up to 4 bytes per allowed character (UTF-8's widest) and no further,
    so `ask - </dev/zero` stops at the limit instead of filling memory.
    """
    if text != "-":
        return text
    data = read_bounded(
        "-",
        4 * max_chars,
        advice=" (COORDINATOR_MAX_REQUEST_CHARS); for documents use `coordinator review FILE`",
    )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"standard input is not UTF-8 text (byte {exc.start})") from None


def _progress_printer():
    """Show, on a terminal's stderr, what happens while the answer is produced."""

    def show(ev) -> None:
        if ev.kind == "route":
            d = ev.data
            print(
                f"-> {d.get('route')} ({d.get('method')}, confidence "
                f"{float(d.get('confidence') or 0):.2f})",
                file=sys.stderr,
            )
        elif ev.kind == "tool_call":
            print(f"   {ev.author}: {ev.data['name']}(...)", file=sys.stderr)
        elif ev.kind == "partial" and "stage" in ev.data:
            print(
                f"   {ev.author}: {ev.data['stage']} ({ev.data.get('total', '?')})", file=sys.stderr
            )

    return show


@one_shot
def run(args: argparse.Namespace) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.inputs.request_text import validate_request

    settings = get_settings()
    if args.model:
        model_dir = Path(args.model)
        if not (model_dir / "manifest.json").is_file():
            raise UsageError(f"{model_dir}: not a trained router dir (no manifest.json)")
        settings = settings.model_copy(update={"router_model_dir": model_dir})
    # Bad input and an unusable data dir are refused before ADK is imported (seconds).
    text = validate_request(
        read_request(args.text, settings.max_request_chars), settings.max_request_chars
    )
    settings.ensure_data_dir()
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.api import Coordinator  # lazy: ADK + google-genai, ~1 s of start-up

    progress = _progress_printer() if sys.stderr.isatty() else None
    # warm_up=False: one request per process, so a throwaway warm-up run is pure cost.
    reply = Coordinator(settings=settings, warm_up=False).ask(
        text, user_id=args.user, session_id=args.session, on_event=progress
    )
    if args.json:
        print(reply.model_dump_json(indent=2))
    else:
        print(reply.text)
        routes = " + ".join(reply.routes) if len(reply.routes) > 1 else reply.route
        print(
            f"-- {routes} via {reply.method} (confidence {reply.confidence:.2f}, "
            f"{reply.latency_ms:.0f} ms, session {reply.session_id})",
            file=sys.stderr,
        )
    return 0
