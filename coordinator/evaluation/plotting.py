"""matplotlib for `--plot` options: an optional dependency, headless (Agg) backend."""

from __future__ import annotations

from typing import Any

from coordinator.errors import UsageError

__all__ = ["pyplot"]


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend; a clear UsageError when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise UsageError(
            f"--plot needs matplotlib ({exc}); pip install 'adk-coordinator[plot]'"
        ) from None
    return plt
