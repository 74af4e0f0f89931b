"""Silence exactly one ADK warning, nothing else.

ADK 2.x deprecates ParallelAgent/SequentialAgent in favour of Workflow. The product card
keeps them because a Workflow cannot yet be an LlmAgent sub-agent (it cannot be routed to
by `transfer_to_agent`). Every other warning still shows.
"""

from __future__ import annotations

import warnings

DEPRECATION_PATTERN = r"(ParallelAgent|SequentialAgent) is deprecated in favor of Workflow"

warnings.filterwarnings("ignore", message=DEPRECATION_PATTERN, category=DeprecationWarning)
