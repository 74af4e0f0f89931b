"""One error root for the whole product.

    CoordinatorError
     ├── UsageError          the caller misused the library or CLI (exit code 2)
     │    └── ConfigError    a routes/rulebook/settings file is invalid (names file and field)
     ├── ModelError          a model misbehaved or is unreachable (after retries)
     └── PolicyError         a tool refused an action its policy forbids
"""

from __future__ import annotations

__all__ = ["ConfigError", "CoordinatorError", "ModelError", "PolicyError", "UsageError"]


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
