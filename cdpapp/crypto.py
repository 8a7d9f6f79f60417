"""Encryption at rest for secrets kept in the database (write keys, destination credentials).

Fernet (AES-128-CBC + HMAC-SHA256) from the `cryptography` package. Keys come from
FIELD_ENCRYPTION_KEYS (comma-separated, newest first, so old keys still decrypt while values are
re-encrypted with the newest).
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    """Encrypt `plaintext` with the newest key."""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt a value made by `encrypt` with any configured key."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("cannot decrypt: wrong FIELD_ENCRYPTION_KEYS or damaged value") from exc
