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
"""

from __future__ import annotations

import logging
from typing import Any

from google.adk.sessions import BaseSessionService

__all__ = ["install", "session_service_for_uri"]

_log = logging.getLogger(__name__)


def session_service_for_uri(uri: str, **_: Any) -> BaseSessionService:
    """Registry factory: `coordinator://` -> settings' store, `sqlite:...` -> that file."""
    from coordinator.sessions import make_session_service

    if uri.startswith("coordinator:"):
        return make_session_service()
    return make_session_service(url=uri)


def _default_session_service(**_: Any) -> BaseSessionService:
    """Stands in for ADK's per-agent `.adk/session.db` default."""
    from coordinator.sessions import make_session_service

    return make_session_service()


def install() -> None:
    """Register the schemes and replace ADK's default local session store (idempotent)."""
    from google.adk.cli.service_registry import get_service_registry
    from google.adk.cli.utils import service_factory

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
