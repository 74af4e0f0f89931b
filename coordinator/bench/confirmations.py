"""`coordinator bench confirmations`: how the yes recogniser reads replies to a proposal.

Each row of a phrasing table (CSV: text, language, kind, expected, action; see
tests/data/confirmations/README.md) is one reply to "Shall I refund order 1006? Reply
yes". Two numbers matter and are counted apart:

* **false accepts**: rows that must refuse (hedge, condition, question, retraction,
  negation, sarcasm, other) but read as a yes. Each would be an action the customer did
  not ask for; the target is 0.
* **false-refuse rate**: plain yeses not read as a yes (the customer is asked again).

Plus the cascade's side: the share of replies that stay with the specialist waiting on the
answer (`coordinator:pending` = refund, then billing) through the shipped routes and
router, instead of being routed elsewhere by their few words. "other" rows (a greeting, a
new request) are not answers and are left out of that column.

The default tables are the dev table (the rules were tuned on it) and the held-out table
(written and committed before the rules, never tuned on); `--table` scores any CSV.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from coordinator.bench.tables import read_table
from coordinator.routing.yes_no import KINDS, read_answer
from coordinator.routing.yes_no_words import CANCEL_VERBS, LANGUAGES

__all__ = ["ConfirmationRow", "load_table", "register", "run", "score"]

TABLES = Path(__file__).resolve().parents[2] / "tests" / "data" / "confirmations"
DEFAULT_TABLES = (TABLES / "dev.csv", TABLES / "heldout.csv")
# The `action` column: the verbs that may restate it, as the confirmation gate passes them.
ACTION_WORDS = {"cancel_subscription": CANCEL_VERBS}
PROPOSED_ORDER = "1006"  # refund rows answer "Shall I refund order 1006?"


class ConfirmationRow(BaseModel):
    """One reply to a proposal, and whether the action may run on it."""

    text: str = Field(description="The whole user message.")
    language: str = Field(description="en, es, fr, de, pt or it.")
    kind: str = Field(description="plain-yes, hedge, condition, question, ...")
    expected: bool = Field(description="True: accept (the action may run).")
    action: str = Field("", description="The proposed action when not a refund.")

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if v not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        return v

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        return v

    @field_validator("expected", mode="before")
    @classmethod
    def _expected(cls, v: object) -> bool:
        if v not in ("accept", "refuse"):
            raise ValueError("expected must be accept or refuse")
        return v == "accept"


def load_table(path: Path) -> list[ConfirmationRow]:
    """The rows of one table; a bad file or row is one UsageError naming file and line."""
    return read_table(path, ConfirmationRow, ("text", "language", "kind", "expected"))


def _allow(action: str, action_words: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return action_words.get(action, ()) if action else ()


def score(
    rows: list[ConfirmationRow],
    action_words: dict[str, tuple[str, ...]] | None = None,
    cascade=None,
) -> dict:
    """Counts per language and per kind; `errors` lists every misread row."""
    action_words = action_words or {}
    by_lang: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    errors, strays = [], []
    for row in rows:
        routed_away = []
        if cascade is not None and row.kind != "other":
            for pending in ("refund", "billing"):
                route = cascade.plan(row.text, pending=pending).decision.route
                if route != pending:
                    routed_away.append(f"{pending}->{route}")
            if routed_away:
                strays.append({"text": row.text, "language": row.language, "kind": row.kind,
                               "routed": routed_away})
        target = None if row.action else PROPOSED_ORDER
        verdict = read_answer(row.text, _allow(row.action, action_words), target)
        for bucket in (by_lang[row.language], by_lang["all"], by_kind[row.kind]):
            bucket["n"] += 1
            bucket["accepted"] += verdict.yes
            if row.expected:
                bucket["yes"] += 1
                bucket["false_refuse"] += not verdict.yes
            else:
                bucket["no"] += 1
                bucket["false_accept"] += verdict.yes
            if cascade is not None and row.kind != "other":
                bucket["answers"] += 1
                bucket["kept"] += not routed_away
        if verdict.yes != row.expected:
            errors.append(
                {"text": row.text, "language": row.language, "kind": row.kind,
                 "expected": "accept" if row.expected else "refuse", "read_as": verdict.kind}
            )

    def finish(counts: dict[str, int]) -> dict:
        keys = ("n", "accepted", "yes", "false_refuse", "no", "false_accept")
        out = {k: counts[k] for k in keys}
        if cascade is not None:
            out |= {"answers": counts["answers"], "kept": counts["kept"]}
        out["false_refuse_rate"] = round(counts["false_refuse"] / counts["yes"], 4) if counts[
            "yes"] else None
        if cascade is not None:
            out["kept_rate"] = round(counts["kept"] / counts["answers"], 4) if counts[
                "answers"] else None
        return out

    languages = [lang for lang in (*LANGUAGES, "all") if lang in by_lang]
    return {
        "n": len(rows),
        "languages": {lang: finish(by_lang[lang]) for lang in languages},
        "kinds": {k: finish(by_kind[k]) for k in KINDS if k in by_kind},
        "errors": errors,
        "routed_away": strays,
    }


def _product_cascade():
    """The shipped routes and router, as the support app builds them (no agents)."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.cascade import RoutingCascade
    from coordinator.routing.router import build_router
    from coordinator.routing.routes import load_routes
    from coordinator.settings import get_settings

    s = get_settings()
    routes = load_routes(s.routes_file)
    router = build_router(routes, method=s.router_method, threshold=s.router_threshold)
    return RoutingCascade(
        router, routes, agent_names=routes.names, llm_available=False,
        escalation_route="escalation",
    )


def run(args: argparse.Namespace) -> dict:
    tables = args.table or list(DEFAULT_TABLES)
    loaded = [(path, load_table(path)) for path in tables]  # every file checked before work
    cascade = None if args.no_cascade else _product_cascade()
    return {
        path.stem: {"path": str(path), **score(rows, ACTION_WORDS, cascade)}
        for path, rows in loaded
    }


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "confirmations",
        help="false accepts and false refusals of the yes recogniser (six languages)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--table", type=Path, action="append",
        help="a phrasing CSV (text,language,kind,expected[,action]); repeatable; "
        "default: the dev and held-out tables",
    )
    p.add_argument("--no-cascade", action="store_true", help="skip the routing column")
    p.add_argument("--errors", action="store_true", help="list every misread row")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _shown(path: str) -> str:
    """A default table by its path in the repository, any other as given."""
    p = Path(path).resolve()
    root = TABLES.parents[2]
    return str(p.relative_to(root)) if p.is_relative_to(root) else path


def _pct(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.1%}"


def _main(args: argparse.Namespace) -> int:
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    for name, r in result.items():
        print(f"{name} ({_shown(r['path'])}, {r['n']} rows)")
        head = f"  {'':10} {'yes rows':>8} {'false refuse':>13} {'no rows':>8} {'false accept':>13}"
        keep = "kept" in r["languages"]["all"]
        print(head + ("   kept with the waiting agent" if keep else ""))
        for label, table in (("language", r["languages"]), ("kind", r["kinds"])):
            for key, c in table.items():
                line = (
                    f"  {key:10} {c['yes']:8d} {c['false_refuse']:5d} "
                    f"{_pct(c['false_refuse_rate'])} {c['no']:8d} {c['false_accept']:13d}"
                )
                if keep and c.get("answers"):
                    line += f"   {c['kept']}/{c['answers']} {_pct(c['kept_rate'])}"
                print(line)
            if label == "language":
                print()
        if args.errors:
            for e in r["errors"]:
                print(f"  misread [{e['language']} {e['kind']}, read as {e['read_as']}]: "
                      f"{e['text']!r} (expected {e['expected']})")
            for e in r["routed_away"]:
                print(f"  routed away [{e['language']} {e['kind']}]: {e['text']!r} "
                      f"({', '.join(e['routed'])})")
        print()
    return 0

