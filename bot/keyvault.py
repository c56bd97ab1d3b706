"""Encryption of panel API keys at rest.

The secret is `SMMBOT_SECRET_KEY` (a Fernet key) or, when unset, one generated once into
`<data dir>/secret.key` (mode 0600). Storage only ever sees the encrypted key and a keyed fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "secret.key"  # noqa: S105 (a file name, not a secret)
FINGERPRINT_HEX_CHARS = 32  # 128 bits: plenty to tell keys apart, short to store and compare
_GENERATE_HINT = (
    "generate one with: python -c "
    '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)


class SecretKeyError(ValueError):
    """The configured secret is not a usable Fernet key."""


class KeyDecryptError(ValueError):
    """A stored key cannot be decrypted: not the secret it was encrypted with (or damaged data)."""


def _validate(secret: str) -> bytes:
    raw = secret.strip().encode("ascii", "replace")
    try:
        decoded = base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        raise SecretKeyError(
            f"SMMBOT_SECRET_KEY is not a Fernet key (32 url-safe base64 bytes); {_GENERATE_HINT}"
        )
    return raw


def _secret_value(secret: Any) -> str | None:
    # Accept pydantic's SecretStr without importing pydantic.
    if secret is not None and hasattr(secret, "get_secret_value"):
        secret = secret.get_secret_value()
    return secret or None


def _load_or_create_secret_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: of two processes starting at once, one creates the file and the other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("secret key file %s was readable by others (mode %o); setting 0600", path, mode)
            path.chmod(0o600)
        content = path.read_text(encoding="ascii").strip()
        if not content:
            raise SecretKeyError(
                f"{path} is empty; delete it only if no keys were encrypted with it"
            ) from None
        return _validate(content)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("generated a new secret key in %s", path)
    return key


class KeyVault:
    """Encrypts and decrypts panel API keys; fingerprints them to spot the same key linked twice."""

    __slots__ = ("_fernet", "_fingerprint_key", "source")

    def __init__(self, secret: str | bytes, *, source: str = "given") -> None:
        raw = _validate(secret.decode("ascii") if isinstance(secret, bytes) else secret)
        self._fernet = Fernet(raw)
        # A separate key for fingerprints, derived from the secret: the same secret never serves two purposes.
        self._fingerprint_key = hmac.new(
            base64.urlsafe_b64decode(raw), b"smmbot/key-fingerprint/v1", hashlib.sha256
        ).digest()
        self.source = source

    @classmethod
    def from_settings(cls, secret_key: Any, data_dir: Path | str) -> KeyVault:
        """`secret_key` (str or SecretStr) when set, else `<data_dir>/secret.key`, created on first use."""
        secret = _secret_value(secret_key)
        if secret is not None:
            return cls(secret, source="SMMBOT_SECRET_KEY")
        path = Path(data_dir) / SECRET_FILE_NAME
        return cls(_load_or_create_secret_file(path), source=str(path))

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise KeyDecryptError(
                "cannot decrypt a stored panel key: the secret key (SMMBOT_SECRET_KEY or secret.key) is not "
                "the one it was encrypted with; restore that secret, or have the chat link its key again"
            ) from exc

    def fingerprint(self, plain: str) -> str:
        """A keyed hash (HMAC-SHA256, hex, truncated): equal for equal keys, useless without the secret."""
        digest = hmac.new(self._fingerprint_key, plain.encode("utf-8"), hashlib.sha256).hexdigest()
        return digest[:FINGERPRINT_HEX_CHARS]

    def __repr__(self) -> str:
        return f"<KeyVault from {self.source}>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("KeyVault cannot be pickled (it holds the secret)")
