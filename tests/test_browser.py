"""ADK's dev UI in a real browser: a person's chat is routed to the right specialist.

The server is `coordinator web` (ADK's `adk web` app plus the icon font served locally, so
icons render offline). Drives the UI in headless system Chromium (Playwright, no browser
download) the way a person would: open the `support` app, dismiss the first-run telemetry
dialog, ask a billing question and then a refund question, and read what the page shows.
The author of each answer is read from the UI's own event inspector (Raw JSON tab), so the
test fails if the cascade routes to the wrong agent, not merely if no answer appears.
Screenshots go to `artifacts/` (gitignored) on success and on failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import REPO_ROOT, AdkServer
from tests._web import run_coordinator_web

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The dev UI's text fonts come from fonts.gstatic.com: resolve nothing but loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Requests that are not for the local server are refused. The pattern matches only
# non-loopback URLs on purpose: intercepting the server's own responses would buffer
# the /run_sse stream and the chat would never update.
NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")

BILLING_QUESTION = "I was charged twice for my subscription this month"
REFUND_QUESTION = "I want my money back for order 1001"

# Bounded waits (ms). The first turn loads the app's agents (router, encoder) in the server.
UI_TIMEOUT = 20_000
FIRST_ANSWER_TIMEOUT = 60_000
ANSWER_TIMEOUT = 30_000


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[AdkServer]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with run_coordinator_web(tmp_path / "server") as server:
        yield server


@pytest.fixture
def page(web_server: AdkServer, tmp_path: Path):
    with playwright_sync.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh profile every run
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            context.route(NOT_LOOPBACK, lambda route: route.abort())
            pg = context.new_page()
            pg.set_default_timeout(UI_TIMEOUT)
            yield pg
        finally:
            context.close()


def _screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def _dismiss_first_run_dialog(pg) -> None:
    """The fresh HOME has no telemetry consent, so the UI asks; decline it."""
    no_thanks = pg.get_by_role("button", name="No Thanks")
    message_box = pg.get_by_placeholder("Type a message")
    no_thanks.or_(message_box).first.wait_for(state="visible")
    if no_thanks.is_visible():
        no_thanks.click()
        no_thanks.wait_for(state="hidden")


def _ask(pg, text: str) -> None:
    box = pg.get_by_placeholder("Type a message")
    box.fill(text)
    box.press("Enter")


def _answer_row(pg, contains: str, timeout: int):
    """The chat row (one event) whose text contains `contains`, once it is shown."""
    row = (
        pg.locator("app-event-row")
        .filter(has_text=contains)
        .filter(has_not=pg.locator(".role-user"))
    )
    row.last.wait_for(state="visible", timeout=timeout)
    return row.last


def _author_of(pg, row) -> str:
    """Select the event and read its `author` in the inspector's Raw JSON tab."""
    row.click()
    pg.locator('button[mattooltip="Raw JSON"]').click()
    key = pg.locator(".segment-key").filter(has_text=re.compile(r"^author$"))
    value = pg.locator(".segment-header").filter(has=key).first.locator(".segment-value")
    value.wait_for(state="visible")
    return value.inner_text().strip().strip('"')


def test_billing_then_refund_are_routed_and_answered(web_server: AdkServer, page) -> None:
    try:
        _billing_then_refund(page, web_server.base_url)
    except BaseException:
        _screenshot(page, "browser-failure")
        raise


def _billing_then_refund(pg, base_url: str) -> None:
    pg.goto(f"{base_url}/dev-ui/?app=support")
    _dismiss_first_run_dialog(pg)
    # The app selector in the toolbar shows the chosen app.
    app_button = pg.locator('button[mattooltip="Select an app"]')
    assert "support" in app_button.inner_text()

    # Turn 1: billing. The transfer chip and the specialist's answer (an amount) appear.
    _ask(pg, BILLING_QUESTION)
    pg.get_by_text("coordinator → billing").wait_for(timeout=FIRST_ANSWER_TIMEOUT)
    billing_row = _answer_row(pg, "overcharged", ANSWER_TIMEOUT)
    billing_text = billing_row.inner_text()
    assert re.search(r"\$\d+\.\d\d", billing_text), billing_text
    assert "INV-" in billing_text  # names the duplicate invoices from the store
    assert _author_of(pg, billing_row) == "billing"
    _screenshot(pg, "browser-1-billing")

    # Turn 2, same session: refund. The root routes again; the refund agent answers
    # about order 1001 (which is not on this user's account: no existence leak).
    _ask(pg, REFUND_QUESTION)
    pg.get_by_text(re.compile(r"→ refund")).wait_for(timeout=ANSWER_TIMEOUT)
    refund_row = _answer_row(pg, "Order 1001", ANSWER_TIMEOUT)
    assert "1001" in refund_row.inner_text()
    assert _author_of(pg, refund_row) == "refund"
    _screenshot(pg, "browser-2-refund")

    # Icons are glyphs from the locally served font, not their names as words.
    statuses = pg.evaluate(
        "document.fonts.ready.then(() => [...document.fonts]"
        ".filter(f => f.family.includes('Material')).map(f => f.status))"
    )
    assert "loaded" in statuses, statuses

    # Exactly one transfer per turn, each to the specialist named above.
    chips = pg.get_by_text(re.compile(r"^\s*\w+ → \w+\s*$")).all_inner_texts()
    assert [c.split("→")[1].strip() for c in chips] == ["billing", "refund"], chips
