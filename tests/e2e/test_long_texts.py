"""A panel whose texts break naive rendering: a 5,000-character service name full of tags, `<` and `&`,
astral emoji, a long category and description. Browsing, ordering and the order card all reach the chat
(the emulator refuses whatever Telegram would), with the name shortened on purpose."""

from __future__ import annotations

from bot.formatting import ELLIPSIS, NAME_IN_CARD
from tests.e2e.conftest import BotEnv
from tests.e2e.test_catalog import assert_within_limits
from tests.e2e.test_order import LINK, say_all

PIECE = "<b>Followers</b> & <i>likes</i> 😀 <script>x</script> &amp; a<b "
LONG_NAME = "Real " + PIECE * (5000 // len(PIECE))
START = "Real <b>Followers</b> & <i>likes</i> 😀"


async def test_a_5000_character_name_with_tags_from_card_to_order(env: BotEnv) -> None:
    assert len(LONG_NAME) >= 4900
    service = env.panel.catalog[0]
    service.update(
        name=LONG_NAME,
        category="<u>Insta</u> & Co 🇹🇷 " * 200,
        desc="<p>Good & fast</p><br>" * 400 + "<unclosed",
    )
    alice = await env.connected(101)
    mark = env.tg.mark()

    await alice.say("/services 1")  # the card of service 1
    card = alice.text
    assert card.startswith(START) and ELLIPSIS in card.split("\n")[0]
    assert len(card.split("\n")[0]) <= NAME_IN_CARD
    assert "Good & fast" in card and "<p>" not in card

    await alice.press("Order")
    await say_all(alice, [LINK, "100"])
    await alice.press("Skip (no drip-feed)")
    summary = alice.text
    assert "Order summary" in summary and START in summary and LONG_NAME not in summary

    await alice.press("Confirm")
    texts = [m.get("text", "") for m in alice.tg.bot_messages(alice.chat_id)]
    placed = next(t for t in reversed(texts) if "Order placed" in t or "Order #" in t)
    assert START in placed, placed
    assert env.panel.count("add") == 1

    await alice.say("/orders")
    assert "Followers" in alice.text and LONG_NAME not in alice.text
    await alice.press("Followers")  # the order's button opens its card
    assert START in alice.text and "Link: " + LINK in alice.text

    await alice.say("/services Followers")  # a page of matches lists the name shortened
    assert alice.last.get("text")
    assert_within_limits(env, mark)
