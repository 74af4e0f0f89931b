"""adk-coordinator: routing and parallelization for Google ADK agent systems.

    from coordinator import Coordinator
    reply = Coordinator().ask("I was charged twice", user_id="alice")
    reply.route, reply.confidence, reply.text
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)
from coordinator.errors import ConfigError, CoordinatorError, ModelError, PolicyError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from coordinator.api import Coordinator, Reply

__all__ = [
    "ConfigError",
    "Coordinator",
    "CoordinatorError",
    "ModelError",
    "PolicyError",
    "Reply",
    "UsageError",
]


def __getattr__(name: str) -> Any:
    if name in {"Coordinator", "Reply"}:
        # deferred: `import coordinator` stays cheap (every CLI command imports it; api
        # imports ADK)
        from coordinator import api

        return getattr(api, name)
    raise AttributeError(f"module 'coordinator' has no attribute {name!r}")
