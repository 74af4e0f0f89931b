"""The `escalation` specialist (see agent.py)."""

from . import agent
from .agent import build_agent

__all__ = ["agent", "build_agent"]
