"""The long-lived objects of one running bot, built once and handed to handlers and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.keyvault import KeyVault
from bot.leader import Leadership
from bot.panels import PanelHub
from bot.rate_limits import RateLimits
from storage.db import create_engine, make_session_factory


@dataclass
class Deps:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: KeyVault
    panels: PanelHub
    # the status tracker's last cycle (bot/tracking.py CycleReport) and when it ended, shown by /stats,
    # /healthz and /metrics: the job stores them with record_poll()
    leader: Leadership = None  # type: ignore[assignment]  # set in __post_init__
    last_poll: Any = None
    last_poll_at: datetime | None = None
    # per-user limits on expensive actions (in this process's memory), for the bot and the Mini App
    rate_limits: RateLimits = field(default_factory=RateLimits)

    def __post_init__(self) -> None:
        if self.leader is None:
            self.leader = Leadership(self.engine)

    def record_poll(self, report: Any) -> None:
        self.last_poll, self.last_poll_at = report, datetime.now(UTC)

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
            panels=PanelHub(
                vault,
                catalog_ttl=settings.catalog_ttl,
                max_catalogs=settings.catalog_cache_size,
                max_services=settings.max_services,
                public_only=settings.panel_public_only,
            ),
        )

    async def close(self) -> None:
        await self.leader.release()
        await self.engine.dispose()
