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
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from coordinator import load_yaml_model

__all__ = ["DEFAULT_RULEBOOK_FILE", "Risk", "Rule", "Rulebook", "load_rulebook"]

DEFAULT_RULEBOOK_FILE = Path(__file__).resolve().parent / "data" / "rulebook.yaml"

Risk = Literal["low", "medium", "high"]
_FLAGS = re.IGNORECASE | re.DOTALL
_TERM = re.compile(r"\{\{(\w+)\}\}")  # `{{name}}`: regexes never contain two braces in a row
_PATTERN_FIELDS = ("cues", "requires", "negative")


def _expand_terms(pattern: object, terms: dict[str, str], where: str) -> object:
    """``pattern`` with each `{{name}}` replaced by the rulebook's term of that name."""
    if not isinstance(pattern, str):
        return pattern  # the field's own validation names the wrong type

    def term(m: re.Match[str]) -> str:
        if m.group(1) not in terms:
            known = ", ".join(sorted(terms)) or "none"
            raise ValueError(f"{where}: unknown term {m.group(0)} (terms: {known})")
        return terms[m.group(1)]

    return _TERM.sub(term, pattern)


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

    @field_validator(*_PATTERN_FIELDS)
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
    terms: dict[str, str] = Field(
        default_factory=dict,
        description="Named regex fragments: `{{name}}` in a cue, requires or negative pattern "
        "stands for the fragment, so a phrase list shared by several patterns is written once.",
    )
    categories: tuple[Rule, ...] = Field(description="One rule per CUAD category.")

    @model_validator(mode="before")
    @classmethod
    def _terms(cls, data: object) -> object:
        """Expand `{{name}}` before the rules validate, so regex errors show the full pattern."""
        if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
            return data
        terms = data.get("terms") or {}
        if not isinstance(terms, dict):
            return data  # the field's own validation names the wrong type
        for name, value in terms.items():
            if not isinstance(value, str) or _TERM.search(value):
                raise ValueError(f"terms.{name}: must be a regex string without {{{{...}}}}")
        categories = []
        for i, rule in enumerate(data["categories"]):
            if isinstance(rule, dict):
                rule = dict(rule)
                for field in _PATTERN_FIELDS:
                    if isinstance(rule.get(field), list):
                        rule[field] = [
                            _expand_terms(p, terms, f"categories[{i}].{field}[{j}]")
                            for j, p in enumerate(rule[field])
                        ]
            categories.append(rule)
        return {**data, "categories": categories}

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


def load_rulebook(path: str | Path | None = None) -> Rulebook:
    """Load and validate a rulebook; `ConfigError` names the file, line and field."""
    path = Path(path) if path is not None else DEFAULT_RULEBOOK_FILE
    return load_yaml_model(path, Rulebook, expect="a mapping with `categories:`")
