"""Garbage-collector settings for commands that do one piece of work and exit.

`coordinator ask` and `coordinator review` allocate ADK's, google-genai's and our objects by
the hundred thousand while they import and build the tree; with the default threshold (a
young collection every 700 allocations) the collector re-scans them again and again, ~11%
of such a command's CPU (`coordinator ask`, measured whole-process with 700 vs 50,000).
Collections still happen, just less often: peak memory was unchanged in that measurement.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import TypeVar

__all__ = ["ONE_SHOT_THRESHOLD", "one_shot"]

ONE_SHOT_THRESHOLD = (50_000, 20, 20)

F = TypeVar("F", bound=Callable)


def one_shot(handler: F) -> F:
    """Run `handler` with `ONE_SHOT_THRESHOLD`; the caller's thresholds come back after."""

    @functools.wraps(handler)
    def run(*args, **kwargs):
        before = gc.get_threshold()
        gc.set_threshold(*ONE_SHOT_THRESHOLD)
        try:
            return handler(*args, **kwargs)
        finally:
            gc.set_threshold(*before)

    return run  # type: ignore[return-value]
