"""Progress reporting shared by long-running agents and their callers.

An agent doing long work (e.g. a fan-out over many sections) emits events whose
`state_delta` carries `PROGRESS_KEY: {"done": int, "total": int, "stage": str}`;
`Coordinator.stream` surfaces them as partial events and the CLI draws a progress bar.
The key is deliberately *not* `temp:`-scoped: ADK strips `temp:` keys from the events it
yields, so callers would never see them. The session keeps only the latest value.
"""

from __future__ import annotations

__all__ = ["PROGRESS_KEY"]

PROGRESS_KEY = "coordinator:progress"
