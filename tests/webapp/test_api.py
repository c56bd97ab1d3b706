"""The Mini App's API end to end: the real server, the panel simulator, the Bot API emulator."""

from __future__ import annotations

import asyncio

import pytest

from tests.webapp.conftest import AppEnv

LINK = "https://instagram.com/p/app1"


async def _draft(env: AppEnv, init: str, service: int = 1, **values: str) -> dict:
    status, draft = await env.api("POST", "draft", init, json={"service": service, "values": values})
    assert status == 200, draft
    return draft


async def test_catalog_is_compact_and_marks_favourites(app_env: AppEnv) -> None:
    account = await app_env.link(101)
    from storage import repo

    async with app_env.deps.sessions() as session:
        await repo.favorites.add_favorite(session, 101, account, 7)
        await session.commit()
    status, data = await app_env.api("GET", "catalog", app_env.init_data(101))
    assert status == 200 and data["favs"] == [7] and data["currency"] == "USD"
    rows = data["catalog"]["rows"]
    assert len(rows) == len(app_env.panel.catalog)
    first = app_env.panel.catalog[0]
    assert rows[0][0] == first["service"] and rows[0][1] == first["name"]
    assert isinstance(rows[0][4], str)  # the rate as exact text, never a float
    status, found = await app_env.api("GET", "search", app_env.init_data(101), q=str(first["service"]))
    assert status == 200 and found["rows"][0][0] == first["service"]


async def test_form_fields_come_from_the_wizard_rules(app_env: AppEnv) -> None:
    await app_env.link(101)
    init = app_env.init_data(101)
    status, data = await app_env.api("GET", "service", init, id="1")
    assert status == 200
    names = [f["name"] for f in data["fields"]]
    assert names[:2] == ["link", "quantity"]
    quantity = data["fields"][1]
    assert (quantity["min"], quantity["max"]) == (data["service"]["min"], data["service"]["max"])
    # the same messages as the chat for the same mistakes
    status, quote = await app_env.api(
        "POST", "quote", init, json={"service": 1, "values": {"link": "nope", "quantity": "5"}}
    )
    assert status == 200 and quote["price"] is None
    assert quote["errors"]["link"].startswith("That is not a valid link")
    assert quote["errors"]["quantity"].startswith("The quantity must be between")
    status, quote = await app_env.api(
        "POST", "quote", init, json={"service": 1, "values": {"link": LINK, "quantity": "1000"}}
    )
    assert quote["errors"] == {} and quote["price"] == "0.90 USD" and quote["enough"] is True
    status, bad = await app_env.api("POST", "draft", init, json={"service": 1, "values": {"link": LINK}})
    assert status == 400 and "quantity" in bad["errors"]


async def test_confirm_places_once_and_tells_the_chat(app_env: AppEnv) -> None:
    await app_env.link(101)
    app_env.person(101)
    init = app_env.init_data(101)
    draft = await _draft(app_env, init, link=LINK, quantity="1000")
    assert draft["price"] == "0.90 USD" and draft["after"] == "99.10 USD"
    mark = app_env.tg.mark()
    answers = await asyncio.gather(
        *(app_env.api("POST", "confirm", init, json={"token": draft["token"]}) for _ in range(3))
    )
    outcomes = sorted(body["outcome"] for _status, body in answers)
    assert outcomes == ["already", "already", "placed"]
    assert app_env.panel.count("add") == 1
    message = await app_env.tg.wait_for_bot_message(101, after=mark, timeout=10)
    assert "Order placed" in message["text"] and "#" in message["text"]
    await asyncio.sleep(0.3)
    placed = [m for m in app_env.tg.bot_messages(101) if "Order placed" in m.get("text", "")]
    assert len(placed) == 1  # one message however often Confirm was pressed

    status, listed = await app_env.api("GET", "orders", init)
    assert status == 200 and len(listed["orders"]) == 1
    order = listed["orders"][0]
    assert order["placement"] == "placed" and order["quantity"] == 1000
    # the panel delivers; a refresh through the chat's own domain function shows the progress
    app_env.panel.clock.advance(30 + 60)
    status, refreshed = await app_env.api("POST", f"orders/{order['id']}/refresh", init, json={})
    assert status == 200 and refreshed["kind"] == "ok", refreshed
    fresh = refreshed["order"]
    assert fresh["remains"] is not None and 0 < fresh["percent"] < 100
    assert fresh["delivered"] == 1000 - fresh["remains"]

    status, svg = await app_env.api("GET", "spend.svg", init)
    assert status == 200 and svg.startswith("<svg") and "0.90 USD" in svg


async def test_group_admin_orders_for_the_group(app_env: AppEnv) -> None:
    group = -100777
    for uid in (300, 301):
        app_env.tg.add_user(uid, f"U{uid}")
    app_env.tg.add_group(group, "Shop", admins=[300, 301])
    await app_env.link(group)
    init = app_env.init_data(301, start_param=f"g{group}")
    draft = await _draft(app_env, init, link=LINK, quantity="100")
    mark = app_env.tg.mark()
    status, body = await app_env.api("POST", "confirm", init, json={"token": draft["token"]})
    assert status == 200 and body["outcome"] == "placed"
    message = await app_env.tg.wait_for_bot_message(group, after=mark, timeout=10)
    assert "Order placed" in message["text"]
    # another user's draft token cannot be confirmed from a private chat
    other = app_env.init_data(301)
    draft2 = await _draft(app_env, init, link=LINK + "x", quantity="100")
    status, body = await app_env.api("POST", "confirm", other, json={"token": draft2["token"]})
    assert status == 404 and app_env.panel.count("add") == 1


async def test_security_headers(app_env: AppEnv) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(app_env.app_url + "/") as response:
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self' https://telegram.org" in csp
        assert "frame-ancestors" in csp and "'unsafe-inline'" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        page = await response.text()
        assert "<script>" not in page and "style=" not in page
        assert "telegram-web-app.js" not in page  # http on loopback: the test page never loads it


async def test_chat_offers_the_app(app_env: AppEnv) -> None:
    """/start shows a web_app button in a private chat, a startapp link in a group; the menu button opens
    the app; the emulator refuses web_app buttons in groups, as Telegram does."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo
    from telegram.error import BadRequest

    alice = await app_env.connected(101)
    await alice.say("/start")
    buttons = [b for row in alice.last["reply_markup"]["inline_keyboard"] for b in row]
    app = next(b for b in buttons if "Open app" in b["text"])
    assert app["web_app"]["url"] == app_env.settings.webapp_url
    menu = app_env.tg.menu_buttons[None]
    assert menu["type"] == "web_app" and menu["web_app"]["url"] == app_env.settings.webapp_url

    group = -100999
    app_env.tg.add_group(group, "Shop", admins=[101])
    await app_env.link(group)
    in_group = app_env.in_group(alice, group)
    await in_group.say("/start@" + app_env.tg.bot_user["username"])
    buttons = [b for row in in_group.last["reply_markup"]["inline_keyboard"] for b in row]
    link = next(b for b in buttons if "Open app" in b["text"])
    assert link["url"] == f"https://t.me/{app_env.tg.bot_user['username']}?startapp=g{group}"

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", web_app=WebAppInfo("https://e.com/app"))]])
    with pytest.raises(BadRequest, match=r"(?i)button_type_invalid"):
        await app_env.app.bot.send_message(group, "x", reply_markup=markup)
    with pytest.raises(BadRequest):
        await app_env.app.bot.set_chat_menu_button(group)


async def test_turkish_page_texts(app_env: AppEnv) -> None:
    await app_env.link(101)
    status, me = await app_env.api("GET", "me", app_env.init_data(101, user={"language_code": "tr"}))
    assert status == 200 and me["lang"] == "tr" and me["texts"]["catalog"] == "Katalog"
    status, quote = await app_env.api(
        "POST", "quote", app_env.init_data(101, user={"language_code": "tr"}),
        json={"service": 1, "values": {"link": "nope", "quantity": "1000"}},
    )  # fmt: skip
    assert "link" in quote["errors"] and not quote["errors"]["link"].startswith("That is not")


async def test_discarded_draft_cannot_be_confirmed(app_env: AppEnv) -> None:
    await app_env.link(101)
    init = app_env.init_data(101)
    draft = await _draft(app_env, init, link=LINK, quantity="1000")
    status, body = await app_env.api("POST", "discard", init, json={"token": draft["token"]})
    assert status == 200 and body["discarded"] is True
    status, body = await app_env.api("POST", "confirm", init, json={"token": draft["token"]})
    assert status == 404 and app_env.panel.count("add") == 0


async def test_rejected_order_in_the_dashboard(app_env: AppEnv) -> None:
    await app_env.link(101, key="demo-key-poor")  # 0.05 USD: the panel refuses the order
    init = app_env.init_data(101)
    draft = await _draft(app_env, init, link=LINK, quantity="1000")
    assert draft["enough"] is False
    status, body = await app_env.api("POST", "confirm", init, json={"token": draft["token"]})
    assert status == 200 and body["outcome"] == "rejected"
    assert body["message"] == "Not enough funds on the panel balance"
    status, listed = await app_env.api("GET", "orders", init, state="problems")
    (order,) = listed["orders"]
    assert order["status"] == "Rejected by the panel" and order["error"] and order["percent"] is None
    assert not order["can_cancel"] and not order["can_refill"]
