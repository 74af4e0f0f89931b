"""`coordinator serve`: ADK's HTTP API with authentication, per-user limits and guards."""

from __future__ import annotations

import argparse
from pathlib import Path

from coordinator.cli._args import positive_int
from coordinator.errors import UsageError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve ADK's HTTP API with authentication and per-user limits",
        description="Serve the apps in --agents-dir over ADK's HTTP API (/run, /run_sse, "
        "sessions, ...) behind bearer authentication: API keys from "
        "COORDINATOR_API_KEYS_FILE (`<user_id> <sha256 hex of the key>` lines) and/or JWTs "
        "(COORDINATOR_JWT_*). Each caller acts only as its own user id. Unlike `adk web` and "
        "`adk api_server`, this is meant to be reachable by other people.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument(
        "--agents-dir", type=Path, help="ADK agents directory (default: the bundled adk_web)"
    )
    p.add_argument(
        "--insecure-local",
        action="store_true",
        help="serve without authentication; allowed only on a loopback --host",
    )
    p.add_argument(
        "--new-key",
        metavar="USER_ID",
        help="print a new random API key for USER_ID and its keys-file line, then exit",
    )
    p.add_argument(
        "--max-connections",
        type=positive_int,
        default=512,
        help="open connections and requests at once before new ones get 503; bounds clients "
        "that hold connections open before sending credentials (default: %(default)s)",
    )
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default: warning)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    if args.new_key is not None:
        import secrets

        # deferred: every `coordinator` command imports this module; only this one pays
        from coordinator.serving.auth import USER_ID, hash_key

        if not USER_ID.match(args.new_key):
            raise UsageError(f"invalid user id {args.new_key!r}: use letters, digits, _.@+-")
        key = secrets.token_urlsafe(32)
        print(f"key (give to {args.new_key}, shown once): {key}")
        print(f"line for COORDINATOR_API_KEYS_FILE:       {args.new_key} {hash_key(key)}")
        return 0
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be 1-65535, not {args.port}")

    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.serving.server import build_app, default_agents_dir

    agents_dir = (args.agents_dir or default_agents_dir()).resolve()
    app = build_app(agents_dir, host=args.host, port=args.port, insecure_local=args.insecure_local)

    import uvicorn

    # deferred, like uvicorn: the protocol loads only for the command that serves
    from coordinator.serving.header_timeout import HeaderTimeoutProtocol

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        http=HeaderTimeoutProtocol,  # slow request heads are cut off (COORDINATOR_HEADER_TIMEOUT)
        log_level=args.log_level,
        limit_concurrency=args.max_connections,
        timeout_keep_alive=5,  # idle keep-alive connections are closed, not held
    )
    return 0
