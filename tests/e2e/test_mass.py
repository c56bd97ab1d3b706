"""/mass: lines in the command, in the next message or in a file; the summary with its problems and exact
total; Confirm places each valid line exactly once (twice pressed, or two presses racing) and reports them."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

import handlers.mass
from storage.models import Order
from tests.e2e.conftest import BotEnv, Person, plain

LINK = "https://instagram.com/p/mass"


async def rows(env: BotEnv) -> list[Order]:
    async with env.deps.sessions() as session:
        return list((await session.scalars(select(Order).order_by(Order.id))).all())


def texts(person: Person) -> list[str]:
    return [m.get("text", "") for m in person.tg.bot_messages(person.chat_id)]


async def wait_for(person: Person, snippet: str, timeout: float = 10) -> str:
    """The placement runs in the background: wait for its report."""
    for _ in range(int(timeout / 0.05)):
        found = [t for t in texts(person) if snippet in t]
        if found:
            await person.env.quiet()
            return plain(found[-1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"{snippet!r} never came; last: {person.text!r}")


def sent_files(env: BotEnv, chat_id: int) -> dict[str, bytes]:
    files = {}
    for message in env.tg.bot_messages(chat_id):
        if "document" in message:
            stored = env.tg.files[message["document"]["file_id"]]
            files[stored["file_name"]] = stored["content"]
    return files


def usd(amount: Decimal) -> str:
    return f"{amount.normalize():f} USD"


MIXED = "\n".join(
    [
        "service | link | quantity",
        f"1 | {LINK}/a | 100",
        "99999 | https://instagram.com/x | 100",
        "1 | instagram.com/nolink | 100",
        "1 | https://instagram.com/few | 10",
        "4 | https://instagram.com/comments | 10",
        f"18 ; {LINK}/b ; 1000",
        f"1\t{LINK}/c\t20000",
    ]
)


async def test_mixed_lines_summary_and_confirm(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/mass\n" + MIXED)
    summary = plain(alice.text)
    assert "Lines: 7 · to order: 2 · with problems: 5" in summary, summary
    for problem in [
        "line 3: no service with id 99999",
        "line 4: “instagram.com/nolink” is not a valid link",
        "line 5: quantity 10 is below the minimum 50",
        "line 6: service 4 (Custom Comments) needs extra fields; use /order",
        "line 8: quantity 20000 is above the maximum 10000",
    ]:
        assert problem in summary, (problem, summary)
    total = env.panel.charge_for(1, 100) + env.panel.charge_for(18, 1000)
    assert f"Total: {usd(total)}" in summary and total == Decimal("0.1025")
    assert f"Balance: 100.00 USD → {usd(100 - total)} after these orders" in summary
    assert "Not enough funds" not in summary
    assert alice.buttons() == ["✅ Confirm 2 orders", "✖️ Cancel"]
    assert env.panel.count("add") == 0

    await alice.press("Confirm 2 orders")
    report = await wait_for(alice, "Mass order: done")
    assert env.panel.count("add") == 2
    placed = [o for o in await rows(env) if o.placement == "placed"]
    assert sorted((o.service_id, o.link, o.quantity) for o in placed) == [
        (1, f"{LINK}/a", 100),
        (18, f"{LINK}/b", 1000),
    ]
    assert "✅ Placed: 2 · ⛔ Rejected: 0 · ❓ Unclear: 0" in report
    for order in placed:
        assert f"order {order.panel_order_id}" in report
    assert "line 2: ✅ order" in report and "line 7: ✅ order" in report
    assert f"Charged: {usd(total)}" in report and f"Balance now: {usd(100 - total)}" in report
    assert env.panel.balance_of(env.panel.DEFAULT_KEY) == 100 - total


async def test_confirm_twice_and_two_presses_racing_place_each_line_once(env: BotEnv) -> None:
    alice = await env.connected(101)
    lines = "\n".join(f"1|{LINK}/{i}|100" for i in range(6))
    await alice.say(f"/mass {lines}")
    summary = alice.last
    data = next(d for label, d in env.tg.buttons(summary) if "Confirm" in label)
    mark = env.tg.mark()
    env.tg.press_button(alice.chat_id, summary["message_id"], data, alice.user_id)
    env.tg.press_button(alice.chat_id, summary["message_id"], data, alice.user_id)
    await env.tg.wait_for_bot_message(alice.chat_id, after=mark, timeout=10)
    await wait_for(alice, "Mass order: done")
    assert env.panel.count("add") == 6
    assert {"Sending…", "Already confirmed"} <= set(alice.alerts())
    assert env.tg.buttons(env.tg.find_message(alice.chat_id, summary["message_id"])) == []
    await alice.press_data(data, message=summary)  # once more, long after
    assert alice.alerts()[-1] == "Already confirmed"
    assert env.panel.count("add") == 6
    assert [o.placement for o in await rows(env)] == ["placed"] * 6


async def test_ask_then_next_message_and_cancel(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/mass")
    assert "service id | link | quantity" in alice.text and alice.buttons() == ["✖️ Cancel"]
    await alice.say("abc | https://instagram.com/x | 100")
    assert "line 1: “abc” is not a service id" in alice.text
    assert "No line can be ordered" in alice.text  # still asking
    await alice.say(f"1|{LINK}|100\n1|{LINK}/2|200")
    assert "to order: 2" in plain(alice.text) and "Total: 0.27 USD" in plain(alice.text)
    await alice.press("Cancel")
    assert alice.text == "Mass order cancelled."
    assert await rows(env) == []  # the drafts are gone
    await alice.say("/mass")
    await alice.say("/cancel")
    assert alice.text == "Mass order cancelled."
    await alice.say("hello")  # the conversation is over: not taken as lines
    assert "Mass order" not in alice.text
    assert env.panel.count("add") == 0


async def test_csv_file_with_a_long_report(env: BotEnv) -> None:
    alice = await env.connected(101)
    body = "\r\n".join(f"18,https://tiktok.com/@a/video/{i},100" for i in range(60))
    data = ("\ufeffservice,link,quantity\r\n" + body + "\r\n").encode()
    await alice.send_file("orders.csv", data, caption="/mass")
    summary = plain(alice.text)
    assert "Lines: 60 · to order: 60 · with problems: 0" in summary
    assert f"Total: {usd(env.panel.charge_for(18, 100) * 60)}" in summary
    await alice.press("Confirm 60 orders")
    report = await wait_for(alice, "Mass order: done")
    assert env.panel.count("add") == 60
    assert "✅ Placed: 60" in report and "… and 20 more (see the file)" in report
    await env.quiet()
    (content,) = [c for n, c in sent_files(env, alice.chat_id).items() if n.endswith(".csv")]
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0] == ["line", "service", "link", "quantity", "outcome", "panel order id", "error"]
    assert [r[0] for r in table[1:]] == [str(n) for n in range(2, 62)]
    assert {r[4] for r in table[1:]} == {"placed"} and all(r[5] for r in table[1:])


async def test_file_after_the_prompt_and_refusals(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/mass")
    await alice.send_file("orders.xlsx", b"whatever")
    assert "Send the orders as a .txt or .csv file" in alice.text
    too_many = "\n".join(f"1|{LINK}/{i}|100" for i in range(501)).encode()
    await alice.send_file("orders.txt", too_many)
    summary = plain(alice.text)  # the first 500 lines are ordered, the rest is told so, without an apology
    assert "Lines: 501 · to order: 500 · with problems: 1" in summary
    assert "line 501: not read: at most 500 orders at once; send it with another /mass" in summary
    await alice.press("Cancel")
    assert "Mass order cancelled." in alice.text and not await rows(env)
    await alice.say("/mass")
    bad = "\n".join(f"1|{LINK}/{i}|{i}" for i in range(35))  # quantities under the minimum 50
    await alice.send_file("orders.txt", f"1|{LINK}|100\n{bad}\n".encode("utf-8-sig"))
    summary = plain(alice.text)
    assert "to order: 1 · with problems: 35" in summary and "line 31: quantity 29 is below" in summary
    assert "line 32:" not in summary and "… and 5 more (see the file)" in summary
    problems = sent_files(env, alice.chat_id)["problems.txt"].decode().splitlines()
    assert len(problems) == 35 and problems[-1] == "line 36: quantity 34 is below the minimum 50"
    assert await rows(env) and env.panel.count("add") == 0


async def test_insufficient_funds_warning_then_rejected_lines(env: BotEnv) -> None:
    alice = await env.connected(101, key="demo-key-poor")
    await alice.say(f"/mass\n18|{LINK}/cheap|1000\n1|{LINK}/dear|100")
    summary = plain(alice.text)
    assert "Total: 0.1025 USD" in summary and "Balance: 0.05 USD → -0.0525 USD" in summary
    assert "⚠️ Not enough funds on the panel balance for all of these orders." in summary
    await alice.press("Confirm 2 orders")
    report = await wait_for(alice, "Mass order: done")
    assert "✅ Placed: 1 · ⛔ Rejected: 1" in report
    assert "line 1: ✅ order" in report and "line 2: ⛔ Not enough funds on the panel balance" in report
    assert env.panel.count("add") == 2


async def test_a_line_the_panel_rejects_is_reported_and_the_others_are_placed(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say(f"/mass\n1|{LINK}/dup|100\n1|{LINK}/dup|200\n1|{LINK}/other|300")
    assert "to order: 3" in plain(alice.text)
    await alice.press("Confirm 3 orders")
    report = await wait_for(alice, "Mass order: done")
    assert env.panel.count("add") == 3
    assert "✅ Placed: 2 · ⛔ Rejected: 1" in report, report
    assert "There is already an active order for this link; wait until it completes" in report
    assert "line 3: ✅ order" in report
    placements = sorted(o.placement for o in await rows(env))
    assert placements == ["placed", "placed", "rejected"]


async def test_group_members_are_checked_on_entry_and_on_confirm(env: BotEnv) -> None:
    admin, member = env.person(301), env.person(302)
    env.tg.add_group(-500, "Shop", admins=[301], members=[302])
    await env.link(-500)
    boss, other = env.in_group(admin, -500), env.in_group(member, -500)
    await other.say(f"/mass 1|{LINK}|100")
    assert "Only the group's admins" in other.text
    await boss.say("/mass")
    prompt = boss.last
    markup = env.tg.extras[(-500, prompt["message_id"])]["reply_markup"]
    assert markup == {"force_reply": True, "selective": True}
    await boss.say(f"1|{LINK}|100", reply_to=prompt["message_id"])
    summary = boss.last
    assert "to order: 1" in plain(boss.text)
    await other.press("Confirm 1 order", message=summary)
    assert other.alerts()[-1] == (
        "This is someone else's order in progress: only they or an admin may confirm it."
    )
    assert env.panel.count("add") == 0
    await boss.press("Confirm 1 order", message=summary)
    await wait_for(boss, "Mass order: done")
    assert env.panel.count("add") == 1


async def test_summary_survives_a_restart(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say(f"/mass 1|{LINK}|100")
    await env.restart()
    await alice.press("Confirm 1 order")
    await wait_for(alice, "Mass order: done")
    assert env.panel.count("add") == 1


async def test_progress_and_unclear_lines(env: BotEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handlers.mass, "PROGRESS_SECONDS", 0)
    env.deps.panels._timeout = 0.5  # before any client of the account is made
    alice = await env.connected(101)
    env.panel.faults.latency = 0.02
    await alice.say("/mass\n" + "\n".join(f"18|{LINK}/{i}|100" for i in range(25)))
    await alice.press("Confirm 25 orders")
    await wait_for(alice, "Mass order: done")
    edits = [c.get("text", "") for c in env.tg.calls("editMessageText")]
    assert any("Placing the orders… 20 of 25" in e for e in edits), edits

    env.panel.faults.hang_actions = {"add"}
    await alice.say(f"/mass\n1|{LINK}/late1|100\n1|{LINK}/late2|100")
    await alice.press("Confirm 2 orders")  # the answers never come: the lines may or may not be placed
    report = await wait_for(alice, "❓ Unclear: 2")
    assert "line 1: ❓ unclear: check your panel's order list" in report
    assert env.panel.count("add") == 27  # sent once each, never retried
