"""`coordinator web`: the dev UI's icon font is served locally, so icons work offline."""

from __future__ import annotations

import httpx
import pytest

from coordinator.cli import main
from coordinator.serving.web_icons import FONT_ROUTE, icon_font_path, rewrite_font_urls
from tests._web import run_coordinator_web

GSTATIC = "fonts.gstatic.com/s/material"


def test_font_package_is_installed_and_is_a_ligature_font():
    path = icon_font_path()
    assert path is not None and path.suffix == ".ttf"
    data = path.read_bytes()
    assert data[:4] == b"\x00\x01\x00\x00" and b"GSUB" in data[:4096]  # TrueType + ligatures


def test_only_the_icon_font_urls_are_rewritten():
    html = (
        "@font-face{font-family:'Material Icons';src:url(https://fonts.gstatic.com/s/"
        "materialicons/v145/x.woff2) format('woff2');}"
        "@font-face{font-family:'Google Sans';src:url(https://fonts.gstatic.com/s/"
        "googlesans/v70/y.woff2) format('woff2');}"
    )
    out = rewrite_font_urls(html)
    assert f"url({FONT_ROUTE}) format('truetype')" in out
    assert "materialicons" not in out and "googlesans/v70/y.woff2" in out


def test_web_refuses_non_loopback_host(capsys):
    assert main(["web", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loopback" in err[0]


def test_dev_ui_is_served_with_a_local_icon_font(tmp_path):
    with run_coordinator_web(tmp_path) as server, httpx.Client(trust_env=False) as client:
        page = client.get(f"{server.base_url}/dev-ui/", follow_redirects=True)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert FONT_ROUTE in page.text and GSTATIC not in page.text
        assert int(page.headers["content-length"]) == len(page.content)
        font = client.get(f"{server.base_url}{FONT_ROUTE}")
        assert font.status_code == 200 and font.headers["content-type"] == "font/ttf"
        assert font.content == icon_font_path().read_bytes()
        apps = client.get(f"{server.base_url}/list-apps").json()  # the API is ADK's
        assert "support" in apps


@pytest.mark.parametrize("path", ["/dev-ui/local-fonts/../../etc/passwd", "/dev-ui/local-fonts/x"])
def test_nothing_else_is_served_from_the_font_route(path, tmp_path):
    from starlette.testclient import TestClient

    from coordinator.cli.web import build_app
    from tests._servers import ADK_WEB_DIR

    app = build_app(str(ADK_WEB_DIR), session_service_uri="memory://")
    with TestClient(app) as client:
        r = client.get(path)
    assert r.status_code == 404 or "root:" not in r.text
