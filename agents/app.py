"""The support application as the engine sees it: `build_app(settings) -> AppSpec`.

This is the one module the engine reaches (through `COORDINATOR_APP`, see
`coordinator.app_spec.load_app`): the root agent and its plugins, the document reviews
the CLI offers, and the users of the seed data. Everything domain-specific the engine used
to name (agent modules, rulebooks, voter counts, seed users) is declared here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from coordinator import AppSpec, ReviewFlags, ReviewKindSpec, Settings, UsageError
from tools.store import SEED_USERS

__all__ = ["ADK_APPS_DIR", "REVIEW_KINDS", "build_app"]

# The `adk web` apps (adk_web/<app>/agent.py), installed beside this package.
ADK_APPS_DIR = Path(__file__).resolve().parent.parent / "adk_web"
# The CUAD sample shipped with the contract review (agents.contract_review.cuad.CUAD_DIR),
# named here so that listing it imports nothing.
CUAD_CONTRACTS = Path(__file__).resolve().parent / "contract_review" / "data" / "cuad" / "contracts"


def _contract_options(flags: ReviewFlags) -> dict[str, Any]:
    # deferred: as _contract (a rulebook module costs every `ask` nothing)
    from agents.contract_review.rulebook import load_rulebook

    return {"rulebook": load_rulebook(flags.rulebook)} if flags.rulebook else {}


def _security_options(flags: ReviewFlags) -> dict[str, Any]:
    # deferred: as _security
    from agents.security_review.agent import VOTER_SPECS, load_security_rules

    if not 1 <= flags.voters <= len(VOTER_SPECS):
        raise UsageError(f"--voters must be between 1 and {len(VOTER_SPECS)}, got {flags.voters}")
    opts: dict[str, Any] = {"voters": flags.voters}
    if flags.rulebook:
        opts["rules"] = load_security_rules(flags.rulebook)
    return opts


def _review(name: str, agent_module: Any, options: Any, render: Any = None) -> ReviewKindSpec:
    """A review kind from its agent module (`build_agent`, `REPORT_KEY`, `REPORT_TYPE`)."""
    return ReviewKindSpec(
        name=name,
        build_agent=agent_module.build_agent,
        report_key=agent_module.REPORT_KEY,
        report_type=agent_module.REPORT_TYPE,
        options=options,
        render=render,
    )


def _contract() -> ReviewKindSpec:
    # deferred: the review modules (~50 ms of imports) load when a review kind is used
    from agents.contract_review import agent as contract_review
    from agents.contract_review.render import render_report

    return _review("contract", contract_review, _contract_options, render_report)


def _security() -> ReviewKindSpec:
    # deferred: as _contract
    from agents.security_review import agent as security_review

    return _review("security", security_review, _security_options)


class _ReviewKinds(Mapping[str, ReviewKindSpec]):
    """The review kinds by name, each made on first use: `coordinator ask` lists none."""

    def __init__(self, factories: dict[str, Callable[[], ReviewKindSpec]]) -> None:
        self._factories = factories
        self._made: dict[str, ReviewKindSpec] = {}

    def __getitem__(self, name: str) -> ReviewKindSpec:
        if name not in self._made:
            self._made[name] = self._factories[name]()
        return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)


REVIEW_KINDS: Mapping[str, ReviewKindSpec] = _ReviewKinds(
    {"contract": _contract, "security": _security}
)


def _build_root_agent(settings: Settings) -> Any:
    # deferred: a review or a benchmark never builds the support tree, whose imports
    # (cascade, router, decision log on SQLAlchemy) cost ~0.6 s of `coordinator review`
    from agents.coordinator.agent import build_root_agent

    return build_root_agent(settings)


def _build_plugins() -> list[Any]:
    # deferred: as _build_root_agent
    from agents.coordinator.agent import build_plugins

    return build_plugins()


def build_app(settings: Settings | None = None) -> AppSpec:
    """The support coordinator, its specialists' plugins, and the two document reviews."""
    return AppSpec(
        build_root_agent=_build_root_agent,
        build_plugins=_build_plugins,
        review_kinds=REVIEW_KINDS,
        demo_users=tuple(SEED_USERS),
        adk_apps_dir=ADK_APPS_DIR,
        sample_documents=tuple(sorted(CUAD_CONTRACTS.glob("*.txt"))),
    )
