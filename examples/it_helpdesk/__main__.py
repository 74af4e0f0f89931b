"""`python -m examples.it_helpdesk "my vpn will not connect"`: one request, routed."""

from __future__ import annotations

import sys

from coordinator import Coordinator

from .agent import root_agent


def main(argv: list[str]) -> int:
    text = " ".join(argv) or "I forgot my password and my account is locked"
    reply = Coordinator(root_agent).ask(text, user_id="it-user")
    print(reply.text)
    print(f"-- {reply.route} via {reply.method} (confidence {reply.confidence:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
