"""The long-lived objects of one running bot, built once and handed to handlers and jobs."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.accounts import KeyVault
from bot.config import Settings
from bot.panels import PanelHub
from storage.db import create_engine, make_session_factory


@dataclass
class Deps:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: KeyVault
    panels: PanelHub

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        engine = create_engine(settings.database_url)
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        vault = KeyVault.from_settings(secret, settings.data_dir)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            vault=vault,
            panels=PanelHub(vault),
        )

    async def close(self) -> None:
        await self.engine.dispose()
