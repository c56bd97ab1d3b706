"""Tests of the push side: tracking, refills, stuck orders and low-balance alerts, asserted on the outbox.

No Telegram here: the cycles run against the panel simulator (frozen clock, moved by the tests together with
the `now` given to the cycles) and a database of each backend. `PushEnv` creates accounts and placed orders
directly (the placement flow has its own tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.alerts import BalanceReport, balance_cycle
from bot.config import load_settings
from bot.deps import Deps
from bot.panel import close_shared_session
from bot.sandbox.panel import PanelSimulator, SimClock
from bot.tracking import CycleReport, poll_cycle
from storage import repo
from storage.models import Account, Order, Outbox, Placement, Refill
from storage.repo.orders import new_confirm_token

SERVICE = 1  # Instagram Followers in the simulator's catalog: refill and cancel allowed, min 50
QUANTITY = 100


class PushEnv:
    def __init__(self, sim: PanelSimulator, deps: Deps) -> None:
        self.sim = sim
        self.deps = deps
        self._keys = 0

    # ---- time: the simulator's frozen clock and the cycles' `now` move together
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.sim.clock.now(), UTC)

    def advance(self, seconds: float) -> None:
        self.sim.clock.advance(seconds)

    async def cycle(self, **kwargs: Any) -> CycleReport:
        return await poll_cycle(self.deps, self.now(), **kwargs)

    async def balances(self) -> BalanceReport:
        return await balance_cycle(self.deps, self.now())

    # ---- data
    async def account(
        self,
        chat_id: int,
        *,
        sim: PanelSimulator | None = None,
        balance: str = "1000",
        threshold: Decimal | None = None,
        notifications: bool = True,
        language: str | None = None,
    ) -> tuple[Account, str]:
        """A chat with a linked account on a fresh simulator key; (account, key)."""
        sim = sim or self.sim
        settings = self.deps.settings
        if sim.url not in settings.listed_panels:  # as if the operator listed it (a loopback panel)
            settings.__dict__["listed_panels"] = (*settings.listed_panels, sim.url)
        self._keys += 1
        key = f"push-key-{chat_id}-{self._keys}"
        sim.add_key(key, balance, "USD")
        vault = self.deps.vault
        async with self.deps.sessions() as s:
            await repo.chats.get_or_create_chat(s, chat_id, "private" if chat_id > 0 else "group")
            await repo.chats.update_chat(
                s,
                chat_id,
                notifications_enabled=notifications,
                low_balance_threshold=threshold,
                language=language,
            )
            account = await repo.accounts.add_account(
                s, chat_id, sim.url, vault.encrypt(key), vault.fingerprint(key), currency="USD"
            )
            await s.commit()
        return account, key

    async def place(
        self,
        account: Account,
        key: str,
        n: int = 1,
        *,
        sim: PanelSimulator | None = None,
        panel_ids: list[int] | None = None,
        **columns: Any,
    ) -> list[Order]:
        """`n` orders placed at the simulator (without HTTP) and stored as placed, due now. With `panel_ids`
        the orders are only stored (ids the panel does not know)."""
        sim = sim or self.sim
        if panel_ids is None:
            panel_ids = []
            for i in range(n):
                answer = sim.process(
                    {
                        "key": key,
                        "action": "add",
                        "service": str(SERVICE),
                        "link": f"https://instagram.com/p/push{account.id}x{i}x{len(sim.orders)}",
                        "quantity": str(QUANTITY),
                    }
                )
                panel_ids.append(int(answer["order"]))
        now = self.now()
        values: dict[str, Any] = {
            "service_id": SERVICE,
            "service_name": "Instagram Followers",
            "link": "https://instagram.com/p/x",
            "quantity": QUANTITY,
            "price": Decimal("0.09"),
            "currency": "USD",
            "refill_allowed": True,
            "cancel_allowed": True,
        }
        values.update(columns)
        rows = [
            Order(
                chat_id=account.chat_id,
                account_id=account.id,  # type: ignore[arg-type]
                placed_by=1,
                confirm_token=new_confirm_token(),
                placement=Placement.placed,
                panel_order_id=pid,
                placed_at=now,
                next_poll_at=now,
                **values,
            )
            for pid in panel_ids
        ]
        async with self.deps.sessions() as s:
            s.add_all(rows)
            await s.commit()
        return rows

    async def refill(self, order: Order, panel_refill_id: int) -> Refill:
        async with self.deps.sessions() as s:
            refill = await repo.refills.create_refill(s, order.id, order.chat_id, 1)  # type: ignore[arg-type]
            placed = await repo.refills.mark_refill_placed(s, refill.id, panel_refill_id, self.now())  # type: ignore[arg-type]
            await s.commit()
        assert placed is not None
        return placed

    async def order(self, order_id: int | None) -> Order:
        async with self.deps.sessions() as s:
            row = await s.get(Order, order_id)
        assert row is not None
        return row

    async def outbox(self, chat_id: int | None = None) -> list[Outbox]:
        async with self.deps.sessions() as s:
            stmt = select(Outbox).order_by(Outbox.id)
            if chat_id is not None:
                stmt = stmt.where(Outbox.chat_id == chat_id)
            return list((await s.scalars(stmt)).all())

    async def unsent(self, chat_id: int | None = None) -> list[Outbox]:
        return [m for m in await self.outbox(chat_id) if m.sent_at is None and m.failed_at is None]


def callbacks(message: Outbox) -> list[str]:
    return [b.get("callback_data", "") for row in message.buttons or [] for b in row]


async def make_env(db_url: str, tmp_path: Path) -> AsyncIterator[PushEnv]:
    """The body of each test module's `push` fixture (`db_url`: a migrated database of each backend)."""
    sim = PanelSimulator(services=30, clock=SimClock(frozen=True))
    url = await sim.start()
    settings = load_settings(
        SMMBOT_DATA_DIR=str(tmp_path / "data"),
        SMMBOT_DATABASE_URL=db_url,
        SMMBOT_PANEL_URL=url,
        SMMBOT_ALLOWED_PANELS="*",
        SMMBOT_POLL_INTERVAL="60",
        SMMBOT_BALANCE_INTERVAL="600",
    )
    deps = Deps.from_settings(settings)
    try:
        yield PushEnv(sim, deps)
    finally:
        await close_shared_session()
        await deps.close()
        await sim.stop()
