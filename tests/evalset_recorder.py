"""Re-record the expected final responses of an evalset from the offline models.

The offline models are deterministic, so an evalset's expected answers are recorded by
running the app and converting its events with ADK's own `EvaluationGenerator` (the same
conversion `adk eval` applies). Run it after a deliberate change to an agent's wording:

    python -m tests.evalset_recorder contract_review
    python -m tests.evalset_recorder support --case contract_review_governing_law_and_assignment

The expected tool trajectory is checked, never rewritten: a changed trajectory is a
behaviour change to look at, not to record.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def _record(app: str, case: dict):
    from google.adk.evaluation.evaluation_generator import EvaluationGenerator
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    agent = importlib.import_module(f"adk_web.{app}.agent").root_agent
    runner = InMemoryRunner(agent=agent, app_name=app)
    si = case["session_input"]
    session = await runner.session_service.create_session(
        app_name=app, user_id=si["user_id"], state=si.get("state") or {}
    )
    events = []
    for inv in case["conversation"]:
        msg = types.Content.model_validate(inv["user_content"])
        async for ev in runner.run_async(
            user_id=si["user_id"], session_id=session.id, new_message=msg
        ):
            events.append(ev)
    return EvaluationGenerator.convert_events_to_eval_invocations(events)


async def rerecord(app: str, only: str | None = None) -> None:
    from google.adk.evaluation.eval_case import get_all_tool_calls

    for path in sorted((ROOT / "adk_web" / app).glob("*.evalset.json")):
        data = json.loads(path.read_text())
        for case in data["eval_cases"]:
            if only and case["eval_id"] != only:
                continue
            invocations = await _record(app, case)
            assert len(invocations) == len(case["conversation"]), case["eval_id"]
            for recorded, expected in zip(invocations, case["conversation"], strict=True):
                calls = [c.name for c in get_all_tool_calls(recorded.intermediate_data)]
                want = [c["name"] for c in expected["intermediate_data"].get("tool_uses", [])]
                assert calls == want, (case["eval_id"], calls, want)
                text = "".join(p.text or "" for p in recorded.final_response.parts)
                expected["final_response"]["parts"] = [{"text": text}]
            print(f"re-recorded {path.name} / {case['eval_id']}")
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", help="adk_web app folder, e.g. support")
    parser.add_argument("--case", default=None, help="only this eval_id")
    args = parser.parse_args()
    os.environ.setdefault("COORDINATOR_MODE", "offline")
    asyncio.run(rerecord(args.app, args.case))


if __name__ == "__main__":
    main()
