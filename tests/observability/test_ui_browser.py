"""The Temporal web UI, in a real headless Chromium: a person finds a run of the example
automation by its type, and sees its current step and what started it.

Drives Debian's ``chromium`` through Playwright (``executable_path``; Playwright never
downloads a browser here). Skipped only where no Chromium is installed.
"""

from __future__ import annotations

import asyncio
import random
import re
import shutil
import time
import urllib.parse
from datetime import timedelta

import pytest

from durable_automation import engine
from durable_automation._client.connect import connect
from durable_automation._core.settings import overridden
from durable_automation.devserver import DevServer
from durable_automation.worker import AutomationWorker
from tests.observability.automations import ORDER, payment_channel

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.devserver,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium browser installed (Debian: "
                       "apt-get install chromium; `./run test` installs it)"),
]


@pytest.fixture
def ui_server(tmp_path):
    """A dev server with the web UI and our search attributes registered."""
    server = DevServer(ui=True, log_file=tmp_path / "server.log")
    server.start()
    yield server
    server.stop()


async def test_ui_shows_the_run_with_its_step_and_summary(ui_server, tmp_path):
    async_api = pytest.importorskip("playwright.async_api",
                                    reason="needs playwright (pip install -e '.[test]')")
    order_id = random.randrange(10**9)
    with overridden(address=ui_server.address, search_attributes=True):
        client = await connect()
        async with AutomationWorker(client, "obs-ui", graceful_shutdown=timedelta(seconds=2)):
            run = await engine.astart(ORDER, order_id=order_id)
            deadline = time.monotonic() + 30
            while await run.astatus() != "waiting":
                assert time.monotonic() < deadline, "the run never started waiting"
                await asyncio.sleep(0.1)

            query = urllib.parse.quote(f'DaAutomation="{ORDER}"')
            list_url = f"{ui_server.ui_url}/namespaces/default/workflows?query={query}"
            # The UI renders summaries as markdown, which curls the quotes.
            summary = re.compile(
                # ``re`` reads \u2018/\u2019 (curly single quotes) in the raw pattern.
                rf"Started by engine\.start\(['\u2018\u2019]{ORDER}['\u2018\u2019], "
                rf"order_id={order_id}\)")
            details = f"Step await_payment: waiting for {payment_channel(order_id)}"
            async with async_api.async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": 1400, "height": 1100})
                    page.set_default_timeout(30_000)
                    # The list, filtered by our search attribute: the run is there, by id.
                    await page.goto(list_url)
                    link = page.get_by_role("link", name=run.id, exact=True).first
                    await link.click()
                    run_path = urllib.parse.quote(run.id, safe="")
                    await page.wait_for_url(f"**/workflows/{run_path}/**")
                    header = page.get_by_text("Workflow Type").locator("..")
                    await async_api.expect(header).to_contain_text(ORDER)
                    # The static summary and the current details live under "User
                    # Metadata", each rendered (as markdown) in an iframe of its own.
                    await page.get_by_role("tab", name="User Metadata").click()
                    frames = page.frame_locator("iframe")
                    await async_api.expect(frames.nth(0).locator("body")).to_contain_text(summary)
                    await async_api.expect(frames.nth(1).locator("body")).to_contain_text(details)
                    await page.screenshot(path=tmp_path / "run.png", full_page=True)
                    # The custom search attributes, as set by the interpreter (shown as JSON).
                    await page.get_by_role("tab", name="Search Attributes").click()
                    shown = page.get_by_role("textbox", name="Search Attributes")
                    await async_api.expect(shown).to_contain_text(
                        re.compile(r'"DaStep":\s*"await_payment"'))
                    await async_api.expect(shown).to_contain_text(
                        re.compile(rf'"DaWaitingFor":\s*"{payment_channel(order_id)}"'))
                except BaseException:
                    await page.screenshot(path=tmp_path / "failure.png", full_page=True)
                    (tmp_path / "failure.txt").write_text(await page.inner_text("body"))
                    raise
                finally:
                    await browser.close()
            assert (tmp_path / "run.png").stat().st_size > 10_000
            assert await engine.asignal(payment_channel(order_id), {"paid": True}) == 1
            assert await run.aresult(timeout=30) == {"shipped": True}
