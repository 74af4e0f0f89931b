"""Serve the dev UI's icon font locally, so icons are icons offline, not words ("sto").

ADK's dev UI (`/dev-ui/`) declares its icon fonts ('Material Icons', 'Material Symbols
Outlined') with @font-face rules pointing at Google Fonts; offline, the ligature names show
as text. `LocalIconFonts` (ASGI middleware) serves the Material Symbols Outlined font shipped
by the `qtmaterialsymbols` PyPI package at ``/dev-ui/local-fonts/...`` and rewrites those two
@font-face URLs in the UI's HTML to it. Nothing else of ADK's UI is changed.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["FONT_ROUTE", "LocalIconFonts", "icon_font_path", "rewrite_font_urls"]

FONT_ROUTE = "/dev-ui/local-fonts/material-symbols-outlined.ttf"
_GSTATIC_ICONS = re.compile(
    r"url\(https://fonts\.gstatic\.com/s/material(?:icons|symbolsoutlined)/[^)]*\)"
    r"\s*format\(['\"]woff2['\"]\)"
)


@lru_cache(maxsize=1)
def icon_font_path() -> Path | None:
    """The Material Symbols Outlined TTF (ligatures included), or None if not installed.

    Located without importing the package (its __init__ wants a Qt binding we do not need).
    """
    spec = importlib.util.find_spec("qtmaterialsymbols")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / "resources" / "MaterialSymbolsOutlined.ttf"
        if path.is_file():
            return path
    return None


def rewrite_font_urls(html: str, route: str = FONT_ROUTE) -> str:
    """The dev UI's HTML with its icon-font URLs pointing at `route`."""
    return _GSTATIC_ICONS.sub(f"url({route}) format('truetype')", html)


class LocalIconFonts:
    """ASGI middleware: answer the icon-font route, rewrite the dev UI's HTML."""

    def __init__(self, app: Any, font: Path | None = None) -> None:
        self.app = app
        self.font = font or icon_font_path()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if self.font is None or not path.startswith("/dev-ui"):
            await self.app(scope, receive, send)
            return
        if path == FONT_ROUTE:
            from starlette.responses import FileResponse

            response = FileResponse(
                self.font,
                media_type="font/ttf",
                headers={"cache-control": "public, max-age=86400"},
            )
            await response(scope, receive, send)
            return
        start: dict | None = None
        chunks: list[bytes] = []

        async def send_rewritten(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if not headers.get(b"content-type", b"").startswith(b"text/html"):
                    start = None
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = rewrite_font_urls(b"".join(chunks).decode("utf-8")).encode("utf-8")
                headers = [
                    (k, v)
                    for k, v in start.get("headers") or []
                    if k not in (b"content-length", b"etag", b"last-modified")
                ]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_rewritten)
