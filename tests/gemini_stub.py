"""A local HTTP server that speaks the Gemini `generateContent` wire format.

Tests point google-genai at it (`COORDINATOR_GEMINI_BASE_URL`), so the real Gemini code
path — client, HTTP, JSON (de)serialisation, function calls — runs with no network.
`reply(request_json, model) -> dict` decides each answer (a `candidates[0].content`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class GeminiStub:
    """Context manager: `with GeminiStub(reply) as stub: stub.base_url ...`."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[tuple[str, str, dict[str, Any]]] = []  # (model, verb, body)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                match = _PATH.search(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if match is None:
                    self._send(404, {"error": {"code": 404, "message": f"no route {self.path}"}})
                    return
                model, verb = match["model"], match["verb"]
                stub.requests.append((model, verb, body))
                if verb == "batchEmbedContents":
                    texts = [
                        "".join(p.get("text", "") for p in r["content"]["parts"])
                        for r in body.get("requests", [])
                    ]
                    self._send(
                        200, {"embeddings": [{"values": hashed_embedding(t)} for t in texts]}
                    )
                    return
                try:
                    content = stub.reply(body, model)
                except Exception as exc:  # surface stub bugs as API errors, not hangs
                    self._send(500, {"error": {"code": 500, "message": repr(exc)}})
                    return
                if "error" in content:
                    self._send(content["error"]["code"], content)
                    return
                self._send(
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

            def _send(self, code: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def models_called(self) -> list[str]:
        return [m for m, _, _ in self.requests]

    def __enter__(self) -> GeminiStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
