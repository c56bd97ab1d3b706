"""Panel keys at rest: encryption, the generated secret file, and no plain key in the database file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.keyvault import KeyDecryptError, KeyVault, SecretKeyError
from storage.db import create_engine, make_session_factory, migrate
from storage.repo import accounts, chats

PANEL_KEY = "3f9c2a7b1e8d4c6a9b0f2e1d7c5a3b8e"


def test_secret_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    vault = KeyVault.from_settings(None, data_dir)
    secret_file = data_dir / "secret.key"
    assert secret_file.exists()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    content = secret_file.read_bytes()
    token = vault.encrypt(PANEL_KEY)
    again = KeyVault.from_settings("", data_dir)  # empty setting = unset
    assert secret_file.read_bytes() == content
    assert again.decrypt(token) == PANEL_KEY
    assert again.fingerprint(PANEL_KEY) == vault.fingerprint(PANEL_KEY)


def test_loose_secret_file_permissions_are_tightened(tmp_path: Path) -> None:
    KeyVault.from_settings(None, tmp_path)
    (tmp_path / "secret.key").chmod(0o644)
    KeyVault.from_settings(None, tmp_path)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_configured_key_is_used_and_wrong_secret_is_a_clear_error(tmp_path: Path) -> None:
    secret = Fernet.generate_key().decode()
    vault = KeyVault.from_settings(secret, tmp_path)
    assert not (tmp_path / "secret.key").exists()
    token = vault.encrypt(PANEL_KEY)
    assert token != PANEL_KEY and PANEL_KEY not in token
    assert vault.decrypt(token) == PANEL_KEY
    other = KeyVault(Fernet.generate_key())
    with pytest.raises(KeyDecryptError, match="secret key"):
        other.decrypt(token)
    assert other.fingerprint(PANEL_KEY) != vault.fingerprint(PANEL_KEY)
    with pytest.raises(SecretKeyError, match="Fernet"):
        KeyVault.from_settings("not a key", tmp_path)


def test_fingerprint_and_repr_show_nothing_secret(tmp_path: Path) -> None:
    secret = Fernet.generate_key().decode()
    vault = KeyVault.from_settings(secret, tmp_path)
    fp = vault.fingerprint(PANEL_KEY)
    assert fp == vault.fingerprint(PANEL_KEY) and fp != vault.fingerprint(PANEL_KEY + "x")
    assert len(fp) == 32 and int(fp, 16) >= 0
    assert PANEL_KEY not in fp
    assert secret not in repr(vault) and secret not in str(vault)


class _Secret:
    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value


def test_accepts_a_secret_str(tmp_path: Path) -> None:
    secret = Fernet.generate_key().decode()
    assert KeyVault.from_settings(_Secret(secret), tmp_path).decrypt(KeyVault(secret).encrypt("k")) == "k"


def _raw_bytes(directory: Path) -> bytes:
    """The database file with its -wal (where a fresh commit lives) and -shm files."""
    assert (directory / "smmbot.db-wal").exists()
    return b"".join(p.read_bytes() for p in directory.glob("smmbot.db*"))


async def test_database_file_never_contains_the_plain_key(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'smmbot.db'}"
    await migrate(url)
    engine: AsyncEngine = create_engine(url)
    vault = KeyVault.from_settings(None, tmp_path)
    try:
        async with make_session_factory(engine)() as session:
            s: AsyncSession = session
            await chats.get_or_create_chat(s, 1)
            account = await accounts.add_account(
                s, 1, "https://panel.example/api/v2", vault.encrypt(PANEL_KEY), vault.fingerprint(PANEL_KEY)
            )
            await s.commit()
            raw = _raw_bytes(tmp_path)
            assert PANEL_KEY.encode() not in raw
            assert account.key_encrypted.encode() in raw  # what is there is the encrypted form
            stored = await accounts.get_account(s, account.id)  # type: ignore[arg-type]
            assert stored is not None and vault.decrypt(stored.key_encrypted) == PANEL_KEY
    finally:
        await engine.dispose()
