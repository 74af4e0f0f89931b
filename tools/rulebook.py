"""The clause rulebook: one rule per CUAD category, defined once in YAML.

A rule says what the category means (CUAD's own question), how risky it is, which textual cues
make a sentence a candidate, which cues veto it, which anchor words a keyword-in-context judge
looks for, and what a human reviewer should check. The clause checks and all three offline
judges read the same `Rulebook`, so detection and the reviewer's checklist cannot drift apart.

    >>> rb = load_rulebook()
    >>> rb.get("Governing Law").risk
    'medium'
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from coordinator.errors import ConfigError

__all__ = ["DEFAULT_RULEBOOK_FILE", "Risk", "Rule", "Rulebook", "load_rulebook"]

DEFAULT_RULEBOOK_FILE = Path(__file__).resolve().parent / "data" / "rulebook.yaml"

Risk = Literal["low", "medium", "high"]
_FLAGS = re.IGNORECASE | re.DOTALL


def _compile_all(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, _FLAGS) for p in patterns)


class Rule(BaseModel):
    """How to recognise and review one CUAD clause category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Exact CUAD category name, e.g. 'Governing Law'.", min_length=1)
    kind: Literal["presence", "extraction"] = Field(
        "presence", description="presence: CUAD answers Yes/No; extraction: CUAD answers a value."
    )
    risk: Risk = Field(description="How much a reviewer should care when the clause is present.")
    description: str = Field(description="What the category means (CUAD's question).", min_length=1)
    cues: tuple[str, ...] = Field(description="Regexes; a hit makes a sentence a candidate.")
    requires: tuple[str, ...] = Field(
        (), description="Regexes; the rule judge needs one of them too (empty: no requirement)."
    )
    negative: tuple[str, ...] = Field((), description="Regexes that veto a sentence.")
    keywords: tuple[str, ...] = Field(
        (), description="Anchor word stems for the keyword-in-context judge."
    )
    review: str = Field(description="What a human reviewer should check.", min_length=1)

    @field_validator("cues")
    @classmethod
    def _need_cues(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one cue is required")
        return v

    @field_validator("cues", "requires", "negative")
    @classmethod
    def _valid_regex(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(v):
            try:
                re.compile(pattern, _FLAGS)
            except re.error as exc:
                raise ValueError(f"item {i}: invalid regex {pattern!r}: {exc}") from None
        return v

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k.strip().lower() for k in v if k.strip()))

    @cached_property
    def cue_res(self) -> tuple[re.Pattern[str], ...]:
        return _compile_all(self.cues)

    @cached_property
    def cue_union(self) -> re.Pattern[str]:
        """All cues as one alternation: one search per sentence in the first pass."""
        return re.compile("|".join(f"(?:{c})" for c in self.cues), _FLAGS)

    @cached_property
    def require_res(self) -> tuple[re.Pattern[str], ...]:
        return _compile_all(self.requires)

    @cached_property
    def negative_res(self) -> tuple[re.Pattern[str], ...]:
        return _compile_all(self.negative)

    @cached_property
    def name_words(self) -> tuple[str, ...]:
        """The category's own words ('cap', 'liability'): what a naive search looks for."""
        stop = {"of", "on", "or", "to", "for", "not", "the", "and", "no", "all", "you", "can"}
        words = re.findall(r"[a-z]+", self.name.lower())
        return tuple(dict.fromkeys(w for w in words if w not in stop and len(w) > 2))


class Rulebook(BaseModel):
    """All rules, in display order; category names are unique."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(1, description="Schema version of the rulebook file.")
    categories: tuple[Rule, ...] = Field(description="One rule per CUAD category.")

    @model_validator(mode="after")
    def _unique(self) -> Rulebook:
        seen: set[str] = set()
        for i, rule in enumerate(self.categories):
            key = rule.name.casefold()
            if key in seen:
                raise ValueError(f"categories[{i}].name: duplicate category {rule.name!r}")
            seen.add(key)
        if not self.categories:
            raise ValueError("categories: at least one category is required")
        return self

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.categories]

    @property
    def presence(self) -> list[Rule]:
        """Rules whose CUAD answer is Yes/No."""
        return [r for r in self.categories if r.kind == "presence"]

    def get(self, name: str) -> Rule:
        """The rule for a category (case-insensitive); KeyError names the unknown category."""
        for rule in self.categories:
            if rule.name.casefold() == name.casefold():
                return rule
        raise KeyError(f"unknown clause category {name!r}")


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location, best effort."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if nxt is None:  # an unknown field: point at its key
                nxt = next((k for k, _ in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    """Load and validate a rulebook; `ConfigError` names the file, line and field."""
    path = Path(path) if path is not None else DEFAULT_RULEBOOK_FILE
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
        raise ConfigError("expected a mapping with `categories:`", path=str(path), where="line 1")
    try:
        return Rulebook.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if not loc and ": " in msg and msg.split(": ", 1)[0].startswith("categories"):
            field, msg = msg.split(": ", 1)
            loc = tuple(
                int(p) if p.isdigit() else p
                for p in field.replace("[", ".").replace("]", "").split(".")
            )
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}"
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        line = _line_of(root, loc)
        where = f"line {line}" if line else None
        raise ConfigError(f"{field or 'rulebook'}: {msg}", path=str(path), where=where) from None
