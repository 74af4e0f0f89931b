"""One error root for the whole product.

CoordinatorError
 ├── UsageError          the caller misused the library or CLI (exit code 2)
 │    ├── ConfigError    a routes/rulebook/settings file is invalid (names file and field)
 │    └── StorageError   the data dir / session database cannot be written (exit code 2)
 ├── ModelError          a model misbehaved or is unreachable (after retries)
 └── PolicyError         a tool refused an action its policy forbids
"""

from __future__ import annotations

import errno
import re
import sys

__all__ = [
    "ConfigError",
    "CoordinatorError",
    "ModelError",
    "PolicyError",
    "StorageError",
    "UsageError",
]  # plus the helper `as_storage_error` (not an error class)


class CoordinatorError(Exception):
    """Root of every error this package raises on purpose."""


class UsageError(CoordinatorError):
    """Bad input from the caller: empty request, unreadable file, unknown option."""


class ConfigError(UsageError):
    """A configuration file is invalid; the message names the file and line or field."""

    def __init__(self, message: str, *, path: str | None = None, where: str | None = None):
        self.path = path
        self.where = where
        prefix = ""
        if path:
            prefix = f"{path}"
            if where:
                prefix += f":{where}"
            prefix += ": "
        super().__init__(prefix + message)


class ModelError(CoordinatorError):
    """The model failed or answered with something unusable, even after retries."""


class PolicyError(CoordinatorError):
    """An action was refused by policy (authorisation, limits, idempotency)."""


class StorageError(UsageError):
    """Local storage is unusable: full disk, read-only or missing directory, locked file.

    A problem of the machine's configuration, not of the model: exit code 2, one line
    that names the path and the setting to change."""


# OS errors that mean "this storage cannot be written", as opposed to e.g. network errors
_STORAGE_ERRNOS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.EEXIST: "exists and is not a directory",
    errno.ENOENT: "no such directory",
}
_HINT = "check COORDINATOR_DATA_DIR / COORDINATOR_SESSION_DB and free disk space"


def as_storage_error(exc: BaseException) -> StorageError | None:
    """`exc` (or its cause) as a one-line `StorageError`, or None when it is not one."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, StorageError):
            return exc
        # sqlite3 is looked up, not imported: if nothing loaded it, exc cannot be one of its
        # errors, and importing it here would cost every CLI command start-up time.
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is not None and isinstance(exc, sqlite3.Error):
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return StorageError(f"storage: {detail} ({_HINT})")
        # A database server that went away or refused us mid-run (PostgreSQL through
        # SQLAlchemy; SQLite's errors are found on the next turn of the loop, its cause).
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if (
            sa_exc is not None
            and isinstance(exc, sa_exc.OperationalError)
            and not (sqlite3 is not None and isinstance(exc.orig, sqlite3.Error))
        ):
            lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
            return StorageError(
                f"database: {redact(lines[0])} (check COORDINATOR_DATABASE_URL and the server)"
            )
        if isinstance(exc, OSError) and exc.errno in _STORAGE_ERRNOS:
            where = f"{exc.filename}: " if exc.filename else ""
            return StorageError(f"storage: {where}{_STORAGE_ERRNOS[exc.errno]} ({_HINT})")
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def redact(url: str) -> str:
    """The URL without its password (error lines end up in logs)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", str(url))
