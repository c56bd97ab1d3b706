"""Settings: read once from the environment (and an optional `.env`) into one validated object.

Every variable of the table in design.md lives here. A bad value is reported as one line naming the
variable (see `load_settings`), never as a pydantic traceback.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.panel import public_url_problem

DEFAULT_PANEL_URL = "https://smpanelim.net/api/v2"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


def _check_http_url(value: str, name: str) -> str:
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = Field(default=None, alias="TELEGRAM_BOT_TOKEN")
    telegram_api_url: str = Field(default="https://api.telegram.org", alias="SMMBOT_TELEGRAM_API_URL")
    data_dir: Path = Field(default=Path("data"), alias="SMMBOT_DATA_DIR")
    database_url_override: str | None = Field(default=None, alias="SMMBOT_DATABASE_URL")
    panel_url: str = Field(default=DEFAULT_PANEL_URL, alias="SMMBOT_PANEL_URL")
    # NoDecode: comma-separated text, not JSON
    allowed_panels_raw: Annotated[str | None, NoDecode] = Field(default=None, alias="SMMBOT_ALLOWED_PANELS")
    secret_key: SecretStr | None = Field(default=None, alias="SMMBOT_SECRET_KEY")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(default=frozenset(), alias="SMMBOT_ADMIN_IDS")
    poll_interval: float = Field(default=60, gt=0, alias="SMMBOT_POLL_INTERVAL")
    balance_interval: float = Field(default=600, gt=0, alias="SMMBOT_BALANCE_INTERVAL")
    webhook_url: str | None = Field(default=None, alias="SMMBOT_WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, alias="SMMBOT_WEBHOOK_SECRET")
    listen: str | None = Field(default=None, alias="SMMBOT_LISTEN")
    # Limits against abuse (a chat links what it likes, a member presses what they like)
    max_accounts_per_chat: int = Field(default=10, ge=1, alias="SMMBOT_MAX_ACCOUNTS_PER_CHAT")
    max_services: int = Field(default=20_000, ge=1, alias="SMMBOT_MAX_SERVICES")
    catalog_cache_size: int = Field(default=50, ge=1, alias="SMMBOT_CATALOG_CACHE_SIZE")
    catalog_ttl: float = Field(default=600, gt=0, alias="SMMBOT_CATALOG_TTL")
    # The Mini App (bot/webapp/): its public URL, served by our aiohttp server; off when unset.
    webapp_url: str | None = Field(default=None, alias="SMMBOT_WEBAPP_URL")
    webapp_auth_max_age: float = Field(default=86_400, gt=0, alias="SMMBOT_WEBAPP_AUTH_MAX_AGE")

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        return _check_http_url(v, "SMMBOT_TELEGRAM_API_URL")

    @field_validator("panel_url")
    @classmethod
    def _panel_url(cls, v: str) -> str:
        return _check_http_url(v, "SMMBOT_PANEL_URL")

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        url = _check_http_url(v, "SMMBOT_WEBHOOK_URL")
        if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
            raise ValueError("SMMBOT_WEBHOOK_URL must use https (Telegram only calls https webhooks)")
        return url

    @field_validator("webapp_url")
    @classmethod
    def _webapp_url(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        url = _check_http_url(v, "SMMBOT_WEBAPP_URL")
        if not url.startswith("https://") and "127.0.0.1" not in url and "localhost" not in url:
            raise ValueError("SMMBOT_WEBAPP_URL must use https (Telegram opens Mini Apps over https only)")
        if urlsplit(url).path.rstrip("/") in ("", "/healthz", "/metrics"):
            raise ValueError("SMMBOT_WEBAPP_URL needs a path of its own, e.g. https://bot.example.com/app")
        return url

    @field_validator("database_url_override")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        if "://" not in v:
            raise ValueError(
                f"SMMBOT_DATABASE_URL must be an SQLAlchemy URL like postgresql+asyncpg://..., got {v!r}"
            )
        return v.strip()

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, v: object) -> frozenset[int]:
        if v is None or v == "":
            return frozenset()
        if isinstance(v, str):
            items = [p.strip() for p in v.replace(";", ",").split(",") if p.strip()]
            try:
                return frozenset(int(p) for p in items)
            except ValueError:
                raise ValueError(
                    f"SMMBOT_ADMIN_IDS must be comma-separated Telegram user ids, got {v!r}"
                ) from None
        return frozenset(v)  # type: ignore[arg-type]

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if not v or not v.strip():
            return None
        _host, sep, port = v.strip().rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"SMMBOT_LISTEN must be host:port, got {v!r}")
        return v.strip()

    @model_validator(mode="after")
    def _allowed_panels_valid(self) -> Settings:
        _ = self.listed_panels  # validates the list early
        return self

    @cached_property
    def listed_panels(self) -> tuple[str, ...]:
        """The panel URLs SMMBOT_ALLOWED_PANELS names (without `*`), the default panel first. Only these
        may be on loopback or private addresses, or use plain http."""
        items = [p.strip() for p in (self.allowed_panels_raw or "").split(",") if p.strip()]
        urls = [_check_http_url(p, "SMMBOT_ALLOWED_PANELS") for p in items if p != "*"]
        if self.panel_url not in urls:
            urls.insert(0, self.panel_url)
        return tuple(urls)

    @cached_property
    def allowed_panels(self) -> tuple[str, ...] | None:
        """Panel URLs chats may link; None means any public https panel (`*`, maybe beside listed URLs).
        The default panel is always allowed."""
        items = [p.strip() for p in (self.allowed_panels_raw or "").split(",")]
        return None if "*" in items else self.listed_panels

    def panel_allowed(self, url: str) -> bool:
        url = url.strip().rstrip("/")
        if url in self.listed_panels or (self.allowed_panels is not None and url in self.allowed_panels):
            return True
        return self.allowed_panels is None and public_url_problem(url) is None

    def panel_public_only(self, url: str) -> bool:
        """Whether connections to this panel must reach public addresses only: all but the listed ones."""
        return url.strip().rstrip("/") not in self.listed_panels

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite+aiosqlite:///{(self.data_dir / 'smmbot.db').resolve()}"

    @property
    def listen_host_port(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)  # all interfaces only when asked: 0.0.0.0


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else ""
        field = Settings.model_fields.get(name)
        var = (field.alias if field and field.alias else name) or "configuration"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        names_a_variable = var in msg or "SMMBOT_" in msg or "TELEGRAM_" in msg
        parts.append(msg if names_a_variable else f"{var}: {msg}")
    return "; ".join(parts)


def load_settings(**overrides: object) -> Settings:
    """Read the settings; raise ConfigError with one readable line on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    except ValueError as exc:  # raised while evaluating derived values
        raise ConfigError(str(exc)) from None
