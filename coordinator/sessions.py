"""Session storage through ADK's own session services.

SQLite file in the data dir by default (sessions survive restarts); any SQLAlchemy URL
(e.g. `postgresql+asyncpg://...`) selects ADK's `DatabaseSessionService` for scale-out,
where several stateless replicas share one database.
"""

from __future__ import annotations

from google.adk.sessions import BaseSessionService

from coordinator.settings import Settings, get_settings

__all__ = ["make_session_service"]


def _use_wal(url: str) -> None:
    """Switch the session file to WAL journaling (persistent in the file itself).

    ADK's SQLite service commits after every event; in the default rollback-journal mode
    each commit costs several fsyncs (~150 ms a request here), in WAL about one.
    """
    import sqlite3

    from google.adk.sessions.sqlite_session_service import _parse_db_path

    path, connect_path, is_uri = _parse_db_path(url)
    if path in ("", ":memory:") or connect_path.startswith("file::memory:"):
        return
    with sqlite3.connect(connect_path, uri=is_uri) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def make_session_service(settings: Settings | None = None) -> BaseSessionService:
    s = settings or get_settings()
    url = s.sessions_url
    if url in ("memory", "memory://"):
        from google.adk.sessions import InMemorySessionService

        return InMemorySessionService()
    if url.startswith(("sqlite:", "sqlite+aiosqlite:")):
        from google.adk.sessions.sqlite_session_service import SqliteSessionService

        s.ensure_data_dir()
        _use_wal(url)
        return SqliteSessionService(url)
    from google.adk.sessions import DatabaseSessionService

    return DatabaseSessionService(db_url=url)
