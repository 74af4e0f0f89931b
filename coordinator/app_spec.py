"""The one seam between the engine and the agents that run on it.

The engine (`coordinator/`) never imports an agent or a tool. An application describes
itself once, as an `AppSpec` returned by a factory named in `COORDINATOR_APP`
(default `agents.app:build_app`), and `load_app` is the only place that factory is
imported. `Coordinator`, the `adk web` apps, the CLI and the benchmarks all go through it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from coordinator.errors import ConfigError
from coordinator.settings import Settings, get_settings

__all__ = ["AppSpec", "ReviewFlags", "ReviewKindSpec", "load_app"]


class ReviewFlags(BaseModel):
    """The `coordinator review` options a review kind may turn into build options."""

    model_config = ConfigDict(frozen=True)

    rulebook: str | None = None
    voters: int = 3


@dataclass(frozen=True)
class ReviewKindSpec:
    """One document review the app offers (`coordinator review --kind NAME`).

    `build_agent(on_progress=..., **options)` builds the review agent; the agent leaves its
    report in state under `report_key`, validated as `report_type`. `options(flags)` turns
    the CLI flags into build options and raises `UsageError` for values out of bounds.
    `render(report, fmt)` formats a report for people ("text" or "markdown"); without it
    the CLI prints the agent's own final text.
    """

    name: str
    build_agent: Callable[..., Any]
    report_key: str
    report_type: type[BaseModel]
    options: Callable[[ReviewFlags], dict[str, Any]] = lambda flags: {}
    render: Callable[[Any, str], str] | None = None


@dataclass(frozen=True)
class AppSpec:
    """What the engine needs from an application, and nothing about its domain."""

    build_root_agent: Callable[[Settings], Any]
    build_plugins: Callable[[], list[Any]] = list
    review_kinds: Mapping[str, ReviewKindSpec] = field(default_factory=dict)
    demo_users: tuple[str, ...] = ("user",)
    """Users that exist in the app's seed data (the load benchmarks play them)."""
    adk_apps_dir: Path | None = None
    """The ADK agents directory of the app (`adk web DIR`, `coordinator serve`'s default)."""
    sample_documents: tuple[Path, ...] = ()
    """Long documents of a review kind the app offers (the bystander benchmark's load)."""


def load_app(settings: Settings | None = None) -> AppSpec:
    """The `AppSpec` named by `COORDINATOR_APP`; `ConfigError` (one line) if unusable."""
    s = settings or get_settings()
    target = s.app
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConfigError(
                f"invalid setting COORDINATOR_APP={target!r}: no module {module_name!r}"
            ) from None
        raise
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ConfigError(
            f"invalid setting COORDINATOR_APP={target!r}: {module_name} has no function {attr!r}"
        )
    spec = factory(s)
    if not isinstance(spec, AppSpec):
        raise ConfigError(
            f"invalid setting COORDINATOR_APP={target!r}: returned "
            f"{type(spec).__name__}, not an AppSpec"
        )
    return spec
