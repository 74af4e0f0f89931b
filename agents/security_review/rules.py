"""The security rulebook: pattern rules, taint sources/sinks and labelled examples (YAML).

One file feeds all three offline security voters (pattern, taint, similarity), so what
counts as a sink or a weak hash is written once.

    >>> rb = load_security_rules()
    >>> rb.get("sql-injection").severity
    'high'
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coordinator import load_yaml_model

__all__ = [
    "DEFAULT_SECURITY_RULES_FILE",
    "Example",
    "SecurityRule",
    "SecurityRules",
    "Sink",
    "Taint",
    "load_security_rules",
]

DEFAULT_SECURITY_RULES_FILE = Path(__file__).resolve().parent / "data" / "security_rules.yaml"

Severity = Literal["low", "medium", "high"]


def _check_regexes(v: tuple[str, ...]) -> tuple[str, ...]:
    for i, pattern in enumerate(v):
        try:
            re.compile(pattern, re.M)
        except re.error as exc:
            raise ValueError(f"item {i}: invalid regex {pattern!r}: {exc}") from None
    return v


class SecurityRule(BaseModel):
    """A pattern rule: any pattern hit on a line (and no `unless` on it) is a finding."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Stable rule id, e.g. 'sql-injection'.")
    title: str = Field(description="What is wrong, in a few words.")
    severity: Severity = Field(description="How bad a hit is.")
    cwe: str = Field("", description="CWE id, e.g. 'CWE-89'.")
    patterns: tuple[str, ...] = Field(min_length=1, description="Regexes matched per line.")
    unless: tuple[str, ...] = Field((), description="Regexes that cancel a hit on the line.")
    fix: str = Field("", description="How to fix it.")

    _v = field_validator("patterns", "unless")(_check_regexes)

    @cached_property
    def pattern_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.patterns)

    @cached_property
    def unless_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.unless)


class Sink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="What the sink does, e.g. 'shell'.")
    pattern: str = Field(description="Regex of the sink call (or assignment, `x.innerHTML =`).")
    requires: tuple[str, ...] = Field(
        (),
        description="If set, the call is a sink only when one of these regexes matches the "
        "statement too (subprocess is a shell only with shell=True or a string command).",
    )

    _v = field_validator("pattern")(lambda v: _check_regexes((v,))[0])
    _r = field_validator("requires")(_check_regexes)

    @cached_property
    def pattern_re(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    @cached_property
    def requires_res(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.requires)


class Taint(BaseModel):
    """Where user input comes from, where it must not go, and what cleans it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: tuple[str, ...] = Field(min_length=1, description="Regexes of user input.")
    sinks: tuple[Sink, ...] = Field(min_length=1, description="Dangerous calls.")
    sanitizers: tuple[str, ...] = Field((), description="Regexes of calls that make input safe.")

    _v = field_validator("sources", "sanitizers")(_check_regexes)


class Example(BaseModel):
    """A labelled exemplar line for the similarity voter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Literal["vulnerable", "safe"]
    text: str = Field(min_length=1)
    rule: str = Field(
        "", description="The flaw it illustrates (a rule id, 'ssrf' ...); 'none' = everyday code."
    )


class SecurityRules(BaseModel):
    """The whole security rulebook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    rules: tuple[SecurityRule, ...] = Field(min_length=1)
    taint: Taint
    examples: tuple[Example, ...] = Field(min_length=2)

    def get(self, rule_id: str) -> SecurityRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(f"unknown security rule {rule_id!r}")


def load_security_rules(path: str | Path | None = None) -> SecurityRules:
    """Load and validate the rulebook; `ConfigError` names the file, line and field."""
    path = Path(path) if path is not None else DEFAULT_SECURITY_RULES_FILE
    return load_yaml_model(path, SecurityRules, expect="a mapping with `rules:`")
