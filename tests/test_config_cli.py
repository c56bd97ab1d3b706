"""Settings and the command line: bad values give one line naming the variable; `run` needs a token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import DEFAULT_PANEL_URL, ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SMMBOT_") or name == "TELEGRAM_BOT_TOKEN":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults(tmp_path: Path) -> None:
    s = load_settings()
    assert s.panel_url == DEFAULT_PANEL_URL
    assert s.allowed_panels == (DEFAULT_PANEL_URL,)
    assert s.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'data' / 'smmbot.db').resolve()}"
    assert s.poll_interval == 60 and s.balance_interval == 600
    assert s.admin_ids == frozenset() and s.webhook_url is None and s.listen_host_port is None


def test_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMMBOT_ADMIN_IDS", "5, 7")
    monkeypatch.setenv("SMMBOT_ALLOWED_PANELS", "https://a.example/api/v2, https://b.example/api/v2/")
    monkeypatch.setenv("SMMBOT_DATABASE_URL", "postgresql+asyncpg://u:p@db/smm")
    monkeypatch.setenv("SMMBOT_LISTEN", "0.0.0.0:8080")
    s = load_settings()
    assert s.admin_ids == frozenset({5, 7})
    assert s.allowed_panels == (DEFAULT_PANEL_URL, "https://a.example/api/v2", "https://b.example/api/v2")
    assert s.panel_allowed("https://b.example/api/v2/") and not s.panel_allowed("http://10.0.0.1/api/v2")
    assert s.database_url == "postgresql+asyncpg://u:p@db/smm"
    assert s.listen_host_port == ("0.0.0.0", 8080)


def test_any_panel_with_star(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMMBOT_ALLOWED_PANELS", "*")
    assert load_settings().panel_allowed("https://whatever.example/api/v2")


def test_star_allows_public_https_panels_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `*`, a chat may name any public https panel; loopback, private and link-local addresses, plain
    http and `user:pass@` only when the operator lists that exact URL."""
    monkeypatch.setenv("SMMBOT_ALLOWED_PANELS", "*, http://127.0.0.1:8081/api/v2")
    s = load_settings()
    assert s.allowed_panels is None
    assert s.listed_panels == (DEFAULT_PANEL_URL, "http://127.0.0.1:8081/api/v2")
    assert s.panel_allowed("https://panel.example/api/v2")
    assert s.panel_allowed("http://127.0.0.1:8081/api/v2/")  # listed
    for url in (
        "http://panel.example/api/v2",
        "https://u:p@panel.example/api/v2",
        "https://127.0.0.1:8081/api/v2",
        "http://127.0.0.1:8082/api/v2",
        "https://169.254.169.254/latest",
        "https://10.0.0.8/api/v2",
        "https://localhost/api/v2",
    ):
        assert not s.panel_allowed(url), url
    # connections to any panel but the listed ones go to public addresses only
    assert s.panel_public_only("https://panel.example/api/v2")
    assert not s.panel_public_only("http://127.0.0.1:8081/api/v2")
    assert not s.panel_public_only(DEFAULT_PANEL_URL)


def test_limits_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMMBOT_MAX_ACCOUNTS_PER_CHAT", "3")
    monkeypatch.setenv("SMMBOT_MAX_SERVICES", "500")
    monkeypatch.setenv("SMMBOT_CATALOG_CACHE_SIZE", "7")
    s = load_settings()
    assert (s.max_accounts_per_chat, s.max_services, s.catalog_cache_size) == (3, 500, 7)
    with pytest.raises(ConfigError, match="SMMBOT_MAX_ACCOUNTS_PER_CHAT"):
        load_settings(SMMBOT_MAX_ACCOUNTS_PER_CHAT="0")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMMBOT_POLL_INTERVAL", "soon"),
        ("SMMBOT_POLL_INTERVAL", "-1"),
        ("SMMBOT_PANEL_URL", "smpanel.net"),
        ("SMMBOT_ADMIN_IDS", "12,bob"),
        ("SMMBOT_ALLOWED_PANELS", "ftp://x"),
        ("SMMBOT_LISTEN", "8080"),
        ("SMMBOT_WEBHOOK_URL", "http://bot.example/hook"),
        ("SMMBOT_DATABASE_URL", "smm.db"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert name in message and "\n" not in message


def _smmbot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMMBOT_") and k != "TELEGRAM_BOT_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_run_without_token_explains_in_one_line(tmp_path: Path) -> None:
    result = _smmbot("run")
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_setting_stops_the_cli_in_one_line() -> None:
    result = _smmbot("migrate", env={"SMMBOT_BALANCE_INTERVAL": "often"})
    assert result.returncode == 2
    assert "SMMBOT_BALANCE_INTERVAL" in result.stderr and "Traceback" not in result.stderr


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    result = _smmbot("migrate", env={"SMMBOT_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "smmbot.db").exists()
