"""Session storage through ADK's own session services.

SQLite file in the data dir by default (sessions survive restarts); any SQLAlchemy URL
(e.g. `postgresql+asyncpg://...`) selects ADK's `DatabaseSessionService` for scale-out,
where several stateless replicas share one database.
"""

from __future__ import annotations

from google.adk.sessions import BaseSessionService

from coordinator.settings import Settings, get_settings

__all__ = ["make_session_service"]


def make_session_service(settings: Settings | None = None) -> BaseSessionService:
    s = settings or get_settings()
    url = s.sessions_url
    if url in ("memory", "memory://"):
        from google.adk.sessions import InMemorySessionService

        return InMemorySessionService()
    if url.startswith(("sqlite:", "sqlite+aiosqlite:")):
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        s.ensure_data_dir()
        return SqliteSessionService(url)
    from google.adk.sessions import DatabaseSessionService

    return DatabaseSessionService(db_url=url)
