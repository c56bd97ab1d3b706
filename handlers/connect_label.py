"""The optional label step of /connect (handlers/connect.py): when the chat has several panels after
linking, the new one may get a short name (`acc:lkeep` keeps the default)."""

from __future__ import annotations

from telegram import Update

from handlers.accounts import account_name
from handlers.common import Context, Turn, esc, turn
from handlers.connect_group import admin_of
from handlers.connect_state import LABEL, connect_data
from handlers.flow import END
from handlers.start import main_buttons
from storage import repo
from storage.repo.accounts import LABEL_MAX


async def got_label(update: Update, context: Context) -> int:
    t = await turn(update, context)
    _ = t._
    state = connect_data()
    message = update.effective_message
    text = " ".join(((message.text if message else "") or "").split())
    if "label_for" not in state:
        await t.show(_("Please start again with /connect."), edit=False)
        return END
    if not text or len(text) > LABEL_MAX:
        note = _(
            "A name is one line of 1 to {max} characters. Send another, or keep the name.", max=LABEL_MAX
        )
        await t.show(esc(note), [[(_("✅ Keep this name"), "acc:lkeep")]], edit=False)
        return LABEL
    target = int(state.get("chat", t.chat_id))
    if target != t.chat_id and not await admin_of(context, target, t.user_id):
        state.clear()
        await t.show(_("Only the group's admins may link a panel for it."), edit=False)
        return END
    async with t.session() as session:
        account = await repo.accounts.rename_account(session, int(state["label_for"]), target, text)
        t.forget_accounts()
        await session.commit()
    return await named(t, target, account.label if account else None)


async def on_keep_label(update: Update, context: Context) -> int:
    t = await turn(update, context)
    await t.answer()
    state = connect_data()
    target = int(state.get("chat", t.chat_id))
    async with t.session() as session:
        account = await repo.accounts.get_account(session, int(state.get("label_for", 0)), target)
    return await named(t, target, account_name(account) if account else None)


async def named(t: Turn, target: int, name: str | None) -> int:
    connect_data().clear()
    if name is None:
        await t.show(t._("This panel is not linked any more."), edit=False)
        return END
    text = t._("✅ The panel is called <b>{name}</b>. /accounts lists the linked panels.", name=esc(name))
    await t.show(text, main_buttons(t, True) if target == t.chat_id else (), edit=False)
    return END
