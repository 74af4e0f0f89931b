"""`coordinator serve`'s ASGI app: ADK's own HTTP API behind `ServeGuard`.

The endpoints are ADK's (`get_fast_api_app`, API server only: no dev UI, eval or
builder routes), on the coordinator's session store (`coordinator://`, the same store
as the Python API, CLI and `adk web`), with artifacts in the data dir rather than
under the agents directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from coordinator.app_spec import load_app
from coordinator.errors import UsageError
from coordinator.serving.adk_services import guarded_elsewhere, install
from coordinator.serving.auth import Authenticator
from coordinator.serving.http_guard import GuardLimits, ServeGuard
from coordinator.serving.turn_lease import TurnLeases
from coordinator.settings import Settings, get_settings
from coordinator.storage.database import get_engine

__all__ = ["LOOPBACK", "build_app", "default_agents_dir"]

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def default_agents_dir() -> Path:
    """The app's own ADK apps (`COORDINATOR_APP`), e.g. the bundled adk_web."""
    apps = load_app().adk_apps_dir
    if apps is None:
        raise UsageError("the app names no ADK apps directory: give --agents-dir")
    return apps


def build_app(
    agents_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    insecure_local: bool = False,
    settings: Settings | None = None,
) -> Any:
    """The guarded ASGI app; refuses (UsageError) to build one anyone could use freely."""
    s = settings or get_settings()
    if not agents_dir.is_dir():
        raise UsageError(f"agents directory not found: {agents_dir}")
    auth = Authenticator.from_settings(s)
    if insecure_local:
        if host not in LOOPBACK:
            raise UsageError(f"--insecure-local serves loopback only, not --host {host}")
        auth = None
    elif not auth.configured:
        raise UsageError(
            "no credentials configured: set COORDINATOR_API_KEYS_FILE (or COORDINATOR_JWT_SECRET"
            " / COORDINATOR_JWT_KEYS_FILE), or pass --insecure-local to serve 127.0.0.1 "
            "without authentication"
        )

    from google.adk.cli.utils.agent_loader import AgentLoader

    install()  # registers coordinator:// before ADK builds its services
    s.ensure_data_dir()
    if s.database_url:  # unreachable or refused: one line at start-up, not a 500 per request
        get_engine(s.database_url)
    apps = AgentLoader(str(agents_dir)).list_agents()
    with guarded_elsewhere():  # ServeGuard below, not adk web's DevGuard
        fast = _adk_app(agents_dir, s, host, port)
    _bad_input_is_400(fast)
    return ServeGuard(
        fast,
        auth=auth,
        apps=apps,
        limits=GuardLimits.from_settings(s),
        turns=TurnLeases.from_settings(s),  # one turn per session across replicas
    )


def _adk_app(agents_dir: Path, s: Settings, host: str, port: int) -> Any:
    from google.adk.cli.fast_api import get_fast_api_app

    return get_fast_api_app(
        agents_dir=str(agents_dir),
        session_service_uri="coordinator://",
        artifact_service_uri=(s.data_dir / "artifacts").resolve().as_uri(),
        memory_service_uri="memory://",
        web=False,
        host=host,
        # Loopback turns on ADK's DNS-rebinding protection; elsewhere ADK would warn that
        # the server has no authentication, which is no longer true behind the guard.
        bind_host=host if host in LOOPBACK else None,
        port=port,
    )


def _bad_input_is_400(fast: Any) -> None:
    """ADK validates some inputs deep inside (an artifact name with `..` or an absolute
    path raises `InputValidationError`) and its routes let that become a 500 with a
    traceback in the log; it is the client's mistake: 400 with ADK's one-line reason."""
    from google.adk.errors.input_validation_error import InputValidationError
    from starlette.responses import JSONResponse

    async def handler(_request: Any, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc).splitlines()[0][:300]}, status_code=400)

    fast.add_exception_handler(InputValidationError, handler)
