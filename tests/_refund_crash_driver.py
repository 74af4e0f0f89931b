"""Subprocess driver for the kill -9 test (tests/test_refund_crash.py).

    python -m tests._refund_crash_driver propose USER:SESSION:TEXT ...
    python -m tests._refund_crash_driver say USER:SESSION:TEXT         (may be killed)
    python -m tests._refund_crash_driver report USER:SESSION ...

Each prints one JSON document. Everything goes through `coordinator.Coordinator` with the
data dir and session database from the environment, as a real process would.
"""

from __future__ import annotations

import json
import sys

import anyio

from coordinator.api import Coordinator


async def _turns(c: Coordinator, specs: list[str]) -> list[dict]:
    out = []
    for spec in specs:
        user, session, text = spec.split(":", 2)
        reply = await c.ask_async(text, user_id=user, session_id=session)
        out.append({"user": user, "session": session, "text": reply.text})
    return out


async def _report(c: Coordinator, specs: list[str]) -> list[dict]:
    out = []
    for spec in specs:
        user, session = spec.split(":", 1)
        s = await c.session_service.get_session(
            app_name=c.app_name, user_id=user, session_id=session
        )
        texts = [
            p.text
            for e in (s.events if s else [])
            if e.author != "user" and e.content
            for p in e.content.parts or []
            if p.text
        ]
        told = sorted(k for k, v in (s.state if s else {}).items() if k.startswith("confirm:told:"))
        out.append({"user": user, "session": session, "texts": texts, "told": told})
    return out


def main() -> None:
    command, *specs = sys.argv[1:]
    c = Coordinator(warm_up=False)
    run = _report if command == "report" else _turns
    print(json.dumps(anyio.run(run, c, specs)))


if __name__ == "__main__":
    main()
