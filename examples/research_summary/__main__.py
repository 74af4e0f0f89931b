"""`python -m examples.research_summary [FILE]`: summary and verdict for a document.

FILE holds the document and a last line `Claim: ...` (default: the sample beside this
file, with its claim)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from coordinator import Coordinator

from .agent import root_agent

SAMPLE = Path(__file__).with_name("sample.md")


async def run(text: str) -> tuple[str, dict]:
    c = Coordinator(root_agent)
    reply = await c.ask_async(text, user_id="reader")
    session = await c.session_service.get_session(
        app_name=c.app_name, user_id="reader", session_id=reply.session_id
    )
    return session.state["summary"], session.state["verdict"]


def main(argv: list[str]) -> int:
    text = Path(argv[0]).read_text(encoding="utf-8") if argv else SAMPLE.read_text("utf-8")
    summary, verdict = anyio.run(run, text)
    print(summary)
    tally = ", ".join(f"{k} {v:g}" for k, v in verdict["tally"].items())
    print(f"-- claim: {verdict['label']} ({verdict['strategy']}: {tally})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
