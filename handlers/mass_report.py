"""What /mass shows (handlers/mass.py runs the flow): the summary of a batch before Confirm, with its
problem lines, and the report after placing it, with a CSV of every line when the message cannot hold
them all. Pure functions of the batch and the outcomes, so tests/test_render_rules.py checks the texts
without a bot.
"""

from __future__ import annotations

import html
from decimal import Decimal

from bot import mass
from bot.formatting import utf16_len
from bot.i18n import Translator
from bot.panel import Balance
from handlers.common import esc, money
from storage.models import Order, Placement

RESULTS_SHOWN = 40  # more lines than this: the full report also comes as a CSV file
BUDGET = 3800  # UTF-16 units of a summary or report, under Telegram's 4096 with room for the tail line


def fit(lines: list[str], more: str, hidden: int = 0, budget: int = BUDGET) -> tuple[str, int]:
    """Whole lines up to the budget; `hidden` lines were left out already. Returns the text, ending with
    `more` (its {n}: how many are not shown) when some are not, and that number."""
    size = 0
    for i, line in enumerate(lines):
        size += utf16_len(line) + 1  # the HTML source: never shorter than what Telegram counts
        if size > budget:
            hidden += len(lines) - i
            lines = lines[:i]
            break
    return "\n".join(lines + ([more.format(n=hidden)] if hidden else [])), hidden


def problem_line(_: Translator, p: mass.Problem) -> str:
    values = {k: esc(v) for k, v in p.values.items()}
    return _("line {n}: {problem}", n=p.number, problem=_(p.msgid, **values))


def summary_lines(
    _: Translator, batch: mass.Batch, currency: str | None, balance: Balance | None
) -> list[str]:
    total = batch.total
    lines = [
        _("📦 <b>Mass order</b>"),
        _(
            "Lines: {rows} · to order: {valid} · with problems: {bad}",
            rows=batch.rows,
            valid=len(batch.items),
            bad=len(batch.problems),
        ),
        _("Total: {total}", total="<b>" + money(total, currency) + "</b>"),
    ]
    if batch.unpriced:
        lines.append(_("({n} of these services have no rate: their price is not counted)", n=batch.unpriced))
    if balance is None:
        lines.append(_("Balance: {balance}", balance=_("unknown")))
        return lines
    after = balance.amount - total
    lines.append(
        _(
            "Balance: {balance} → {after} after these orders",
            balance=money(balance.amount, currency),
            after=money(after, currency),
        )
    )
    if after < 0:
        lines += ["", _("⚠️ Not enough funds on the panel balance for all of these orders.")]
    return lines


Outcome = tuple[Order, str, str]  # the line's order, its mark, why it was not placed ("" when it was)


def report(
    _: Translator, rows: list[Order], outcomes: list[Outcome], balance: Balance | None
) -> tuple[str, bytes | None]:
    """The report message, and a CSV of every line when the message cannot hold them all."""
    count = {p: sum(1 for o in rows if o.placement == p) for p in Placement}
    placed = [o for o in rows if o.placement == Placement.placed]
    currency = rows[0].currency if rows else None
    spent = sum(((o.charge if o.charge is not None else o.price) for o in placed), Decimal(0))
    lines = [
        _("📦 <b>Mass order: done</b>"),
        _(
            "✅ Placed: {placed} · ⛔ Rejected: {rejected} · ❓ Unclear: {unclear}",
            placed=count[Placement.placed],
            rejected=count[Placement.rejected],
            unclear=count[Placement.unclear] + count[Placement.sending],
        ),
        _("Charged: {amount}", amount=money(spent, currency)),
    ]
    if balance is not None:
        lines.append(_("Balance now: {balance}", balance=money(balance.amount, balance.currency or currency)))
    lines.append("")
    listed = []
    for order, mark, why in outcomes:
        what = _("order {id}", id=order.panel_order_id) if order.placement == Placement.placed else why
        listed.append(
            _("line {n}: {problem}", n=mass.line_of(order.confirm_token), problem=mark + " " + what)
        )
    more = _("… and {n} more (see the file)")
    text, hidden = fit(lines + listed[:RESULTS_SHOWN], more, max(0, len(listed) - RESULTS_SHOWN))
    if not hidden:
        return text, None
    header = ["line", "service", "link", "quantity", "outcome", "panel order id", "error"]
    table = [
        [
            mass.line_of(o.confirm_token),
            o.service_id,
            o.link,
            o.quantity,
            o.placement,
            o.panel_order_id,
            html.unescape(why),
        ]
        for o, _mark, why in outcomes
    ]
    return text, mass.to_csv(header, table)
