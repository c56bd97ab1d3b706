"""/stats for operators (SMMBOT_ADMIN_IDS), in their private chat.

Anyone else, and /stats in a group, falls through to start.py's catch-all and gets the usual "I don't know
that command" answer: the command is not revealed. Registered BEFORE start in handlers/__init__.py.

Figures: chats, linked accounts, orders by placement and by panel status, the outbox, panel requests by
action since the process started (bot.panel.PANEL_METRICS), per-panel health from the clients of linked
accounts, the last status-poll cycle (deps.last_poll, stamped by bot.metrics' job listener) and the updates
handled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.i18n import Translator, lazy
from bot.metrics import PANEL_FAILURES, Metrics, panel_summary, poll_duration, poll_finished_at
from bot.panel import display_url
from handlers.common import Context, Turn, clip, esc, turn
from storage import repo

PLACEMENTS = {
    "placed": lazy("placed"),
    "unclear": lazy("unclear"),
    "rejected": lazy("rejected"),
    "sending": lazy("sending"),
    "drafted": lazy("drafts"),
}
MAX_ROWS = 12  # statuses, actions, panels: the busiest this many, so the message stays short


@dataclass
class _PanelRow:
    requests: int = 0
    failures: int = 0
    failed_at: float | None = None
    error: str = ""


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0%"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(_: Translator, seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return _("{n} s ago", n=seconds)
    if seconds < 7200:
        return _("{n} min ago", n=seconds // 60)
    return _("{n} h ago", n=seconds // 3600)


def _joined(items: list[str], _: Translator) -> str:
    return " · ".join(items) if items else _("none")


async def _database_lines(t: Turn) -> list[str]:
    _ = t._
    async with t.session() as s:
        chats = await repo.chats.count_chats(s)
        active = await repo.chats.count_chats(s, active_only=True)
        accounts = await repo.accounts.count_accounts(s, active_only=True)
        placements = await repo.orders.placement_counts(s)
        statuses = await repo.polls.status_counts(s)
        outbox = await repo.outbox.state_counts(s)
    by_placement = [
        f"{esc(_(label))} {placements[key]}" for key, label in PLACEMENTS.items() if placements.get(key)
    ]
    by_placement += [f"{esc(k)} {n}" for k, n in sorted(placements.items()) if k not in PLACEMENTS]
    top = sorted(statuses.items(), key=lambda kv: (-kv[1], str(kv[0])))
    no_status = esc(_("no status yet"))  # outside the f-string, where Babel can extract it
    by_status = [f"{esc(k) if k else no_status} {n}" for k, n in top[:MAX_ROWS]]
    return [
        _("Chats: <b>{total}</b> ({active} active)", total=chats, active=active),
        _("Linked accounts in active chats: <b>{n}</b>", n=accounts),
        _("Orders by placement: {items}", items=_joined(by_placement, _)),
        _("Placed orders by panel status: {items}", items=_joined(by_status, _)),
        _(
            "Notifications: {sent} sent · {pending} pending · {failed} failed",
            sent=outbox["sent"],
            pending=outbox["pending"],
            failed=outbox["failed"],
        ),
    ]


def _panel_lines(t: Turn) -> list[str]:
    _ = t._
    lines = [
        _("<b>Panel requests by action</b> since the start"),
        _("(failed: no usable answer; refused: the panel said no)"),
    ]
    summary = sorted(panel_summary().items(), key=lambda kv: -kv[1]["requests"])
    for action, row in summary[:MAX_ROWS]:
        lines.append(
            _(
                "{action}: {requests} · failed {failures} ({rate}) · refused {refusals}",
                action=esc(action),
                requests=row["requests"],
                failures=row["failures"],
                rate=_pct(row["failures"], row["requests"]),
                refusals=row["refusals"],
            )
        )
    if not summary:
        lines.append(_("No panel request yet."))
    # per panel: the clients of linked accounts, grouped by the panel's host
    panels: dict[str, _PanelRow] = {}
    for client in t.deps.panels.clients():
        panel = panels.setdefault(urlsplit(display_url(client.url)).netloc or client.url, _PanelRow())
        for (_action, outcome), n in client.stats.items():
            panel.requests += n
            panel.failures += n if outcome in PANEL_FAILURES else 0
        at = client.last_failure_at
        if at is not None and (panel.failed_at is None or at > panel.failed_at):
            panel.failed_at, panel.error = at, client.last_failure or ""
    if panels:
        lines.append(_("<b>Panels</b>"))
    now = time.time()
    for host, panel in sorted(panels.items(), key=lambda kv: -kv[1].requests)[:MAX_ROWS]:
        line = _(
            "<code>{host}</code>: {requests} requests, {rate} failed",
            host=esc(host),
            requests=panel.requests,
            rate=_pct(panel.failures, panel.requests),
        )
        if panel.failed_at is not None:
            error = esc(panel.error[:160])
            line += "\n   " + _(
                "last failure {ago}: {error}", ago=_ago(_, now - panel.failed_at), error=error
            )
        lines.append(line)
    return lines


def _poll_lines(t: Turn) -> list[str]:
    _ = t._
    report = t.deps.last_poll
    if report is None:
        return [_("Last poll cycle: no poll cycle yet.")]
    finished = poll_finished_at(t.deps)
    duration = poll_duration(report)
    head = _("Last poll cycle:")
    if finished is not None:
        head += " " + _("{when} ({ago})", when=_when(finished), ago=_ago(_, time.time() - finished))
    if duration is not None:
        head += " " + _("took {seconds} s", seconds=f"{duration:.2f}")

    def figure(name: str) -> int:
        return int(getattr(report, name, 0) or 0)

    details = _(
        "{orders} orders and {refills} refills due, {requests} requests, {changes} changes, "
        "{notices} notices, {failed} failed requests",
        orders=figure("due_orders"),
        refills=figure("due_refills"),
        requests=figure("requests"),
        changes=figure("changes"),
        notices=figure("notices"),
        failed=figure("failed_chunks"),
    )
    return [head, details]


async def cmd_stats(update: Update, context: Context) -> None:
    t = await turn(update, context)
    _ = t._
    metrics: Metrics = context.application.bot_data["metrics"]
    uptime = time.time() - metrics.started
    lines = [_("📊 <b>Bot statistics</b>"), ""]
    lines += await _database_lines(t)
    lines.append("")
    lines += _panel_lines(t)
    lines.append("")
    lines += _poll_lines(t)
    lines.append("")
    lines.append(
        _(
            "Updates handled since the start ({uptime}): {n}",
            uptime=_("{h} h {m} min", h=int(uptime // 3600), m=int(uptime % 3600 // 60)),
            n=metrics.updates_handled(),
        )
    )
    await t.show(clip("\n".join(lines)), edit=False)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    admins = application.bot_data["deps"].settings.admin_ids
    # filters.User with no ids matches nobody: without operators /stats is just an unknown command
    operators = filters.User(user_id=admins) & filters.ChatType.PRIVATE
    application.add_handler(CommandHandler("stats", cmd_stats, filters=operators))
