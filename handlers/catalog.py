"""Browsing and searching the catalog: `/services [text]` and the `svc:*` buttons. Everyone may browse.

Callback data (only numbers after the prefix, far under 64 bytes even with 19-digit service ids):
  svc:cats:<page>                      the categories
  svc:ref                              fetch the catalog again, then the first page of categories
  svc:cat:<category index>:<page>      one category's services
  svc:q:<page>                         a page of the search shown in this message (text: conversation notes)
  svc:s:<service id>:c:<ci>:<page>     a service's card; Back goes to that category page
  svc:s:<service id>:q:<page>          a service's card; Back goes to that page of the search
  svc:s:<service id>:f:0               a service's card from the favourites; Back goes to the first page
With several accounts linked, every one of these ends in `:a<account id>` (the account whose catalog it
shows; without it, the default account) and the pages name the account; the categories page offers the
other accounts' catalogs, and a card offers ⚖️ Compare across panels (handlers/compare.py). A card has the
⭐ Star button (handlers/favorites.py); the first page lists the account's favourites first.
The pages are pure functions of (translator, catalog, ...) so that they can be timed without Telegram
(tests/bench/search.py). The Catalog index makes a page a slice of a precomputed list.
"""

from __future__ import annotations

import re
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot.catalog import Catalog
from bot.conversation import NOTES
from bot.formatting import NAME_IN_CARD, name_in, shorten
from bot.i18n import Translator
from bot.panel import InvalidKey, PanelError, PanelUnavailable, ProtocolError, RateLimited, Service
from handlers.accounts import account_name, button_name, chat_accounts
from handlers.cards import service_card
from handlers.common import (
    Button,
    Context,
    Turn,
    command_args,
    esc,
    int_arg,
    money,
    parse_callback,
    turn,
)
from handlers.favorites import favourites, is_starred, star_button
from handlers.flow import state
from handlers.limits import must_wait
from storage.models import Account

CATS_PER_PAGE = 10
SERVICES_PER_PAGE = 10
LABEL_MAX = 40  # button labels; the list in the text and the card show whole names
NAME_MAX = 150  # a name in a list (keeps 10 long names far under 4096 characters)
QUERY_MAX = 100
SEARCHES_KEPT = 20  # search texts remembered per chat, by message id

Page = tuple[str, list[list[Button]]]
_ACCOUNT_PART = re.compile(r"^a(\d{1,12})$")


# ------------------------------------------------------------------------------------------------ pages


def label(text: str, limit: int = LABEL_MAX) -> str:
    """A button label: one line, at most `limit` characters (labels are plain text, not HTML)."""
    return shorten(text, limit, one_line=True) or "…"


def page_count(items: int, per_page: int) -> int:
    return max(1, -(-items // per_page))


def clamp_page(page: int, items: int, per_page: int) -> int:
    return min(max(page, 0), page_count(items, per_page) - 1)


def nav_row(_: Translator, prefix: str, page: int, pages: int) -> list[Button]:
    row: list[Button] = []
    if page > 0:
        row.append((_("◀️ Previous"), f"{prefix}:{page - 1}"))
    if page < pages - 1:
        row.append((_("Next ▶️"), f"{prefix}:{page + 1}"))
    return row


def service_lines(_: Translator, services: list[Service], currency: str | None) -> list[str]:
    lines = []
    for s in services:
        lines.append(f"<code>{s.id}</code> {name_in(s.name, NAME_MAX)}")
        lines.append(
            "    "
            + _(
                "{rate} per 1000 · {min}–{max}",
                rate=money(s.rate, currency),
                min=s.min if s.min is not None else "—",
                max=s.max if s.max is not None else "—",
            )
        )
    return lines


def render_categories(_: Translator, catalog: Catalog, page: int = 0, note: str | None = None) -> Page:
    cats = catalog.categories
    pages = page_count(len(cats), CATS_PER_PAGE)
    page = clamp_page(page, len(cats), CATS_PER_PAGE)
    lines = [note, ""] if note else []
    lines.append(
        _(
            "📂 <b>Services</b>: {services} in {categories} categories.",
            services=len(catalog.services),
            categories=len(cats),
        )
    )
    if pages > 1:
        lines.append(_("Page {page} of {pages}", page=page + 1, pages=pages))
    lines += ["", _("To search by name or id, type {example}", example="<code>/services tiktok views</code>")]
    if not cats:
        lines.append(_("The panel lists no services."))
    rows: list[list[Button]] = []
    first = page * CATS_PER_PAGE
    for ci in range(first, min(first + CATS_PER_PAGE, len(cats))):
        name = cats[ci]
        count = f" ({len(catalog.by_category[name])})"
        rows.append([(label(name, LABEL_MAX - len(count)) + count, f"svc:cat:{ci}:0")])
    rows.append(nav_row(_, "svc:cats", page, pages))
    rows.append([(_("🔄 Refresh"), "svc:ref")])
    return "\n".join(lines), rows


def render_category(
    _: Translator, catalog: Catalog, index: int, page: int = 0, currency: str | None = None
) -> Page | None:
    """A page of one category's services; None when there is no such category (the catalog changed)."""
    found = catalog.category(index)
    if found is None:
        return None
    name, services = found
    pages = page_count(len(services), SERVICES_PER_PAGE)
    page = clamp_page(page, len(services), SERVICES_PER_PAGE)
    shown = services[page * SERVICES_PER_PAGE : (page + 1) * SERVICES_PER_PAGE]
    lines = [
        f"📂 <b>{name_in(name, NAME_IN_CARD // 2)}</b>",
        _("{count} services · page {page} of {pages}", count=len(services), page=page + 1, pages=pages),
        "",
        *service_lines(_, shown, currency),
    ]
    rows: list[list[Button]] = [
        [(label(f"{s.id} · {s.name}"), f"svc:s:{s.id}:c:{index}:{page}")] for s in shown
    ]
    rows.append(nav_row(_, f"svc:cat:{index}", page, pages))
    rows.append([(_("⬅️ Categories"), f"svc:cats:{index // CATS_PER_PAGE}")])
    return "\n".join(lines), rows


def category_back(catalog: Catalog, service_id: int) -> str:
    """The callback data of the category page that lists a service."""
    where = catalog.locate(service_id)
    if where is None:
        return "svc:cats:0"
    ci, position = where
    return f"svc:cat:{ci}:{position // SERVICES_PER_PAGE}"


def render_card(_: Translator, service: Service, currency: str | None, back: str) -> Page:
    rows: list[list[Button]] = [
        [(_("🛒 Order"), f"ord:new:{service.id}")],
        [(_("⬅️ Back"), back)],
    ]
    return service_card(_, service, currency), rows


def render_results(
    _: Translator, query: str, results: list[Service], page: int = 0, currency: str | None = None
) -> Page:
    pages = page_count(len(results), SERVICES_PER_PAGE)
    page = clamp_page(page, len(results), SERVICES_PER_PAGE)
    shown = results[page * SERVICES_PER_PAGE : (page + 1) * SERVICES_PER_PAGE]
    lines = [
        _("🔎 {count} services match “{query}”", count=len(results), query=name_in(query)),
        _("Page {page} of {pages}", page=page + 1, pages=pages),
        "",
        *service_lines(_, shown, currency),
    ]
    rows: list[list[Button]] = [[(label(f"{s.id} · {s.name}"), f"svc:s:{s.id}:q:{page}")] for s in shown]
    rows.append(nav_row(_, "svc:q", page, pages))
    rows.append([(_("📂 Categories"), "svc:cats:0")])
    return "\n".join(lines), rows


def render_search(
    _: Translator, catalog: Catalog, query: str, page: int = 0, currency: str | None = None
) -> Page:
    """What `/services <query>` shows: the card of an exact id (or of the only match), a page of matches,
    or a hint when nothing matches."""
    digits = query.strip().lstrip("#")
    exact = catalog.get(int(digits)) if digits.isdecimal() and len(digits) < 19 else None  # not "²"
    results = [exact] if exact else catalog.find(query)
    if len(results) == 1:
        return render_card(_, results[0], currency, category_back(catalog, results[0].id))
    if not results:
        text = "\n".join(
            [
                _("Nothing matches “{query}”.", query=name_in(query)),
                _("Try fewer or other words, a service id, or browse the categories."),
            ]
        )
        return text, [[(_("📂 Categories"), "svc:cats:0")]]
    return render_results(_, query, results, page, currency)


# ----------------------------------------------------------------------------------------------- Telegram


def _connect_prompt(t: Turn) -> Page:
    text = _join(
        t._("Link your panel first."),
        t._("Once a panel API key is linked to this chat, its services can be browsed here."),
    )
    return text, [[(t._("🔗 Connect panel"), "acc:connect")]]


def _join(*lines: str) -> str:
    return "\n".join(lines)


def _failure(t: Turn, exc: PanelError, retry: str) -> Page:
    if isinstance(exc, InvalidKey):
        text = t._("The panel rejected the linked API key. An admin can link a new one.")
        return text, [[(t._("🔗 Connect panel"), "acc:connect")]]
    if isinstance(exc, PanelUnavailable | RateLimited | ProtocolError):
        text = t._("The panel is unreachable right now, try again in a minute.")
    else:
        text = t._("The panel answered with an error: {error}", error=esc(shorten(exc.message, NAME_IN_CARD)))
    return text, [[(t._("🔁 Try again"), retry)]]


async def _catalog(t: Turn, account: Account, retry: str, *, refresh: bool = False) -> Catalog | None:
    """The account's catalog (cached by PanelHub); on a panel error, explain it in place and give None."""
    assert account.id is not None
    if refresh or t.deps.panels.cached_catalog(account.id) is None:
        try:  # a fetch of thousands of services can take a moment: show "typing…"
            await t.context.bot.send_chat_action(t.chat_id, ChatAction.TYPING)
        except TelegramError:
            pass
    try:
        return await t.deps.panels.catalog(account, refresh=refresh)
    except PanelError as exc:
        await t.show(*_failure(t, exc, retry))
        return None


def _remember_search(t: Turn, message: Message | None, query: str) -> None:
    """Paging buttons only carry a page number: keep the search text per message (in the searcher's
    conversation notes, which outlive flows; a group's members may page through each other's results) and
    the last one (the fallback)."""
    notes = state().notes
    notes["svc_q"] = query
    if message is None:
        return
    kept: dict[str, str] = notes.setdefault("svc_qs", {})
    kept.pop(str(message.message_id), None)
    kept[str(message.message_id)] = query
    while len(kept) > SEARCHES_KEPT:
        kept.pop(next(iter(kept)))


def _search_of(t: Turn) -> str | None:
    conversation = state()
    message = t.query.message if t.query else None
    if message is not None:
        key = str(message.message_id)
        for data in [conversation.data, *(row.data or {} for row in conversation.others)]:
            found = data.get(NOTES, {}).get("svc_qs", {}).get(key)
            if found:
                return str(found)
    found = conversation.notes.get("svc_q")
    return str(found) if found else None


# ------------------------------------------------------------------------------------------- accounts


def split_account(parts: list[str]) -> tuple[list[str], int | None]:
    """The callback parts without a trailing `a<account id>`, and that id."""
    match = _ACCOUNT_PART.match(parts[-1]) if len(parts) > 2 else None
    return (parts[:-1], int(match.group(1))) if match else (parts, None)


def scoped(page: Page, account_id: int | None) -> Page:
    """The page's buttons bound to an account: `:a<id>` after svc: data, `:<id>` after ord:new:<service>."""
    if account_id is None:
        return page
    text, rows = page
    bound: list[list[Button]] = []
    for row in rows:
        new_row: list[Button] = []
        for caption, data in row:
            if data.startswith("svc:"):
                data = f"{data}:a{account_id}"
            elif data.startswith("ord:new:") and data.count(":") == 2:
                data = f"{data}:{account_id}"
            new_row.append((caption, data))
        bound.append(new_row)
    return text, bound


class View:
    """Whose catalog a page shows: the account, and the chat's accounts (several: pages name it)."""

    def __init__(self, account: Account, accounts: list[Account]) -> None:
        self.account, self.accounts = account, accounts
        self.several = len(accounts) > 1
        self.scope = account.id if self.several else None

    def suffix(self) -> str:
        return f":a{self.account.id}" if self.several else ""


async def _view(t: Turn, account_id: int | None) -> View | None:
    """The view of `account_id` (None: the default account); None when it is not (any more) linked."""
    accounts = await chat_accounts(t)
    if not accounts:
        return None
    account = next((a for a in accounts if a.id == account_id), None) if account_id else accounts[0]
    return View(account, accounts) if account is not None else None


async def _decorate(t: Turn, view: View, page: Page, *, first_page: bool = False) -> Page:
    """Name the account, bind the buttons to it, add the card's Star and Compare buttons, and, on the first
    page of the categories, the favourites and the other accounts' catalogs."""
    _ = t._
    text, rows = scoped(page, view.scope)
    aid = view.account.id or 0
    order = next((d for row in rows for _c, d in row if d.startswith("ord:new:")), None)
    if order is not None:  # a service card
        service_id = int_arg(parse_callback(order), 2)
        extra = [[star_button(_, service_id, aid, await is_starred(t, aid, service_id))]]
        if view.several:
            extra.append([(_("⚖️ Compare across panels"), f"cmp:{service_id}:{aid}")])
        rows = [rows[0], *extra, *rows[1:]]
    if first_page:
        starred = await favourites(t, view.account)
        if starred:
            lines = [_("⭐ <b>Favourites</b>"), *service_lines(_, starred, view.account.currency), "", ""]
            text = "\n".join(lines) + text
            fav_rows = [
                [(label(f"⭐ {s.id} · {s.name}"), f"svc:s:{s.id}:f:0{view.suffix()}")] for s in starred
            ]
            rows = [*fav_rows, *rows]
        others = [a for a in view.accounts if a.id != view.account.id]
        rows += [[(f"🔀 {button_name(a)}", f"svc:cats:0:a{a.id}")] for a in others]
    if view.several:
        text = _("🔗 Panel: {name}", name=f"<b>{name_in(account_name(view.account))}</b>") + "\n\n" + text
    return text, rows


# ------------------------------------------------------------------------------------------- handlers


async def services_command(update: Update, context: Context) -> None:
    t = await turn(update, context)
    query = " ".join(command_args(context)).strip()[:QUERY_MAX]
    view = await _view(t, None)
    if view is None:
        await t.show(*_connect_prompt(t))
        return
    account = view.account
    if query:
        state().notes["svc_q"] = query  # for the retry button if the panel fails now
    catalog = await _catalog(t, account, ("svc:q:0" if query else "svc:cats:0") + view.suffix())
    if catalog is None:
        return
    if not query:
        await t.show(*await _decorate(t, view, render_categories(t._, catalog), first_page=True))
        return
    page = render_search(t._, catalog, query, 0, account.currency)
    message = await t.show(*await _decorate(t, view, page))
    _remember_search(t, message, query)


async def on_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    assert t.query is not None
    data = t.query.data or ""
    parts, account_id = split_account(parse_callback(data))
    action = parts[1] if len(parts) > 1 else "cats"
    if action == "ref" and await must_wait(t, "catalog_refresh"):
        return
    await t.answer()  # early: a catalog fetch may take longer than the client waits for an answer
    view = await _view(t, account_id)
    _ = t._
    changed = _("The catalog has changed since this message; here it is again.")
    if view is None and account_id is not None:  # that account was unlinked: the default's catalog
        view, action, parts = await _view(t, None), "cats", ["svc", "cats", "0"]
    if view is None:
        await t.show(*_connect_prompt(t))
        return
    catalog = await _catalog(t, view.account, data, refresh=action == "ref")
    if catalog is None:
        return
    currency = view.account.currency
    page: Page | None = None
    first_page = False
    if action == "cat":
        page = render_category(_, catalog, int_arg(parts, 2, -1), int_arg(parts, 3), currency)
    elif action == "q":
        query = _search_of(t)
        if query:
            page = render_search(_, catalog, query, int_arg(parts, 2), currency)
            _remember_search(t, t.query.message if isinstance(t.query.message, Message) else None, query)
        else:
            forgotten = _("This search is no longer remembered: send {example} again.", example="/services …")
            page = render_categories(_, catalog, 0, note=forgotten)
    elif action == "s":
        service = catalog.get(int_arg(parts, 2, -1))
        if service is not None:
            page = render_card(_, service, currency, _card_back(catalog, service, parts))
    else:  # "cats", "ref"
        first_page = int_arg(parts, 2) <= 0
        page = render_categories(_, catalog, int_arg(parts, 2))
    if page is None:
        page, first_page = render_categories(_, catalog, 0, note=changed), True
    await t.show(*await _decorate(t, view, page, first_page=first_page))


def _card_back(catalog: Catalog, service: Service, parts: list[str]) -> str:
    """Back from a card goes where the card was opened from (kept in the card's own callback data)."""
    origin = parts[3] if len(parts) > 3 else ""
    if origin == "q":
        return f"svc:q:{int_arg(parts, 4)}"
    if origin == "c":
        return f"svc:cat:{int_arg(parts, 4)}:{int_arg(parts, 5)}"
    if origin == "f":
        return "svc:cats:0"
    return category_back(catalog, service.id)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("services", services_command))
    application.add_handler(CallbackQueryHandler(on_button, pattern=r"^svc:"))
