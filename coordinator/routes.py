"""Route definitions: name + description + example utterances, defined once.

A route file (YAML)::

    fallback: general          # catch-all route name; it needs no utterances
    routes:
      - name: billing
        description: Charges, invoices, payment methods
        utterances: ["why was I charged twice", ...]
        languages: [en]        # optional: language-aware dispatch
        tier: auto             # optional: cheap|strong|auto model tier

The same definition feeds the classifier *and* the ADK sub-agent `description`, so routing
and the LLM's view of the agents cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coordinator.errors import ConfigError

__all__ = ["DEFAULT_ROUTES_FILE", "Route", "RouteSet", "load_routes"]

DEFAULT_ROUTES_FILE = Path(__file__).resolve().parent.parent / "agents" / "routes.yaml"


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
        import hashlib

        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, best effort."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_routes(path: str | Path | None = None) -> RouteSet:
    """Load and validate a routes file; `ConfigError` names file, line and field."""
    path = Path(path) if path is not None else DEFAULT_ROUTES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", path=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"malformed YAML: {problem}", path=str(path), where=where) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with `routes:` (and optional `fallback:`)",
                          path=str(path), where="line 1")
    try:
        return RouteSet.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc and ": " in msg and msg.split(": ", 1)[0].startswith("routes"):
            field, msg = msg.split(": ", 1)
            loc = tuple(int(p) if p.isdigit() else p
                        for p in field.replace("[", ".").replace("]", "").split("."))
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        line = _line_of(root, loc)
        where = f"line {line}" if line else None
        raise ConfigError(f"{field or 'routes'}: {msg}", path=str(path), where=where) from None
