"""The HTTP server the wire-format stubs share (Gemini, OpenAI): a threaded server on
127.0.0.1 that hands every POST's JSON body to the stub and writes what it answers.

A stub subclasses `JsonStub` and implements `answer(path, body, reply)`, calling
`reply.json(status, payload)` or `reply.stream(chunks)` once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["JsonStub", "Responder"]


class Responder:
    """How a stub answers one request: a JSON body, or server-sent events."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        self._handler = handler

    def json(self, code: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        h = self._handler
        h.send_response(code)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stream(self, chunks: Iterable[dict[str, Any]]) -> None:
        """`data: <json>` per chunk, then `data: [DONE]` (the OpenAI SSE framing)."""
        h = self._handler
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for chunk in chunks:
            h.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            h.wfile.flush()
        h.wfile.write(b"data: [DONE]\n\n")


class JsonStub:
    """Context manager: `with Stub(reply) as stub: stub.base_url ...`."""

    def __init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.answer(self.path, body, Responder(self))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, path: str, body: dict[str, Any], reply: Responder) -> None:
        raise NotImplementedError

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
