"""Who is who: Telegram's initData checked by the real server on loopback, and chat access (groups through
the Bot API emulator's getChatMember)."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.webapp.auth import AuthError, sign_init_data, verify_init_data
from tests.webapp.conftest import AppEnv

TOKEN = "123456:TEST-token"
GROUP = -100500


def test_known_vector_and_field_order() -> None:
    """Signed once, verified: the data-check-string sorts keys, so the order of the fields does not matter."""
    raw = sign_init_data(TOKEN, {"id": 7, "first_name": "Ann"}, start_param="g-1", auth_date=int(time.time()))
    reordered = urlencode(list(reversed(parse_qsl(raw))))
    user = verify_init_data(reordered, TOKEN, max_age=60)
    assert (user.id, user.first_name, user.start_param) == (7, "Ann", "g-1")


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda raw: raw.replace("Ann", "Bob"), "bad hash"),  # a field changed after signing
        (lambda raw: "&".join(p for p in raw.split("&") if not p.startswith("hash=")), "missing hash"),
        (lambda raw: "", "missing"),
        (lambda raw: raw + "&hash=00", "malformed"),  # two hashes
    ],
)
def test_forgeries_are_refused(mangle, reason: str) -> None:
    raw = sign_init_data(TOKEN, {"id": 7, "first_name": "Ann"})
    with pytest.raises(AuthError) as caught:
        verify_init_data(mangle(raw), TOKEN, max_age=60)
    assert caught.value.reason == reason


def test_another_bots_token_and_stale_date() -> None:
    raw = sign_init_data("999:other", {"id": 7})
    with pytest.raises(AuthError, match="bad hash"):
        verify_init_data(raw, TOKEN, max_age=60)
    old = sign_init_data(TOKEN, {"id": 7}, auth_date=int(time.time()) - 3601)
    with pytest.raises(AuthError, match="stale"):
        verify_init_data(old, TOKEN, max_age=3600)
    assert verify_init_data(old, TOKEN, max_age=7200).id == 7


async def test_server_checks_init_data(app_env: AppEnv) -> None:
    await app_env.link(101)
    good = app_env.init_data(101)
    status, me = await app_env.api("GET", "me", good)
    assert status == 200 and me["chat"]["id"] == 101 and len(me["accounts"]) == 1
    assert "key" not in str(me).lower().replace("key_", "")  # no key, not even encrypted, reaches the page

    status, body = await app_env.api("GET", "me", None)  # missing
    assert status == 401 and body["reason"] == "missing"
    status, body = await app_env.api("GET", "me", good.replace("User101", "User102"))  # bad hash
    assert status == 401 and body["reason"] == "bad hash"
    stale = app_env.init_data(101, auth_date=int(time.time()) - 2 * 86_400)
    status, body = await app_env.api("GET", "me", stale)
    assert status == 401 and body["reason"] == "stale"
    forged = sign_init_data("111:not-the-bot", {"id": 101})
    status, body = await app_env.api("GET", "catalog", forged)
    assert status == 401


async def test_another_users_chat_is_refused(app_env: AppEnv) -> None:
    await app_env.link(101)
    await app_env.link(102)
    status, body = await app_env.api("GET", "orders", app_env.init_data(102), chat="101")
    assert status == 403 and body["reason"] == "another user's chat"
    status, _ = await app_env.api("GET", "orders", app_env.init_data(101), chat="101")
    assert status == 200


async def test_group_only_for_its_admins(app_env: AppEnv) -> None:
    for uid, name in ((200, "Owner"), (201, "Admin"), (202, "Member")):
        app_env.tg.add_user(uid, name)
    app_env.tg.add_group(GROUP, "Shop", admins=[200, 201], members=[202])
    account = await app_env.link(GROUP)
    admin = app_env.init_data(201, start_param=f"g{GROUP}")
    member = app_env.init_data(202, start_param=f"g{GROUP}")

    status, me = await app_env.api("GET", "me", admin)
    assert status == 200 and me["chat"]["id"] == GROUP and me["accounts"][0]["id"] == account
    status, body = await app_env.api("GET", "me", member)
    assert status == 403 and body["reason"] == "not an admin"
    assert any(str(c.get("user_id")) == "202" for c in app_env.tg.calls("getChatMember"))

    # a write asks Telegram afresh: demoted a moment ago, refused now (reads may use the last minute's answer)
    app_env.tg.set_admin(GROUP, 201, False)
    status, body = await app_env.api("POST", "confirm", admin, json={"token": "nothing"})
    assert status == 403 and body["reason"] == "not an admin"


async def test_rate_limited_writes(app_env: AppEnv) -> None:
    await app_env.link(101)
    init = app_env.init_data(101)
    statuses = [(await app_env.api("POST", "confirm", init, json={"token": "x"}))[0] for _ in range(12)]
    assert statuses[:10] == [404] * 10  # no such draft: answered, and counted
    assert statuses[10:] == [429, 429]
