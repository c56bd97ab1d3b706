"""The text progress bar of order messages in the chat (bot/formatting.py, used by handlers/cards.py)."""

from __future__ import annotations

from decimal import Decimal

from bot.formatting import delivered, progress_bar, progress_percent
from bot.i18n import translator
from handlers.cards import order_card
from storage.models import Order, Placement


def test_bar() -> None:
    assert progress_bar(1000, 500) == "▓▓▓▓▓░░░░░ 50%"
    assert progress_bar(1000, 0) == "▓▓▓▓▓▓▓▓▓▓ 100%"
    assert progress_bar(1000, 1000) == "░░░░░░░░░░ 0%"
    assert progress_bar(1000, 1500) == "░░░░░░░░░░ 0%"  # panels report remains above the quantity
    assert progress_bar(3, 2) == "▓▓▓░░░░░░░ 33%"
    assert progress_bar(None, 5) is None and progress_bar(100, None) is None and progress_bar(0, 0) is None
    assert delivered(1000, 250) == 750 and progress_percent(1000, 250) == 75


def test_order_card_shows_the_bar() -> None:
    order = Order(
        id=5, chat_id=1, account_id=1, placed_by=1, confirm_token="t", placement=Placement.placed,
        panel_order_id=23501, service_id=1, service_name="Followers", quantity=1000, remains=300,
        start_count=10, status="In progress", price=Decimal("0.9"), currency="USD",
    )  # fmt: skip
    text, _buttons = order_card(translator("en"), order)
    assert "<code>▓▓▓▓▓▓▓░░░ 70%</code>" in text
    order.placement = Placement.unclear
    text, _buttons = order_card(translator("en"), order)
    assert "%" not in text


def test_status_notice_shows_the_bar() -> None:
    from bot.notices import order_changed

    order = Order(
        id=5, chat_id=1, account_id=1, placed_by=1, confirm_token="t", placement=Placement.placed,
        panel_order_id=23501, service_id=1, service_name="Followers", quantity=100, remains=80,
        status="In progress", price=Decimal("0.9"), currency="USD",
    )  # fmt: skip
    assert "<code>▓▓░░░░░░░░ 20%</code>" in order_changed(None, order, "Pending").text
