"""Session-state keys the engine owns, declared once.

Tools and agents read and write these keys, but their meaning is the engine's: the cascade
routes back to `PENDING_KEY`'s agent, and the fan-out/vote engine sets `IN_PARALLEL_KEY`
around every branch so that side-effecting tools can refuse there.
"""

from __future__ import annotations

__all__ = ["IN_PARALLEL_KEY", "PENDING_KEY"]

# A specialist waiting for the user's next message (e.g. a refund awaiting a yes) leaves its
# own name here; the cascade sends the next turn back to it unless the router is sure.
PENDING_KEY = "coordinator:pending"
# True inside a parallel or voting branch (set by the engine, `temp:` so never persisted).
IN_PARALLEL_KEY = "temp:in_parallel_branch"
