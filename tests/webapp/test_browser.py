"""The Mini App in a real headless Chromium (Debian's `chromium`, driven by Playwright), opened as Telegram
opens it: the page URL with #tgWebAppData=<signed initData>, without Telegram's script.

Screenshots of each page are kept in tests/artifacts/ (git-ignored). Skipped, with the reason, where
Playwright or Chromium is missing (`make test` installs Chromium with apt-get when it runs as root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.webapp.conftest import AppEnv

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LINK = "https://instagram.com/p/browser1"


async def _open(browser: Any, env: AppEnv, init: str) -> tuple[Any, list[str]]:
    page = await browser.new_page(viewport={"width": 420, "height": 860})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(env.fragment_url(init))
    await page.wait_for_function("() => window.smmApp && window.smmApp.ready", timeout=15_000)
    return page, problems


async def test_catalog_order_dashboard(app_env: AppEnv, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await app_env.link(101)
    app_env.person(101)
    page, problems = await _open(browser, app_env, app_env.init_data(101))
    total = len(app_env.panel.catalog)
    assert await page.locator("#services li").count() == min(100, total)
    await page.screenshot(path=ARTIFACTS / "webapp-catalog.png")

    # filter as you type: by words of the name, and by id
    first = app_env.panel.catalog[0]
    await page.fill("#search", "instagram followers")
    names = await page.locator("#services li .name").all_text_contents()
    assert names and all("instagram" in n.lower() and "followers" in n.lower() for n in names)
    await page.fill("#search", str(first["service"]))
    assert await page.locator(f'#services li[data-id="{first["service"]}"]').count() == 1
    # sorted by price, high to low
    await page.fill("#search", "")
    await page.select_option("#sort", "down")
    rates = await page.locator("#services li .rate").all_text_contents()
    values = [float(r.split()[0]) for r in rates if r[0].isdigit()]
    assert values == sorted(values, reverse=True)

    # a service and its order form: the wizard's fields, a live price
    await page.select_option("#sort", "panel")
    await page.fill("#search", str(first["service"]))
    await page.click(f'#services li[data-id="{first["service"]}"]')
    await page.wait_for_selector("#view-service:not(.hidden)")
    assert await page.text_content("#svc-name") == first["name"]
    description = await page.text_content("#svc-desc") or ""
    assert "<br" not in description and "\n" in description  # the panel's HTML, as plain lines
    assert await page.is_hidden('[data-field="interval"]')  # until runs is given (drip-feed)
    await page.fill('#fields input[name="quantity"]', "5")
    await page.fill('#fields input[name="link"]', LINK)
    await page.wait_for_function(
        "() => document.querySelector('[data-field=quantity] .err').textContent.includes('between')"
    )
    await page.fill('#fields input[name="quantity"]', "1000")
    await page.wait_for_function("() => document.getElementById('q-price').textContent === '0.90 USD'")
    assert await page.text_content("#q-after") == "99.10 USD"
    await page.screenshot(path=ARTIFACTS / "webapp-order.png")

    # Review stores the draft; a double click on Confirm places one order
    mark = app_env.tg.mark()
    await page.click("#review")
    await page.wait_for_selector("#confirm:not([disabled])")
    await page.dblclick("#confirm")
    await page.wait_for_selector("#view-orders:not(.hidden) li.ord")
    assert "Order placed" in (await page.text_content("#notice") or "")
    assert app_env.panel.count("add") == 1
    message = await app_env.tg.wait_for_bot_message(101, after=mark, timeout=10)
    assert "Order placed" in message["text"]

    # the dashboard: progress after the panel delivered part of it, refreshed from the page
    app_env.panel.clock.advance(90)
    await page.click("li.ord button[data-action=refresh]")
    await page.wait_for_selector("li.ord progress")
    percent = await page.eval_on_selector("li.ord progress", "p => p.value")
    assert 0 < percent < 100
    await page.wait_for_function("() => document.getElementById('chart').naturalWidth > 0")
    await page.screenshot(path=ARTIFACTS / "webapp-orders.png", full_page=True)
    await page.click("#confirm", force=True, timeout=1000) if await page.is_visible("#confirm") else None
    assert app_env.panel.count("add") == 1
    assert not problems, problems  # no script error, no Content-Security-Policy violation


async def test_refused_without_valid_init_data(app_env: AppEnv, browser: Any) -> None:
    await app_env.link(101)
    page = await browser.new_page()
    await page.goto(app_env.fragment_url(app_env.init_data(101).replace("User101", "Mallory")))
    await page.wait_for_selector("#notice:not(.hidden)")
    assert "Telegram" in (await page.text_content("#notice") or "")
    assert await page.locator("#services li").count() == 0


async def test_favourites_come_first(app_env: AppEnv, browser: Any) -> None:
    account = await app_env.link(101)
    page, problems = await _open(browser, app_env, app_env.init_data(101))
    tenth = app_env.panel.catalog[9]["service"]
    await page.click(f'#services li[data-id="{tenth}"]')
    await page.click("#star")
    await page.wait_for_selector('#star[aria-pressed="true"]')
    await page.click("#back")
    assert await page.get_attribute("#services li:first-child", "data-id") == str(tenth)
    assert await page.locator("#services li:first-child .name.fav").count() == 1
    from storage import repo

    async with app_env.deps.sessions() as session:  # the chat's own favourites (/services shows them too)
        assert await repo.favorites.is_favorite(session, 101, account, tenth)
    assert not problems, problems
