"""Make `adk web` / `adk api_server` use the project's session store, with no flags.

ADK loads `services.py` from the agents directory (here `adk_web/services.py`, which
calls `install()`) before it builds its services, and offers a registry of session
URI schemes for it. Two things need wiring, because ADK 2.13 builds its *default*
store without consulting that registry:

* no `--session_service_uri` (the default): `create_session_service_from_options`
  calls `service_factory.create_local_session_service`, a per-app SQLite file under
  `adk_web/<app>/.adk/` (plain journal, no serialization: "database is locked" under
  load, and a request naming an unknown app creates files there). `install()` rebinds
  that factory to `make_session_service()`: the same WAL, serialized store, in the data
  dir, that the Python API and CLI use; sessions made by one are seen by the others.
* `--session_service_uri sqlite:///...`: the `sqlite` scheme is re-registered to build
  the same serialized store on that file; `coordinator://` means "what the settings say"
  (COORDINATOR_SESSION_DB or the data dir). Other schemes keep ADK's factories.

It points uvicorn's default HTTP protocol at `coordinator.serving.header_timeout` (ADK builds
its own `uvicorn.Config`): a client that stalls in its request head is cut off.

It also puts `DevGuard` (coordinator/serving/http_guard.py: ServeGuard's bounds, without
authentication or route allow-list) in front of the app ADK builds: ADK's
`ApiServer.get_fast_api_app` (which `DevServer`, i.e. `adk web`, calls too) is wrapped so
the FastAPI app it returns gets the guard as its innermost middleware, after ADK's own
origin checks and default-app rewrite. `coordinator serve` builds its app inside
`guarded_elsewhere()`: ServeGuard already stands in front of it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from google.adk.sessions import BaseSessionService

from coordinator.errors import ConfigError
from coordinator.serving.header_timeout import use_for_uvicorn
from coordinator.serving.http_guard import DevGuard, GuardLimits
from coordinator.serving.sessions import SessionLimitError, make_session_service
from coordinator.serving.turn_lease import TurnLeases
from coordinator.settings import get_settings

__all__ = ["guarded_elsewhere", "install", "session_service_for_uri"]

_log = logging.getLogger(__name__)
_GUARDED_ELSEWHERE: ContextVar[bool] = ContextVar("coordinator_guarded_elsewhere", default=False)


def _settings() -> Any:
    """The settings, or (inside the `adk` command) one clear line and exit 2 if invalid."""
    import click


    class BadSetting(click.ClickException):
        exit_code = 2

    try:
        return get_settings()
    except ConfigError as exc:
        raise BadSetting(str(exc)) from None


def session_service_for_uri(uri: str, **_: Any) -> BaseSessionService:
    """Registry factory: `coordinator://` -> settings' store, `sqlite:...` -> that file;
    capped per user (COORDINATOR_MAX_SESSIONS_PER_USER): these stores serve HTTP."""
    if uri.startswith("coordinator:"):
        return make_session_service(_settings(), capped=True)
    return make_session_service(_settings(), url=uri, capped=True)


def _default_session_service(**_: Any) -> BaseSessionService:
    """Stands in for ADK's per-agent `.adk/session.db` default."""
    return make_session_service(_settings(), capped=True)


@contextmanager
def guarded_elsewhere() -> Iterator[None]:
    """ADK apps built inside this block get no DevGuard (the caller wraps its own guard)."""
    token = _GUARDED_ELSEWHERE.set(True)
    try:
        yield
    finally:
        _GUARDED_ELSEWHERE.reset(token)


def _known_app(server: Any) -> Any:
    """The dev server's app names, read per request (agents can be added while it runs);
    ADK's built-in `__` agents only where ADK itself allows them (loopback `adk web`)."""

    def known(name: str) -> bool:
        if name.startswith("__"):
            return bool(getattr(server, "_allow_special_agents", False))
        return name in server.agent_loader.list_agents()

    return known


def _guard_dev_servers() -> None:
    """Wrap `ApiServer.get_fast_api_app` so its app gets `DevGuard` (idempotent)."""
    from google.adk.cli.api_server import ApiServer
    from starlette.middleware import Middleware


    original = ApiServer.get_fast_api_app
    if getattr(original, "_coordinator_guard", False):
        return

    @functools.wraps(original)
    def get_fast_api_app(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _GUARDED_ELSEWHERE.get():
            return original(self, *args, **kwargs)
        settings = _settings()
        limits = GuardLimits.from_settings(settings)
        turns = TurnLeases.from_settings(settings)  # several `adk api_server` on one store
        app = original(self, *args, **kwargs)
        # Innermost (appended, not add_middleware's insert(0)): ADK's CORS/origin checks
        # and default-app rewrite run first, so the guard sees the path ADK routes.
        app.user_middleware.append(
            Middleware(DevGuard, apps=_known_app(self), limits=limits, turns=turns)
        )
        return app

    get_fast_api_app._coordinator_guard = True  # type: ignore[attr-defined]
    ApiServer.get_fast_api_app = get_fast_api_app  # type: ignore[method-assign]


class _NotCapRefusals(logging.Filter):
    """Drops ADK's "Internal server error during session creation" record for a cap
    refusal: a client at its cap is not a server fault, and each traceback is kB of log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SessionLimitError)


def _cap_refusals_are_429() -> None:
    """ADK's `_create_session` turns any store exception into a 500; let the cap's own
    429 (`SessionLimitError`, an HTTPException) through instead (idempotent)."""
    from google.adk.cli.api_server import ApiServer, logger

    original = ApiServer._create_session
    if getattr(original, "_coordinator_cap", False):
        return

    @functools.wraps(original)
    async def _create_session(self: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, **kwargs)
        except Exception as exc:
            if isinstance(exc.__cause__, SessionLimitError):
                raise exc.__cause__ from None
            raise

    _create_session._coordinator_cap = True  # type: ignore[attr-defined]
    ApiServer._create_session = _create_session  # type: ignore[method-assign]
    logger.addFilter(_NotCapRefusals())


def install() -> None:
    """Register the schemes, replace ADK's default local session store and guard the
    apps ADK builds (idempotent)."""
    from google.adk.cli.service_registry import get_service_registry
    from google.adk.cli.utils import service_factory

    _guard_dev_servers()
    _cap_refusals_are_429()
    use_for_uvicorn()  # the request-head deadline for the server ADK starts

    registry = get_service_registry()
    registry.register_session_service("sqlite", session_service_for_uri)
    registry.register_session_service("coordinator", session_service_for_uri)
    if not hasattr(service_factory, "create_local_session_service"):
        # A future ADK moved its default: say so loudly rather than silently using it.
        _log.error(
            "google.adk.cli.utils.service_factory.create_local_session_service is gone; "
            "pass --session_service_uri coordinator:// to use the coordinator's store"
        )
        return
    service_factory.create_local_session_service = _default_session_service
