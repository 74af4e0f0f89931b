"""`coordinator web`: ADK's dev UI (as `adk web`) with its icon font served locally.

Same FastAPI app as `adk web` (ADK's `get_fast_api_app(web=True)`, so the agents dir's
services.py is honoured), plus `coordinator.serving.web_icons.LocalIconFonts`: offline, icons render
as icons instead of their names. Like `adk web` it has NO authentication, so it binds to
loopback only; use `coordinator serve` to serve other machines.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from coordinator.errors import UsageError

__all__ = ["register"]

DEFAULT_AGENTS_DIR = Path(__file__).resolve().parents[2] / "adk_web"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "web",
        help="ADK's dev UI on 127.0.0.1 with local icon fonts (development only, no auth)",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--host", default="127.0.0.1", help="loopback address (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument(
        "--agents-dir",
        default=str(DEFAULT_AGENTS_DIR),
        help="ADK apps directory (default: this project's adk_web)",
    )
    p.add_argument("--session-service-uri", default=None, help="as `adk web` (e.g. memory://)")
    p.add_argument("--artifact-service-uri", default=None, help="as `adk web` (e.g. memory://)")
    p.set_defaults(func=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(agents_dir: str, **kwargs):
    """ADK's dev-UI FastAPI app with the local icon fonts."""
    from google.adk.cli.fast_api import get_fast_api_app

    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.serving.web_icons import LocalIconFonts

    app = get_fast_api_app(agents_dir=agents_dir, web=True, **kwargs)
    app.add_middleware(LocalIconFonts)
    return app


def run(args: argparse.Namespace) -> int:
    if not _loopback(args.host):
        raise UsageError(
            f"--host {args.host}: the dev UI has no authentication, so it binds to loopback "
            "only; use `coordinator serve` to serve other machines"
        )
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535, got {args.port}")
    agents_dir = Path(args.agents_dir)
    if not agents_dir.is_dir():
        raise UsageError(f"--agents-dir {agents_dir}: no such directory")
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.serving.web_icons import icon_font_path

    if icon_font_path() is None:
        raise UsageError(
            "the icon font package is missing: pip install qtmaterialsymbols (a dependency)"
        )
    import uvicorn

    app = build_app(
        str(agents_dir),
        host=args.host,
        port=args.port,
        session_service_uri=args.session_service_uri,
        artifact_service_uri=args.artifact_service_uri,
    )
    # deferred: loads uvicorn's protocol, only for the command that serves
    from coordinator.serving.header_timeout import HeaderTimeoutProtocol

    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", http=HeaderTimeoutProtocol
    )
    return 0
