"""A local HTTP server that speaks the Gemini `generateContent` wire format.

Tests point google-genai at it (`COORDINATOR_GEMINI_BASE_URL`), so the real Gemini code
path — client, HTTP, JSON (de)serialisation, function calls — runs with no network.
`reply(request_json, model) -> dict` decides each answer (a `candidates[0].content`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.json_stub import JsonStub, Responder

Reply = Callable[[dict[str, Any], str], dict[str, Any]]

_PATH = re.compile(r"/v1(?:beta|alpha)?\d*/models/(?P<model>[^:/]+):(?P<verb>\w+)")


def text_content(text: str) -> dict[str, Any]:
    return {"role": "model", "parts": [{"text": text}]}


def call_content(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"role": "model", "parts": [{"functionCall": {"name": name, "args": args}}]}


def hashed_embedding(text: str, dim: int = 64) -> list[float]:
    """A deterministic bag-of-words vector: texts sharing words are similar."""
    import hashlib

    vec = [0.0] * dim
    for word in re.findall(r"[a-z]+", text.lower()):
        vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vec


def last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body.get("contents", [])):
        texts = [p["text"] for p in content.get("parts", []) if "text" in p]
        if content.get("role") == "user" and texts and not texts[0].startswith("For context:"):
            return "\n".join(texts)
    return ""


class GeminiStub(JsonStub):
    """Context manager: `with GeminiStub(reply) as stub: stub.base_url ...`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (model, verb, body)

    def answer(self, path: str, body: dict[str, Any], reply: Responder) -> None:
        match = _PATH.search(path)
        if match is None:
            reply.json(404, {"error": {"code": 404, "message": f"no route {path}"}})
            return
        model, verb = match["model"], match["verb"]
        self.requests.append((model, verb, body))
        if verb == "batchEmbedContents":
            texts = [
                "".join(p.get("text", "") for p in r["content"]["parts"])
                for r in body.get("requests", [])
            ]
            reply.json(200, {"embeddings": [{"values": hashed_embedding(t)} for t in texts]})
            return
        try:
            content = self.reply(body, model)
        except Exception as exc:  # surface stub bugs as API errors, not hangs
            reply.json(500, {"error": {"code": 500, "message": repr(exc)}})
            return
        if "error" in content:
            reply.json(content["error"]["code"], content)
            return
        reply.json(
            200,
            {
                "candidates": [{"content": content, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {
                    "promptTokenCount": 11,
                    "candidatesTokenCount": 7,
                    "totalTokenCount": 18,
                },
                "modelVersion": model,
            },
        )

    @property
    def base_url(self) -> str:
        return self.origin

    def models_called(self) -> list[str]:
        return [m for m, _, _ in self.requests]
