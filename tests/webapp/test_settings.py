"""SMMBOT_WEBAPP_URL and SMMBOT_WEBAPP_AUTH_MAX_AGE: validated at start, off when unset."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_webapp_url() -> None:
    assert load_settings(TELEGRAM_BOT_TOKEN="1:x").webapp_url is None  # off by default
    settings = load_settings(SMMBOT_WEBAPP_URL="https://bot.example.com/app/")
    assert settings.webapp_url == "https://bot.example.com/app" and settings.webapp_auth_max_age == 86_400
    assert load_settings(SMMBOT_WEBAPP_URL="http://127.0.0.1:8080/app").webapp_url  # the demo and tests
    with pytest.raises(ConfigError, match="SMMBOT_WEBAPP_URL must use https"):
        load_settings(SMMBOT_WEBAPP_URL="http://bot.example.com/app")
    with pytest.raises(ConfigError, match="needs a path of its own"):
        load_settings(SMMBOT_WEBAPP_URL="https://bot.example.com")
    with pytest.raises(ConfigError, match="SMMBOT_WEBAPP_AUTH_MAX_AGE"):
        load_settings(SMMBOT_WEBAPP_AUTH_MAX_AGE="0")
