"""`coordinator tickets list|show|close`: the hand-offs to people (escalation tickets).

coordinator tickets list [--user alice] [--open] [--json]
coordinator tickets show T-00001 [--json]
coordinator tickets close T-00001 [--json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from coordinator.errors import UsageError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tickets",
        help="list, show and close hand-off tickets (escalations to a person)",
        description="Tickets opened when a user asked for a person or the assistant kept "
        "failing. Ids may be given as 42 or T-00042.",
    )
    inner = p.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--json", action="store_true", help="machine-readable output")
        q.add_argument("--db", type=Path, help="store file (default: settings)")

    q = inner.add_parser("list", help="tickets, oldest first")
    q.add_argument("--user", help="only this user's tickets")
    q.add_argument("--open", action="store_true", help="only open tickets")
    common(q)
    q.set_defaults(func=_list)
    q = inner.add_parser("show", help="one ticket with its audit trail")
    q.add_argument("id", help="ticket id (42 or T-00042)")
    q.add_argument("--user", help="refuse a ticket that is not this user's")
    common(q)
    q.set_defaults(func=_show)
    q = inner.add_parser("close", help="close a ticket (idempotent)")
    q.add_argument("id", help="ticket id (42 or T-00042)")
    q.add_argument("--user", help="refuse a ticket that is not this user's")
    q.add_argument("--actor", default="operator", help="who closes it (audit trail)")
    common(q)
    q.set_defaults(func=_close)


def _store(args):
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.routing.handoff import TicketStore

    if args.db is not None and not args.db.is_file():
        raise UsageError(f"{args.db}: no such store file")
    return TicketStore(args.db)


def _one(args):
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.routing.handoff import parse_ticket_id

    store = _store(args)
    ticket_id = parse_ticket_id(args.id)
    ticket = store.get(ticket_id)
    if ticket is None or (args.user is not None and ticket.user_id != args.user):
        raise UsageError(
            f"no ticket {args.id!r}" + (f" for user {args.user!r}" if args.user else "")
        )
    return store, ticket


def _list(args) -> int:
    tickets = _store(args).list(user_id=args.user, status="open" if args.open else None)
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in tickets], indent=2))
        return 0
    if not tickets:
        print("no tickets")
        return 0
    for t in tickets:
        print(
            f"{t.number}  {t.status:<6}  {t.created_at:%Y-%m-%d %H:%M}  {t.user_id}  "
            f"{t.reason}  {t.summary[:60]}"
        )
    return 0


def _show(args) -> int:
    store, ticket = _one(args)
    audit = store.audit(ticket.id)
    if args.json:
        print(json.dumps({**ticket.model_dump(mode="json"), "audit": audit}, indent=2))
        return 0
    print(f"{ticket.number} ({ticket.status})")
    print(f"  user:    {ticket.user_id}")
    print(f"  session: {ticket.session_id}")
    print(f"  reason:  {ticket.reason}")
    print(f"  created: {ticket.created_at.isoformat()}")
    if ticket.closed_at:
        print(f"  closed:  {ticket.closed_at.isoformat()}")
    print(f"  summary: {ticket.summary}")
    return 0


def _close(args) -> int:
    store, ticket = _one(args)
    closed = store.close(ticket.id, actor=args.actor)
    if args.json:
        print(json.dumps(closed.model_dump(mode="json"), indent=2))
    else:
        print(f"{closed.number} closed")
    return 0
