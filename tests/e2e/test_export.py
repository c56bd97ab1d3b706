"""/export: the chat's orders as a CSV document, read back with Python's csv module."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import select

from bot.export import COLUMNS, CsvBuilder
from storage import repo
from storage.models import Order, Placement
from tests.e2e.conftest import BotEnv, Person
from tests.e2e.test_orders import PLAIN, REFILL_AND_CANCEL, link, place_order_directly

TURKISH = "Türkçe Takipçi — Gerçek 🇹🇷 «İyi»"
USAGE = "I could not read that range"


async def export(person: Person, command: str = "/export") -> tuple[dict, list[dict[str, str]]]:
    """Send the command; return the document message and the CSV rows."""
    await person.say(command)
    message = person.last
    assert "document" in message, person.text
    content = person.tg.files[message["document"]["file_id"]]["content"]
    assert content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return message, list(reader)


def allow_again(env: BotEnv) -> None:
    """Forget when the chats last exported (one export per chat every 30 s), so a test may export again."""
    assert env.app is not None
    env.app.bot_data["export_stamps"].clear()


async def db_orders(env: BotEnv, chat_id: int) -> list[Order]:
    async with env.deps.sessions() as s:
        stmt = select(Order).where(Order.chat_id == chat_id, Order.placement != Placement.drafted)
        return list((await s.scalars(stmt.order_by(Order.id))).all())


async def add_draft_and_rejected(env: BotEnv, chat_id: int) -> None:
    async with env.deps.sessions() as s:
        account = await repo.accounts.get_default_account(s, chat_id)
        assert account is not None and account.id is not None
        made = [
            await repo.orders.create_draft(
                s,
                chat_id=chat_id,
                account_id=account.id,
                placed_by=chat_id,
                service_id=PLAIN,
                price=Decimal("0.0000001"),
                service_name='=HYPERLINK("http://evil")',
                link="@someone",
                quantity=100,
            )
            for _ in range(2)
        ]
        await s.commit()
        rejected = made[0]
        assert await repo.orders.claim_draft_for_sending(s, rejected.confirm_token)
        assert rejected.id is not None
        await repo.orders.mark_rejected(s, rejected.id, "Not enough funds")
        await s.commit()


async def set_created(env: BotEnv, order_id: int, when: datetime) -> None:
    async with env.deps.sessions() as s:
        order = await s.get(Order, order_id)
        assert order is not None
        order.created_at = when
        await s.commit()


async def test_export_round_trip(env: BotEnv) -> None:
    alice = await env.connected()
    await alice.say("/export")
    assert "No orders to export" in alice.text
    await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 1000)
    await place_order_directly(env, alice.chat_id, PLAIN, link(), 1500, service_name=TURKISH)
    await place_order_directly(env, alice.chat_id, 2, link(), 1)  # a package: flat price
    await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 777)
    await add_draft_and_rejected(env, alice.chat_id)

    message, rows = await export(alice)
    orders = await db_orders(env, alice.chat_id)
    assert len(rows) == len(orders) == 5  # the draft is left out, the rejected order is in
    assert [r["panel_order_id"] for r in rows] == [str(o.panel_order_id or "") for o in orders]
    # money as exact decimal text: the sums are the database's, to the last digit
    assert sum(Decimal(r["price"]) for r in rows) == sum(o.price for o in orders)
    assert sum(Decimal(r["charge"]) for r in rows if r["charge"]) == sum(o.charge or 0 for o in orders)
    assert [r["price"] for r in rows] == [format(o.price, "f") for o in orders]
    assert rows[-1]["price"] == "0.0000001"  # never in exponent form
    assert rows[1]["service_name"] == TURKISH
    first = orders[0]
    assert rows[0]["created_at"] == first.created_at.astimezone(UTC).isoformat(timespec="seconds")
    assert rows[0]["created_at"].endswith("+00:00")
    assert rows[0]["link"] == first.link and rows[0]["quantity"] == "1000"
    assert rows[0]["service_id"] == str(REFILL_AND_CANCEL) and rows[0]["currency"] == "USD"
    assert rows[0]["placement"] == "placed" and rows[0]["placed_by"] == str(alice.user_id)
    assert rows[0]["panel"] == env.panel.url.split("/")[2]
    assert rows[-1]["placement"] == "rejected" and rows[-1]["panel_order_id"] == ""
    # text a spreadsheet would run as a formula is defused
    assert rows[-1]["service_name"] == '\'=HYPERLINK("http://evil")' and rows[-1]["link"] == "'@someone"

    day = first.created_at.date().isoformat()
    assert message["document"]["file_name"] == f"orders-{alice.chat_id}-{day}-{day}.csv"
    assert message["document"]["mime_type"] == "text/csv"
    assert "5 orders" in message["caption"]

    # once per 30 s per chat
    await alice.say("/export")
    assert re.search(r"try again in \d+ s", alice.text)


async def test_date_ranges_and_bad_input(env: BotEnv) -> None:
    alice = await env.connected()
    old = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    november = await place_order_directly(env, alice.chat_id, PLAIN, link(), 100)
    recent = [await place_order_directly(env, alice.chat_id, PLAIN, link(), 200) for _ in range(2)]
    await set_created(env, old, datetime.now(UTC) - timedelta(days=40))
    await set_created(env, november, datetime(2024, 11, 30, 23, 59, 59, tzinfo=UTC))
    pids = {o.id: str(o.panel_order_id) for o in await db_orders(env, alice.chat_id)}

    for bad in ("yesterday", "2025-13-01", "2025-11-30 2025-11-01", "0d", "7d 30d", "2025-11-01 x", "1 2 3"):
        await alice.say(f"/export {bad}")
        assert USAGE in alice.text and "/export 7d" in alice.text, bad
    assert "document" not in alice.last

    _msg, rows = await export(alice, "/export 30d")  # the last 30 days
    assert [r["panel_order_id"] for r in rows] == [pids[i] for i in recent]
    allow_again(env)
    message, rows = await export(alice, "/export 2024-11-01 2024-11-30")  # both days included
    assert [r["panel_order_id"] for r in rows] == [pids[november]]
    assert message["document"]["file_name"] == f"orders-{alice.chat_id}-2024-11-01-2024-11-30.csv"
    assert "From 2024-11-01 to 2024-11-30" in message["caption"]
    allow_again(env)
    _msg, rows = await export(alice, "/export 2024-12-01")
    assert [r["panel_order_id"] for r in rows] == [pids[old], *(pids[i] for i in recent)]
    allow_again(env)
    await alice.say("/export 2023-01-01 2023-12-31")
    assert "No orders to export" in alice.text
    await alice.say("/export 90d")  # nothing was sent, so no pause either
    assert "document" in alice.last


async def test_group_members_export_and_long_histories(env: BotEnv) -> None:
    group = -1002000
    env.tg.add_group(group, "Shop", admins=[301], members=[302], supergroup=True)
    member = env.in_group(env.person(302, first_name="Max"), group)
    account_id = await env.link(group)
    async with env.deps.sessions() as s:  # a long history, read back in batches
        s.add_all(
            Order(
                chat_id=group,
                account_id=account_id,
                placed_by=301,
                confirm_token=f"t{i}",
                placement=Placement.placed,
                panel_order_id=100_000 + i,
                service_id=PLAIN,
                service_name=TURKISH,
                quantity=100 + i,
                price=Decimal("0.0123") * i,
                charge=Decimal("0.0123") * i,
                currency="USD",
                status="Completed",
            )
            for i in range(2_345)
        )
        await s.commit()
    _msg, rows = await export(member, "/export@smm_test_bot")
    assert len(rows) == 2_345
    assert [int(r["panel_order_id"]) for r in rows] == list(range(100_000, 102_345))
    assert sum(Decimal(r["charge"]) for r in rows) == sum(Decimal("0.0123") * i for i in range(2_345))
    assert all(r["service_name"] == TURKISH for r in rows)
    await member.say("/export@smm_test_bot")
    assert "try again in" in member.text  # the group's pause ...
    alice = await env.connected()
    await alice.say("/export")
    assert "No orders to export" in alice.text  # ... is not the private chat's; nor are its orders


def test_builder_stops_at_the_limit() -> None:
    """The row cap (100,000 in production) leaves out the rest and says so."""
    row = SimpleNamespace(
        id=1,
        created_at=datetime(2026, 1, 2, tzinfo=UTC),
        panel_order_id=7,
        placement="placed",
        status="Completed",
        service_id=1,
        service_name="+1 likes",
        link=None,
        quantity=None,
        price=Decimal("1.5"),
        charge=None,
        currency=None,
        start_count=None,
        remains=None,
        placed_by=5,
        panel_url="https://panel.example/api/v2",
    )
    builder = CsvBuilder(max_rows=3)
    builder.add([row] * 5)
    assert builder.rows == 3 and builder.truncated
    rows = list(csv.reader(io.StringIO(builder.content().decode("utf-8-sig"))))
    assert len(rows) == 4
    expected = "2026-01-02T00:00:00+00:00,7,placed,Completed,1,'+1 likes,,,1.5,,,,,5,panel.example"
    assert rows[1] == expected.split(",")
