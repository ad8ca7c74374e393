"""Unguessable per-server links: an HMAC of the guild id under a secret from settings.

A token is ``<guild id in base 36>.<mac>``; the mac covers the page kind too, so a gallery
link cannot open the radio page. Rotating the secret revokes every link at once. Anything
that does not verify reads as "not found", so a probe learns nothing about which servers
exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Kind = Literal["radio", "gallery"]
_MAC_BYTES = 18  # 144 bits: far beyond guessing, still a short URL
_MAX_TOKEN = 80


class LinkSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("The web link secret must be at least 16 characters long.")
        self._key = secret.encode("utf-8")

    def _mac(self, kind: Kind, guild_id: int) -> str:
        digest = hmac.new(self._key, f"{kind}:{guild_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")

    def token(self, kind: Kind, guild_id: int) -> str:
        return f"{_base36(guild_id)}.{self._mac(kind, guild_id)}"

    def verify(self, kind: Kind, token: str) -> int | None:
        """The guild id the token was signed for, or ``None`` (never an exception)."""
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            return None
        head, mac = token.split(".")
        try:
            guild_id = int(head, 36)
        except ValueError:
            return None
        if guild_id <= 0 or guild_id >= 2**63 or head != _base36(guild_id):
            return None
        # Bytes: compare_digest refuses str with non-ASCII characters instead of saying no.
        expected = self._mac(kind, guild_id).encode()
        return guild_id if hmac.compare_digest(mac.encode("utf-8"), expected) else None


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


@dataclass(frozen=True)
class ServerLinks:
    radio: str
    gallery: str


class LinkMaker:
    """What the bot is handed: guild id -> its two absolute links."""

    def __init__(self, signer: LinkSigner, base_url: str) -> None:
        self._signer = signer
        self._base = base_url.rstrip("/")

    def __call__(self, guild_id: int) -> ServerLinks:
        return ServerLinks(
            radio=f"{self._base}/radio/{self._signer.token('radio', guild_id)}",
            gallery=f"{self._base}/g/{self._signer.token('gallery', guild_id)}",
        )
