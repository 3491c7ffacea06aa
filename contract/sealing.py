"""Encryption at rest for everything personal Rahnuma keeps (addresses, queued text, reports).

``RAHNUMA_DATA_KEY`` holds one or more Fernet keys, comma-separated: the
first encrypts, all decrypt, so keys can be rotated (``rotate`` re-seals a
value with the first key). Fernet is authenticated encryption from
``cryptography``; nothing here is hand-made cryptography.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken", "Sealer"]


class Sealer:
    """Encrypts small values at rest; several keys allow rotation (the first encrypts)."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys.split(",")])

    def seal(self, value: str) -> bytes:
        """The encrypted form of ``value``."""
        return self._fernet.encrypt(value.encode("utf-8"))

    def open(self, token: bytes) -> str:
        """The value sealed in ``token``; raises ``InvalidToken`` if it was not ours."""
        return self._fernet.decrypt(token).decode("utf-8")

    def rotate(self, token: bytes) -> bytes:
        """``token`` sealed again with the first key (after a key rotation)."""
        return self._fernet.rotate(token)
