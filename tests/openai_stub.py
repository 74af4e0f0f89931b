"""A local HTTP server that speaks OpenAI's chat-completions wire format (JSON and SSE).

Tests point LiteLLM at it (`COORDINATOR_LITELLM_API_BASE`), so the real LiteLLM path — ADK's
`LiteLlm`, litellm, the OpenAI client, HTTP, tool calls, streaming — runs with no network.
`reply(request_json) -> dict` decides each answer: an assistant message, built with
`text_message(...)` or `tool_message(name, args)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.json_stub import JsonStub, Responder

Reply = Callable[[dict[str, Any]], dict[str, Any]]


def text_message(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def tool_message(name: str, args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
        ],
    }


def last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, list):
                return "\n".join(p.get("text", "") for p in c if isinstance(p, dict))
            return c or ""
    return ""


_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def _chunks(model: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    """The message as a stream: text in pieces, a tool call's arguments in two halves."""
    base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    text = message.get("content") or ""
    deltas += [{"content": text[i : i + 8]} for i in range(0, len(text), 8)]
    for n, call in enumerate(message.get("tool_calls") or []):
        args = call["function"]["arguments"]
        half = len(args) // 2
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": n,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": args[:half]},
                    }
                ]
            }
        )
        deltas.append({"tool_calls": [{"index": n, "function": {"arguments": args[half:]}}]})
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    out = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    out.append({**base, "choices": [], "usage": _USAGE})
    return out


class OpenAIStub(JsonStub):
    """Context manager: `with OpenAIStub(reply) as stub: stub.base_url ...`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[dict[str, Any]] = []

    def answer(self, path: str, body: dict[str, Any], reply: Responder) -> None:
        if not path.rstrip("/").endswith("/chat/completions"):
            reply.json(404, {"error": {"message": f"no route {path}"}})
            return
        self.requests.append(body)
        try:
            message = self.reply(body)
        except Exception as exc:  # surface stub bugs as API errors, not hangs
            reply.json(500, {"error": {"message": f"stub: {exc!r}"}})
            return
        model = body.get("model", "")
        if body.get("stream"):
            reply.stream(_chunks(model, message))
            return
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        reply.json(
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _USAGE,
            },
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def models_called(self) -> list[str]:
        return [b.get("model", "") for b in self.requests]
