"""One SQLAlchemy engine per database URL, for every shared record.

The store (customers, orders, refunds, billing `actions`), the hand-off tickets and the
decision log go through here. `COORDINATOR_DATABASE_URL` unset: SQLite files in the data dir
as before. Set (`postgresql+psycopg://user:pw@host/db` or `sqlite:////abs/file.db`): all of
them live in that one database, so replicas on several processes or machines share them.

Why these choices:
- SQLite: pysqlite's own transaction handling is off (`isolation_level=None`) and we emit
  BEGIN ourselves, so `immediate=True` gives `BEGIN IMMEDIATE` (the write lock is taken
  before the first read: the per-user limits hold across processes). NullPool: a
  connection per use, like before, so a deleted and re-created file is never written
  through a stale handle.
- PostgreSQL: psycopg 3 (one driver for the sync engine here and ADK's async session
  service), `pool_pre_ping` so a restarted server costs a reconnect, not an error; the
  per-user lock is `SELECT ... FOR UPDATE` on the customer's row (see tools.store).
- A bad or unreachable URL is one `ConfigError` line naming the setting; the password is
  never printed.

SQLAlchemy is imported on first use, not at import: `coordinator ask` pays for it only
when it touches a database.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coordinator.errors import ConfigError, redact

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "SETTING",
    "async_url",
    "dispose_engines",
    "ensure_schema",
    "get_engine",
    "is_postgres",
    "locate",
    "normalize_url",
    "redact",
    "setup_lock",
    "sqlite_url",
]

SETTING = "COORDINATOR_DATABASE_URL"

_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


def normalize_url(url: str, *, setting: str = SETTING) -> str:
    """A supported URL in its canonical form (`postgresql://` -> the psycopg driver), or a
    one-line `ConfigError` naming `setting`."""
    text = str(url).strip()
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme:
        raise ConfigError(
            f"{setting}={redact(text)!r}: not a database URL; expected "
            "postgresql+psycopg://user:password@host:5432/db or sqlite:////path/file.db"
        )
    canonical = _SCHEMES.get(scheme.lower())
    if canonical is None:
        raise ConfigError(
            f"{setting}={redact(text)}: unsupported database {scheme!r}; "
            "use postgresql+psycopg://... or sqlite:///..."
        )
    if canonical == "sqlite":
        if rest in ("", "/") or rest.startswith("/:memory:"):
            raise ConfigError(
                f"{setting}={redact(text)}: an in-memory SQLite database cannot be shared; "
                "give a file, sqlite:////path/file.db"
            )
        return "sqlite://" + rest
    # A Unix socket directory in `?host=` (Cloud SQL's `/cloudsql/PROJECT:REGION:INSTANCE`)
    # is a host too.
    netloc_host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if not netloc_host and not re.search(r"[?&]host=[^&]", rest):
        raise ConfigError(f"{setting}={redact(text)}: the URL names no host")
    return f"{canonical}://{rest}"


def is_postgres(url: str) -> bool:
    return str(url).startswith("postgresql")


def sqlite_url(path: Any) -> str:
    return f"sqlite:///{path}"


def locate(
    where: Any = None, *, default: Path | None = None, url: str | None = None
) -> tuple[Path | None, str]:
    """(SQLite file or None, URL) of a database named by `where`: a URL as given, else a
    file path; when `where` is None, the configured `url`, else the `default` file."""
    if where is None:
        where = url or default
    if where is None:
        raise ValueError("no database named and no default")
    if "://" in str(where):  # a database URL, not a file
        return None, str(where)
    return Path(where), sqlite_url(Path(where))


def async_url(url: str) -> str:
    """The URL ADK's async `DatabaseSessionService` needs for the same database
    (psycopg 3 serves sync and async under one name; SQLite needs aiosqlite)."""
    # The same canonical URL: psycopg 3 is async too, and our SerializedSqliteSessionService
    # takes sqlite:/// URLs.
    return normalize_url(url)


_engines: dict[tuple[str, bool], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str, *, setting: str = SETTING, fast_sqlite: bool = False) -> Engine:
    """The engine for `url` (one per URL and process), checked with one connection on
    creation so a wrong host or password is reported at start-up, not mid-request.

    `fast_sqlite`: a private engine (not shared, the caller disposes it) keeping its SQLite
    connections open, with `synchronous=NORMAL` in WAL mode: the decision log writes a row
    per request, and a connection per row would cost 100 times the insert."""
    url = normalize_url(url, setting=setting)
    if fast_sqlite and url.startswith("sqlite"):
        return _create(url, setting=setting, fast_sqlite=True)
    key = (url, False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _create(url, setting=setting, fast_sqlite=fast_sqlite)
    return engine


def _create(url: str, *, setting: str, fast_sqlite: bool) -> Engine:
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.pool import NullPool

    try:
        if url.startswith("sqlite"):
            # NullPool unless fast_sqlite: a connection per use, never a handle on a file
            # that was deleted and re-created under the same name.
            pool = {} if fast_sqlite else {"poolclass": NullPool}
            engine = sa.create_engine(
                url, **pool, connect_args={"timeout": 30, "isolation_level": None}
            )

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record) -> None:
                dbapi_conn.execute("PRAGMA foreign_keys = ON")
                if fast_sqlite:
                    dbapi_conn.execute("PRAGMA synchronous = NORMAL")

            @event.listens_for(engine, "begin")
            def _on_begin(conn) -> None:
                immediate = conn.get_execution_options().get("immediate")
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        else:
            engine = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=5,
                max_overflow=10,
                connect_args={"connect_timeout": 10},
            )
    except ConfigError:
        raise
    except Exception as exc:  # bad port, unknown driver, malformed URL: one line
        raise ConfigError(f"{setting}={redact(url)}: unusable database URL: {_line(exc)}") from None
    if not url.startswith("sqlite"):
        try:
            with engine.connect():
                pass
        except Exception as exc:
            engine.dispose()
            raise ConfigError(f"{setting}={redact(url)}: cannot connect: {_line(exc)}") from None
    return engine


def _line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return redact(text[0] if text else type(inner).__name__)


def dispose_engines() -> None:
    """Close every pooled connection (tests; a forked child must not share the parent's)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# --- schema versions -------------------------------------------------------------------

Step = Callable[["Connection"], None]


def ensure_schema(engine: Engine, component: str, steps: Iterable[Step]) -> int:
    """Bring `component`'s tables to the newest version in one transaction: `steps[i]` moves
    version i to i+1, the version reached is recorded in `schema_version`. Safe when several
    processes start at once (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock).

    Version 0 is "no row recorded": a database made before versions were recorded, or a new
    one; every step is therefore written to be idempotent on tables that already exist."""
    import sqlalchemy as sa

    steps = list(steps)
    with engine.connect() as conn:
        conn.execution_options(immediate=True)
        with conn.begin():
            setup_lock(conn)
            _VERSIONS.create(conn, checkfirst=True)
            row = conn.execute(
                sa.select(_VERSIONS.c.version).where(_VERSIONS.c.component == component)
            ).first()
            current = row[0] if row else 0
            for step in steps[current:]:
                step(conn)
            if current < len(steps):
                if row is None:
                    conn.execute(_VERSIONS.insert().values(component=component,
                                                           version=len(steps)))
                else:
                    conn.execute(_VERSIONS.update().where(_VERSIONS.c.component == component)
                                 .values(version=len(steps)))
            return max(current, len(steps))


def setup_lock(conn: Connection) -> None:
    """Serialise set-up work (schema, seed rows) across processes for this transaction.
    SQLite's BEGIN IMMEDIATE already does; PostgreSQL takes a transaction advisory lock."""
    if conn.dialect.name == "postgresql":
        import sqlalchemy as sa

        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x636F6F7264)))


def _versions_table():
    import sqlalchemy as sa

    return sa.Table(
        "schema_version",
        sa.MetaData(),
        sa.Column("component", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


class _Lazy:
    """`_VERSIONS` built on first use (keeps SQLAlchemy out of module import)."""

    _table = None

    def __getattr__(self, name: str):
        if _Lazy._table is None:
            _Lazy._table = _versions_table()
        return getattr(_Lazy._table, name)


_VERSIONS: Any = _Lazy()


def schema_version(engine: Engine, component: str) -> int | None:
    """The recorded version of `component` (None: not recorded)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return None
        row = conn.execute(
            sa.select(_VERSIONS.c.version).where(_VERSIONS.c.component == component)
        ).first()
    return row[0] if row else None


def append_only(conn: Connection, table: str) -> None:
    """Refuse UPDATE and DELETE on an audit table, in the database itself."""
    if conn.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb} BEFORE {verb.upper()} ON "
                f"{table} BEGIN SELECT RAISE(ABORT, '{table} is an append-only audit table'); END"
            )
        return
    conn.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION coordinator_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '%% is an append-only audit table', "
        "TG_TABLE_NAME; END $$"
    )
    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    conn.exec_driver_sql(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION coordinator_append_only()"
    )
