"""Route definitions: name + description + example utterances, defined once.

A route file (YAML)::

    fallback: general          # catch-all route name; it needs no utterances
    routes:
      - name: billing
        description: Charges, invoices, payment methods
        utterances: ["why was I charged twice", ...]
        languages: [en]        # optional: language-aware dispatch
        tier: auto             # optional: cheap|strong|auto model tier
        documents: false       # optional: takes pasted documents (long messages)

The same definition feeds the classifier *and* the ADK sub-agent `description`, so routing
and the LLM's view of the agents cannot drift apart.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coordinator.inputs.config_file import load_yaml_model

__all__ = ["DEFAULT_ROUTES_FILE", "Route", "RouteSet", "load_routes"]

DEFAULT_ROUTES_FILE = Path(__file__).resolve().parents[2] / "agents" / "routes.yaml"


class Route(BaseModel):
    """One destination the router can pick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="ADK agent name: a Python identifier.", pattern=r"^[A-Za-z_]\w*$")
    description: str = Field(description="What this route handles; becomes the agent description.")
    utterances: tuple[str, ...] = Field(default=(), description="Example requests for this route.")
    languages: tuple[str, ...] = Field(
        default=(), description="ISO 639-1 codes this route's agent speaks; empty means any."
    )
    tier: Literal["cheap", "strong", "auto"] = Field(
        "auto", description="Model tier: cheap, strong, or auto (by request complexity)."
    )
    documents: bool = Field(
        False,
        description="This route reviews pasted documents (contracts, code): a long message "
        "with no clear request line is routed by windows of its text, among such routes only.",
    )

    @field_validator("utterances")
    @classmethod
    def _clean_utterances(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(u.strip() for u in v if isinstance(u, str) and u.strip())
        return tuple(dict.fromkeys(cleaned))  # de-duplicate, keep order


class RouteSet(BaseModel):
    """All routes plus the name of the catch-all fallback."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback: str = Field("general", description="Catch-all route; needs no utterances.")
    routes: tuple[Route, ...] = Field(description="The routes, in display order.")

    @model_validator(mode="after")
    def _check(self) -> RouteSet:
        seen: set[str] = set()
        for i, r in enumerate(self.routes):
            if r.name in seen:
                raise ValueError(f"routes[{i}].name: duplicate route name {r.name!r}")
            seen.add(r.name)
            if r.name != self.fallback and not r.utterances:
                raise ValueError(
                    f"routes[{i}].utterances: route {r.name!r} has no utterances "
                    "(only the fallback route may have none)"
                )
        if not any(r.name != self.fallback for r in self.routes):
            raise ValueError("routes: at least one non-fallback route is required")
        return self

    @property
    def names(self) -> list[str]:
        """Route names including the fallback (added if not listed)."""
        names = [r.name for r in self.routes]
        if self.fallback not in names:
            names.append(self.fallback)
        return names

    @property
    def scored(self) -> list[Route]:
        """Routes a classifier scores (everything but the fallback)."""
        return [r for r in self.routes if r.name != self.fallback]

    def get(self, name: str) -> Route | None:
        return next((r for r in self.routes if r.name == name), None)

    def description(self, name: str) -> str:
        route = self.get(name)
        if route is not None:
            return route.description
        if name == self.fallback:
            return "Catch-all: anything no other route handles."
        raise KeyError(name)

    def fingerprint(self) -> str:
        """Stable hash of the definition (a trained model records what it was trained on)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=16)
def _load_cached(path: Path, mtime_ns: int) -> RouteSet:
    return load_yaml_model(
        path, RouteSet, expect="a mapping with `routes:` (and optional `fallback:`)"
    )


def load_routes(path: str | Path | None = None) -> RouteSet:
    """Load and validate a routes file; `ConfigError` names file, line and field.

    Parsed once per file revision (every specialist asks for its description).
    """
    path = Path(path) if path is not None else DEFAULT_ROUTES_FILE
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = -1  # let the loader report the problem
    return _load_cached(path.resolve() if mtime != -1 else path, mtime)
