"""Panels that cannot be abused, end to end: with SMMBOT_ALLOWED_PANELS=* only public https panels may be
linked (a listed loopback panel still may), a stored panel on a private address is never connected to, a
`user:pass@` part is never shown, a chat links at most SMMBOT_MAX_ACCOUNTS_PER_CHAT accounts, and the
catalog cache is bounded."""

from __future__ import annotations

from bot import export
from bot.sandbox.panel import PanelSimulator
from storage import repo
from tests.e2e.conftest import KEY, BotEnv


def allow_any_public_panel(env: BotEnv) -> None:
    """As if SMMBOT_ALLOWED_PANELS=*,<the simulator's URL> (a cached property, set as if configured)."""
    env.deps.settings.__dict__["allowed_panels"] = None


async def test_star_refuses_private_plain_http_and_userinfo_panels(env: BotEnv) -> None:
    allow_any_public_panel(env)
    alice = env.person(101)
    await alice.say("/connect")
    await alice.press("Another panel")
    host_port = env.panel.url.split("/")[2]
    for url in (
        f"http://{host_port}/other/api/v2",  # loopback, not the listed URL
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.7/api/v2",
        "https://localhost/api/v2",
        "http://panel.example.com/api/v2",
        "https://bob:secret@panel.example.com/api/v2",
    ):
        await alice.say(url)
        assert "only public panels over https" in alice.text, (url, alice.text)
    # the operator's listed (loopback) panel is still fine
    await alice.say(env.panel.url)
    assert "API key" in alice.text
    await alice.say(KEY)
    assert "Panel linked" in alice.recent_text()


async def test_an_address_with_a_password_is_deleted_first(env: BotEnv) -> None:
    """`user:pass@` carries a password: the message goes before the address is refused, as a key's would."""
    allow_any_public_panel(env)
    alice = env.person(101)
    for step in ("/connect https://bob:secret@panel.example.com/api/v2", "https://eve:pw@panel.example.com/x"):
        if not step.startswith("/"):
            await alice.say("/connect")
            await alice.press("Another panel")
        mark = env.tg.mark()
        sent = env.tg.send_text(101, 101, step)
        await env.quiet(mark)
        method, params = next(r for r in env.tg.requests[mark:] if r[0] != "getMe")
        assert sent is not None and method == "deleteMessage", (step, method)
        assert params["message_id"] == sent["message_id"]
        assert "only public panels over https" in alice.text or "not allowed" in alice.text, alice.text
    assert await repo_accounts(env, 101) == []


async def repo_accounts(env: BotEnv, chat_id: int) -> list:
    async with env.deps.sessions() as session:
        return await repo.accounts.list_accounts(session, chat_id)


async def test_a_stored_panel_on_a_private_address_is_never_reached(env: BotEnv) -> None:
    """A panel stored before the rules (or named by a host that now resolves inside) is refused at
    connection time: nothing reaches it, and the chat is told why."""
    allow_any_public_panel(env)
    other = PanelSimulator(seed=5)
    await other.start()
    try:
        by_name = other.url.replace("127.0.0.1", "localhost")  # a name resolving to loopback
        alice = env.person(102)
        await env.link(102, panel_url=by_name)
        await alice.say("/balance")
        assert "not allowed any more" in alice.text
        assert other.count("balance") == 0
    finally:
        await other.stop()


async def test_a_name_resolving_inside_is_refused_when_linking(env: BotEnv) -> None:
    """An allowed name that resolves to a loopback address (here "localhost"; in the wild a public-looking
    name pointing at 127.0.0.1 or 10.x) is refused when the key is checked: the panel is never reached."""
    other = PanelSimulator(seed=6)
    await other.start()
    try:
        by_name = other.url.replace("127.0.0.1", "localhost")
        # allowed by the list (as a name could be with `*`), but not one of the operator's listed URLs
        env.deps.settings.__dict__["allowed_panels"] = (env.panel.url, by_name)
        alice = env.person(107)
        await alice.say(f"/connect {by_name}")
        assert "API key" in alice.text
        await alice.say(KEY)
        assert "not on the public internet" in alice.text
        assert other.requests == []
        async with env.deps.sessions() as session:
            assert await repo.accounts.list_accounts(session, 107) == []
    finally:
        await other.stop()


async def test_userinfo_of_an_old_panel_is_never_shown(env: BotEnv) -> None:
    alice = env.person(103)
    with_userinfo = env.panel.url.replace("http://", "http://bob:hunter2@")
    await env.link(103, panel_url=with_userinfo)
    await alice.say("/accounts")
    assert env.panel.url.split("/")[2] in alice.text
    await alice.say("/balance")
    everything = " ".join(str(p.get("text", "")) + str(p.get("caption", "")) for _, p in env.tg.requests)
    assert "hunter2" not in everything and "bob:" not in everything
    # the CSV export's panel column, and the client's repr (logs)
    assert export.panel_host(with_userinfo) == env.panel.url.split("/")[2]
    assert "hunter2" not in repr(env.deps.panels.client_for_key(with_userinfo, KEY))


async def test_catalog_keeps_at_most_max_services(env: BotEnv) -> None:
    env.deps.panels.max_services = 120
    alice = await env.connected(106)
    await alice.say("/services")
    account = await _account_id(env, 106)
    catalog = env.deps.panels.cached_catalog(account)
    assert catalog is not None and len(catalog.services) == 120
    assert len(env.panel.catalog) > 120


async def test_accounts_per_chat_are_capped(env: BotEnv) -> None:
    env.deps.settings.max_accounts_per_chat = 2
    alice = env.person(104)
    await env.link(104, "k" * 20)
    await alice.say("/connect")
    assert "API key" in alice.text
    await alice.say(KEY)
    assert "Panel linked" in alice.recent_text()
    await alice.say("/connect")  # the chat is full: said before asking for a key
    assert "2 linked panels, the most a chat may have" in alice.text
    assert "API key" not in alice.text


async def test_catalog_cache_is_bounded_least_recently_used(env: BotEnv) -> None:
    hub = env.deps.panels
    hub.max_catalogs = 2
    people = [await env.connected(110 + i) for i in range(3)]
    accounts = []
    for person in people:
        await person.say("/services")
        accounts.append(await _account_id(env, person.chat_id))
    # three fetched, two kept: the first (least recently used) went
    assert hub.cached_catalog(accounts[0]) is None
    assert hub.cached_catalog(accounts[1]) is not None and hub.cached_catalog(accounts[2]) is not None
    fetches = env.panel.count("services")
    await people[1].say("/services")  # still cached: no new fetch
    assert env.panel.count("services") == fetches
    hub.catalog_ttl = 0.0  # every catalog has now expired
    await people[1].say("/services")
    assert env.panel.count("services") == fetches + 1


async def _account_id(env: BotEnv, chat_id: int) -> int:
    async with env.deps.sessions() as session:
        account = await repo.accounts.get_default_account(session, chat_id)
    assert account is not None and account.id is not None
    return account.id
