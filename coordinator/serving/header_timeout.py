"""uvicorn's h11 protocol with a deadline for the request line and headers.

uvicorn times out idle keep-alive connections only after a response; a client that
connects and sends nothing, or half a header line and then stalls (slowloris), holds
its connection, and a place under `--max-connections`, for ever. This subclass arms a
timer when a connection opens and whenever a new request starts arriving, cancels it
once h11 has the whole head, and on expiry answers 408 and closes the connection. The
body has its own deadline (`COORDINATOR_BODY_TIMEOUT`, in the request guard); a
response sent before the body was all read ends the connection.

`coordinator serve` passes the class to uvicorn; `install()` points uvicorn's "auto"
and "h11" protocol names at it for `adk web` / `adk api_server` (coordinator.serving.adk_services).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from coordinator.settings import get_settings

__all__ = ["PROTOCOL_PATH", "HeaderTimeoutProtocol", "use_for_uvicorn"]

PROTOCOL_PATH = "coordinator.serving.header_timeout:HeaderTimeoutProtocol"

_LATE = b"request headers not received in time\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_LATE), _LATE)
)


class HeaderTimeoutProtocol(H11Protocol):
    """H11Protocol that closes a connection whose request head takes too long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # bytes of a new request's head
            self._arm_header_timer()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is parsed (or the request failed)
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        # Answered before the body was all read (401, 413, the body deadline's 408): what
        # is still coming is not read, and bytes trickled after it would keep the
        # connection open (uvicorn's keep-alive timer restarts on data), so it ends here.
        unread = self.conn.their_state is h11.SEND_BODY
        super().on_response_complete()
        if unread and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is h11.IDLE:  # nothing of ours is half-sent on this connection
            self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


def use_for_uvicorn() -> None:
    """Make uvicorn's default protocol names ("auto", "h11") resolve to this class.

    For servers whose `uvicorn.Config` is built by someone else (ADK's `adk web` and
    `adk api_server` build theirs with `http="auto"`): uvicorn resolves the name when the
    server starts, after ADK has loaded `services.py`. Where httptools is installed,
    "auto" would have meant httptools; it now means h11 with the header deadline.
    """
    from uvicorn import config

    config.HTTP_PROTOCOLS["auto"] = PROTOCOL_PATH
    config.HTTP_PROTOCOLS["h11"] = PROTOCOL_PATH
