"""Notification texts: the chat's language for statuses, the panel named when the account has a label,
everything from the panel escaped."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from bot import notices
from storage.models import Chat, Order


def _order(**values: object) -> Order:
    base: dict[str, object] = {
        "id": 7,
        "chat_id": 1,
        "account_id": 3,
        "placed_by": 1,
        "confirm_token": "t",
        "placement": "placed",
        "panel_order_id": 23501,
        "service_id": 5,
        "service_name": "Likes <fast> & cheap",
        "price": Decimal("1"),
        "status": "Completed",
        "remains": 0,
        "link": "https://x.com/p/1",
        "refill_allowed": True,
    }
    base.update(values)
    return Order(**base)  # type: ignore[arg-type]


def test_change_names_the_panel_and_translates_the_status() -> None:
    turkish = Chat(id=1, language="tr")
    notice = notices.order_changed(turkish, _order(), "In progress", account="Main panel")
    assert "Tamamlandı" in notice.text and "In progress" not in notice.text
    assert "Main panel" in notice.text
    assert "Likes &lt;fast&gt; &amp; cheap" in notice.text
    assert any(b["callback_data"] == "o:fill:7" for row in notice.buttons for b in row)


def test_no_label_no_panel_line_and_english_by_default() -> None:
    notice = notices.order_changed(None, _order(status="Partial"), "In progress")
    assert "Partial" in notice.text and "Panel:" not in notice.text


def test_stuck_notice_counts_hours_in_both_languages() -> None:
    english = notices.order_stuck(Chat(id=1), _order(status="In progress"), timedelta(hours=13))
    assert "13 hours" in english.text
    turkish = notices.order_stuck(Chat(id=1, language="tr"), _order(status="In progress"), timedelta(hours=1))
    assert "1 saattir" in turkish.text
