"""Every kind of message the bot renders from panel texts passes the Bot API emulator's own checks.

Panel texts are generated: long (thousands of characters), unicode, astral emoji (2 UTF-16 units each), RTL,
`<`, `&`, tags and HTML entities, empty strings, numbers as strings. Each rendered text and keyboard goes
through `bot.sandbox.botapi_rules.validate_message`, the function the emulator's sendMessage and
editMessageText call. Texts sent through `Turn.show` are checked after `clip` (what show applies); texts
sent without it (notices from the outbox, the mass order report) are checked as rendered.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import mass, ordering
from bot.catalog import Catalog
from bot.formatting import ELLIPSIS, fit_html, label, name_in, shorten, utf16_len, visible_len
from bot.i18n import translator
from bot.notices import low_balance, order_changed, order_gone, order_stuck, refill_changed
from bot.panel import Balance, PanelError, Service
from bot.sandbox.botapi_rules import (
    MAX_CALLBACK_ANSWER,
    check_callback_answer,
    validate_message,
)
from bot.sandbox.botapi_text import parse_html
from handlers import catalog as catalog_pages
from handlers import mass_report as mass_flow
from handlers import order_steps as steps
from handlers.cards import order_card, service_card
from handlers.common import clip, keyboard
from handlers.orders import order_button
from storage.models import Account, Chat, Order, Placement, Refill

FRAGMENTS = [
    "<b>",
    "</b>",
    "<i>x</i>",
    "<script>alert(1)</script>",
    "<a href='https://x.test'>",
    "<br>",
    "&",
    "&amp;",
    "&lt;",
    "&#128512;",
    "&nbsp;",
    "&copy",
    "<",
    ">",
    "😀",
    "🇹🇷",
    "👍🏽",
    "مرحبا",
    "שלום",
    "\u202e",
    "\u200f",
    "\n",
    "\r\n",
    "   ",
    "",
    "12.5",
    "1e309",
    "-0",
    "NaN",
    '"',
    "'",
    "İı",
    "\t",
]
ASTRAL = "😀"

fragment = st.sampled_from(FRAGMENTS)
panel_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(fragment, st.text(max_size=12)), max_size=40).map("".join),
    st.tuples(st.sampled_from([*FRAGMENTS, "x", "Instagram Followers "]), st.integers(500, 6000)).map(
        lambda pair: pair[0] * pair[1]
    ),
    st.floats(allow_nan=True).map(str),
    st.integers(-(2**70), 2**70).map(str),
)
short_text = st.one_of(st.text(max_size=20), fragment)
language = st.sampled_from(["en", "tr"])
amount = st.one_of(st.none(), st.decimals(min_value=0, max_value=10**12, places=6))
count = st.one_of(st.none(), st.integers(0, 2**63 - 1))
placement = st.sampled_from(list(Placement))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def services(draw: st.DrawFn, sid: int | None = None) -> Service:
    return Service(
        id=sid if sid is not None else draw(st.integers(1, 10**12)),
        name=draw(panel_text),
        type=draw(st.one_of(st.sampled_from(["Default", "Package", "Custom Comments"]), panel_text)),
        category=draw(panel_text),
        rate=draw(amount),
        min=draw(st.one_of(st.none(), st.integers(0, 10**6))),
        max=draw(count),
        refill=draw(st.booleans()),
        cancel=draw(st.booleans()),
        dripfeed=draw(st.booleans()),
        description=draw(st.one_of(st.none(), panel_text)),
        average_time=draw(st.one_of(st.none(), panel_text)),
    )


@st.composite
def orders(draw: st.DrawFn) -> Order:
    return Order(
        id=draw(st.integers(1, 2**31)),
        chat_id=1,
        account_id=1,
        placed_by=1,
        confirm_token="t",
        placement=draw(placement).value,
        panel_order_id=draw(count),
        service_id=draw(st.integers(1, 10**12)),
        service_name=draw(panel_text),
        link=draw(st.one_of(st.none(), panel_text)),
        quantity=draw(count),
        price=draw(st.decimals(min_value=0, max_value=10**9, places=4)),
        currency=draw(st.one_of(st.none(), panel_text)),
        charge=draw(amount),
        start_count=draw(count),
        remains=draw(count),
        status=draw(
            st.one_of(st.none(), st.sampled_from(["Completed", "Partial", "In progress"]), panel_text)
        ),
        error=draw(st.one_of(st.none(), panel_text)),
        refill_allowed=draw(st.booleans()),
        cancel_allowed=draw(st.booleans()),
    )


def sendable(text: str, rows=()) -> str:
    """What sendMessage/editMessageText would say to `text` with these button rows: its plain text."""
    markup = keyboard(rows)
    return validate_message(text, markup.to_dict() if markup else None)


def shown(text: str, rows=()) -> str:
    """A message that goes through Turn.show (which fits it with `clip`)."""
    return sendable(clip(text), rows)


def notice_ok(notice) -> None:
    plain = validate_message(notice.text, {"inline_keyboard": notice.buttons})
    assert plain


# ---------------------------------------------------------------------------------------------- helpers


@given(
    text=st.lists(st.one_of(fragment, st.text(max_size=30)), max_size=400).map("".join),
    limit=st.integers(2, 5000),
)
@SETTINGS
def test_fit_html_never_breaks_markup_and_respects_the_limit(text: str, limit: int) -> None:
    html = "\n".join(
        f"<b>{name_in(line, 10_000)}</b> <i>{name_in(line, 10_000)}</i>" for line in text.split("\n")
    )
    fitted = fit_html(html, limit)
    plain, _ = parse_html(fitted)  # raises on a cut tag or entity
    assert utf16_len(plain) == visible_len(fitted) <= max(limit, 1)
    if visible_len(html) <= limit:
        assert fitted == html
    else:
        assert plain.endswith(ELLIPSIS)


@given(text=panel_text, limit=st.integers(1, 300))
@SETTINGS
def test_shorten_counts_utf16_and_marks_the_cut(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert utf16_len(short) <= max(limit, utf16_len(text) if utf16_len(text) <= limit else limit)
    assert short == text or short.endswith(ELLIPSIS)
    assert "\n" not in label(text) and label(text).strip()


def test_an_astral_emoji_is_never_split() -> None:
    assert shorten(ASTRAL * 10, 6) == ASTRAL * 2 + ELLIPSIS  # 2 + 2 + 1 units
    assert visible_len(fit_html(f"<b>{ASTRAL * 3000}</b>")) <= 4096
    check_callback_answer(shorten(ASTRAL * 300, MAX_CALLBACK_ANSWER))


# ---------------------------------------------------------------------------------------------- catalog


@given(service=services(), lang=language, currency=st.one_of(st.none(), panel_text))
@SETTINGS
def test_service_card(service: Service, lang: str, currency: str | None) -> None:
    _ = translator(lang)
    assert sendable(service_card(_, service, currency))  # within limits before any clipping
    text, rows = catalog_pages.render_card(_, service, currency, "svc:cats:0")
    shown(text, rows)


@given(
    listed=st.lists(services(), min_size=1, max_size=12, unique_by=lambda s: s.id),
    lang=language,
    query=panel_text,
    currency=st.one_of(st.none(), short_text),
)
@SETTINGS
def test_catalog_pages(listed: list[Service], lang: str, query: str, currency: str | None) -> None:
    _ = translator(lang)
    catalog = Catalog(listed)
    shown(*catalog_pages.render_categories(_, catalog))
    page = catalog_pages.render_category(_, catalog, 0, 0, currency)
    assert page is not None
    sendable(*page)
    sendable(*catalog_pages.render_results(_, query, listed, 0, currency))


# ---------------------------------------------------------------------------------------------- ordering


@given(
    service=services(),
    lang=language,
    account=st.one_of(st.none(), panel_text),
    link=panel_text,
    error=st.one_of(st.none(), panel_text),
    balance=amount,
    currency=st.one_of(st.none(), panel_text),
)
@SETTINGS
def test_order_prompt_and_summary(
    service: Service,
    lang: str,
    account: str | None,
    link: str,
    error: str | None,
    balance: Decimal | None,
    currency: str | None,
) -> None:
    _ = translator(lang)
    plan = ordering.plan_steps(service)
    draft = {"svc": steps.snapshot(service), "steps": plan, "i": 0, "v": {}, "d": {}, "an": account}
    for field in plan:
        shown(steps.prompt_text(_, draft, field, error), steps.prompt_buttons(_, draft, field))
    draft["v"] = {"link": link, "quantity": 100, "comments": [link, link]}
    price = ordering.price_for(service, {"quantity": 100})
    funds = Balance(balance, currency) if balance is not None else None
    text = steps.summary_text(_, draft, price, currency, funds, account)
    assert sendable(text, steps.summary_buttons(_, "A" * 12))  # within limits before any clipping
    shown(steps.rejection_reason(_, PanelError(panel_message=error), service))


@given(
    order=orders(),
    lang=language,
    account=st.one_of(st.none(), panel_text),
    refill=st.one_of(st.none(), panel_text),
)
@SETTINGS
def test_order_card(order: Order, lang: str, account: str | None, refill: str | None) -> None:
    _ = translator(lang)
    refills = [
        Refill(id=1, order_id=1, chat_id=1, requested_by=1, panel_refill_id=7, status=refill, error=refill)
    ]
    text, rows = order_card(_, order, refills, account)
    assert sendable(text, rows)
    assert sendable("Orders", [[order_button(order)]] * 10)  # a page of the /orders list's buttons


# ---------------------------------------------------------------------------------------------- notices


@given(
    order=orders(),
    lang=language,
    old=st.one_of(st.none(), panel_text),
    account=st.one_of(st.none(), panel_text),
)
@SETTINGS
def test_notices(order: Order, lang: str, old: str | None, account: str | None) -> None:
    chat = Chat(id=1, language=lang)
    notice_ok(order_changed(chat, order, old, account))
    notice_ok(order_gone(chat, order, old, account))
    notice_ok(order_stuck(chat, order, timedelta(hours=30), account))
    refill = Refill(id=1, order_id=1, chat_id=1, requested_by=1, panel_refill_id=None, status=old)
    notice_ok(refill_changed(chat, refill, order, old))
    low = Account(id=1, chat_id=1, panel_url="https://p.test/api/v2", key_encrypted="x", key_fingerprint="f")
    low.currency, low.last_balance = order.currency, order.charge
    chat.low_balance_threshold = Decimal(5)
    notice_ok(low_balance(chat, [low], {1: old or "host"}))


# ---------------------------------------------------------------------------------------------- mass


@given(
    lines=st.lists(st.tuples(panel_text, panel_text, panel_text), min_size=1, max_size=60),
    listed=st.lists(services(sid=1), min_size=1, max_size=1),
    lang=language,
    balance=amount,
    currency=st.one_of(st.none(), panel_text),
)
@SETTINGS
def test_mass_summary_and_report(
    lines: list[tuple[str, str, str]],
    listed: list[Service],
    lang: str,
    balance: Decimal | None,
    currency: str | None,
) -> None:
    _ = translator(lang)
    text = "\n".join(f"{a} | {b} | {c}" for a, b, c in lines) + "\n1 | https://x.test/a | 100"
    batch = mass.check_rows(mass.read_text(text), Catalog(listed))  # a verdict per line, never a crash
    funds = Balance(balance, currency) if balance is not None else None
    summary = mass_flow.summary_lines(_, batch, currency, funds)
    problems = [mass_flow.problem_line(_, p) for p in batch.problems]
    shown("\n".join([*summary, "", *problems]))
    rows = []
    for n, item in enumerate(batch.items, 1):
        rows.append(
            Order(
                chat_id=1,
                account_id=1,
                placed_by=1,
                confirm_token=f"~abcdefghi{item.number:06d}",
                placement=[Placement.placed, Placement.rejected, Placement.unclear][n % 3].value,
                panel_order_id=n,
                service_id=item.service.id,
                service_name=item.service.name,
                price=item.price or Decimal(0),
                currency=currency,
                link=item.values.get("link"),
            )
        )
    outcomes = [
        (o, "⛔", steps.rejection_reason(_, PanelError(panel_message=lines[0][0]), None)) for o in rows
    ]
    report, _file = mass_flow.report(_, rows, outcomes, funds)
    assert sendable(report)  # sent without clip
