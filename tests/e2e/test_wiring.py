"""The Application starts against the emulator, publishes its menus and stops cleanly."""

from tests.e2e.conftest import BotEnv


async def test_starts_publishes_menus_and_restarts(env: BotEnv) -> None:
    await env.quiet()
    scopes = {(c["scope"]["type"], c.get("language_code")) for c in env.tg.calls("setMyCommands")}
    assert ("all_private_chats", None) in scopes
    assert ("all_private_chats", "tr") in scopes
    assert ("all_group_chats", None) in scopes
    await env.restart()
    await env.quiet()
    assert env.app is not None and env.app.running
