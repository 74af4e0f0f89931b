"""Progress reporting shared by long-running agents and their callers.

An agent doing long work (e.g. a fan-out over many sections) emits events whose
`state_delta` carries `PROGRESS_KEY: {"done": int, "total": int, "stage": str}`;
`Coordinator.stream` surfaces them as partial events and the CLI draws a progress bar.
The key is `temp:`-scoped so it is never persisted into the session.
"""

from __future__ import annotations

__all__ = ["PROGRESS_KEY"]

PROGRESS_KEY = "temp:coordinator:progress"
