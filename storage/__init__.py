"""Storage: SQLModel tables, the async engine and sessions, small repository functions, Alembic migrations.

Imports nothing from `bot/` or `handlers/`.

- `storage.db`: `create_engine(url)`, `make_session_factory(engine)`, `await migrate(url)`,
  `sqlite_url_for(data_dir)`.
- `storage.models`: the tables (`Chat`, `Account`, `Order`, `Refill`, `Outbox`, `Conversation`) and
  `Placement`.
- `storage.types`: `Money` (exact Decimal on both backends), `UTCDateTime` (always aware UTC), `utcnow()`.
- `storage.repo.<module>`: the repository functions.

Convention: repository functions take an `AsyncSession` as their first argument, flush, and do NOT commit;
the caller owns the transaction (`async with factory() as s, s.begin(): ...` or `await s.commit()`). The one
exception is `orders.claim_draft_for_sending`, which commits: the exactly-once protocol needs the `sending`
state durable before the panel is called. Money is `Decimal`, timestamps are aware UTC `datetime`s (naive ones
are refused).
"""
