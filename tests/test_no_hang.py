"""No request can hang: odd but legal bodies, short bodies and stalled heads, over raw sockets.

Each case runs against the three HTTP servers a person starts (`coordinator serve`, `adk
api_server adk_web`, `adk web adk_web`), with the exact bytes on the wire: a bodiless or
`Content-Length: 0` POST is answered (a session is created, as ADK's own API does), so
are chunked bodies and `Expect: 100-continue`; a body shorter than its Content-Length is
408 after COORDINATOR_BODY_TIMEOUT, and a head that stalls is 408 and closed after
COORDINATOR_HEADER_TIMEOUT. Socket timeouts are only there so a regression fails
instead of hanging the suite: each is several times the deadline under test.
"""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests._servers import (
    ADK_WEB_DIR,
    REPO_ROOT,
    AdkServer,
    adk_executable,
    coordinator_executable,
    free_port,
    launch,
    require_adk,
    run_coordinator_serve,
    server_env,
)

KEY = "alice-key-0123456789"
BODY_TIMEOUT, HEADER_TIMEOUT = 2, 2
GRACE = 15.0  # a hang fails after this, well past either deadline
LIMITS = {
    "COORDINATOR_BODY_TIMEOUT": str(BODY_TIMEOUT),
    "COORDINATOR_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    "COORDINATOR_RATE_BURST": "1000",
    "COORDINATOR_RATE_PER_MINUTE": "6000",
}


@pytest.fixture(scope="module", params=["serve", "api_server", "web"])
def server(request, tmp_path_factory) -> Iterator[AdkServer]:
    work = tmp_path_factory.mktemp(f"nohang-{request.param}")
    if request.param == "serve":
        keys = work / "keys.txt"
        keys.write_text(f"alice {hashlib.sha256(KEY.encode()).hexdigest()}\n")
        env = {**LIMITS, "COORDINATOR_API_KEYS_FILE": str(keys)}
        with run_coordinator_serve(work, env=env) as s:
            yield s
        return
    require_adk()
    port = free_port()
    args = [adk_executable(), request.param, "--host", "127.0.0.1", "--port", str(port),
            "--no-reload", str(ADK_WEB_DIR)]
    env = {**server_env(work), **LIMITS}
    with launch(args, work, port, work / f"{request.param}.log", env=env) as s:
        yield s


def _head(server: AdkServer, method: str, path: str, *lines: str, close: bool = True) -> bytes:
    """A request head; every server gets the credential (the dev servers ignore it)."""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
            f"Authorization: Bearer {KEY}", *lines]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode()


def _connect(server: AdkServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=GRACE)
    sock.settimeout(GRACE)
    return sock


def _read_to_close(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (socket.timeout: it never did)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def _read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length, leaving the connection open."""
    out = b""
    while b"\r\n\r\n" not in out:
        out += sock.recv(65536)
    head, body = out.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return out


def _exchange(server: AdkServer, data: bytes) -> bytes:
    with _connect(server) as sock:
        sock.sendall(data)
        return _read_to_close(sock)


def _status(response: bytes) -> int:
    """The final status (after any `100 Continue`)."""
    while response.startswith(b"HTTP/1.1 100"):
        response = response.split(b"\r\n\r\n", 1)[1]
    return int(response.split(b" ", 2)[1])


def _json(response: bytes) -> dict:
    return json.loads(response.split(b"\r\n\r\n")[-1])


def _sessions_path(session: str = "") -> str:
    return "/apps/support/users/alice/sessions" + (f"/{session}" if session else "")


def test_a_bodiless_post_creates_the_session(server):
    response = _exchange(server, _head(server, "POST", _sessions_path("bodiless")))
    assert _status(response) == 200, response
    assert _json(response)["id"] == "bodiless"
    response = _exchange(server, _head(server, "POST", _sessions_path()))
    assert _status(response) == 200, response
    assert _json(response)["userId"] == "alice" and _json(response)["id"]


def test_a_content_length_zero_post_creates_the_session(server):
    response = _exchange(
        server, _head(server, "POST", _sessions_path("zero"), "Content-Length: 0")
    )
    assert _status(response) == 200, response
    assert _json(response)["id"] == "zero"


def test_a_chunked_body_is_read_whole(server):
    body = json.dumps({"state": {"colour": "teal"}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
    response = _exchange(
        server,
        _head(server, "POST", _sessions_path(), "Transfer-Encoding: chunked",
              "Content-Type: application/json") + chunks + b"0\r\n\r\n",
    )
    assert _status(response) == 200, response
    assert _json(response)["state"] == {"colour": "teal"}


def test_expect_100_continue_gets_continue_then_the_answer(server):
    body = json.dumps({"state": {"n": 1}}).encode()
    with _connect(server) as sock:
        sock.sendall(_head(server, "POST", _sessions_path(), "Expect: 100-continue",
                           "Content-Type: application/json", f"Content-Length: {len(body)}"))
        interim = sock.recv(65536)  # the client waits for this before sending the body
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        response = _read_to_close(sock)
    assert _status(response) == 200, response
    assert _json(response)["state"] == {"n": 1}


def test_a_body_shorter_than_its_length_is_408_and_the_connection_ends(server):
    with _connect(server) as sock:
        sock.sendall(_head(server, "POST", _sessions_path("short"), "Content-Length: 100",
                           "Content-Type: application/json", close=False) + b'{"state":')
        response = _read_to_close(sock)  # keep-alive asked for, yet the server closes
    assert _status(response) == 408, response
    assert "not received within" in _json(response)["detail"]


def test_bytes_trickled_after_a_refusal_do_not_hold_the_connection(server):
    """A 408 for an unfinished body, then one byte every 0.2 s: uvicorn restarts its
    keep-alive timer on every byte, so without the close this connection lives for ever."""
    with _connect(server) as sock:
        sock.sendall(_head(server, "POST", _sessions_path("trickle"),
                           "Content-Length: 1000000", close=False) + b"{")
        sock.settimeout(0.2)
        received, deadline = b"", time.monotonic() + GRACE
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = None
            except ConnectionResetError:
                break
            if chunk == b"":
                break
            received += chunk or b""
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
        else:
            pytest.fail(f"connection still open after {GRACE} s of trickling: {received!r}")
    assert _status(received) == 408, received


@pytest.mark.parametrize(
    "partial",
    [b"", b"POST /apps/support/users/al", b"GET /list-apps HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A"],
    ids=["nothing", "half-a-request-line", "half-the-headers"],
)
def test_a_stalled_head_is_408_and_closed(server, partial):
    with _connect(server) as sock:
        sock.sendall(partial)
        response = _read_to_close(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response
    assert b"request headers not received in time" in response


def test_a_second_request_on_a_kept_alive_connection_has_the_deadline_too(server):
    """The timer is armed again for each request's head, not only when the connection opens."""
    with _connect(server) as sock:
        sock.sendall(_head(server, "GET", "/list-apps", close=False))
        first = _read_response(sock)
        assert _status(first) == 200, first
        sock.sendall(b"GET /list-apps HTTP/1.1\r\nHost: 127.")
        response = _read_to_close(sock)
    assert response.startswith(b"HTTP/1.1 408 "), response


def test_a_complete_slow_head_within_the_deadline_is_served(server):
    """The deadline is for the whole head, and a head that finishes in time is served."""
    head = _head(server, "GET", "/list-apps")
    with _connect(server) as sock:
        for part in (head[:10], head[10:30], head[30:]):
            sock.sendall(part)
            time.sleep(HEADER_TIMEOUT / 5)
        response = _read_to_close(sock)
    assert _status(response) == 200, response
    assert "support" in _json(response)


@pytest.mark.parametrize(
    ("key", "value"),
    [("COORDINATOR_HEADER_TIMEOUT", "-1"), ("COORDINATOR_HEADER_TIMEOUT", "inf"),
     ("COORDINATOR_MAX_SESSIONS_PER_USER", "0")],
)
@pytest.mark.parametrize("command", ["serve", "api_server"])
def test_a_bad_setting_stops_the_server_with_one_line_and_exit_2(command, key, value, tmp_path):
    if command == "serve":
        args = [*coordinator_executable(), "serve", "--insecure-local", "--port", "1"]
    else:
        args = [require_adk(), "api_server", "--port", "1", "--no-reload", str(ADK_WEB_DIR)]
    env = {**server_env(tmp_path), key: value, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if key in line]
    assert len(errors) == 1 and f"invalid setting {key}" in errors[0], done.stderr[-2000:]
