"""API tokens: random, shown once, stored only as a keyed SHA-256 hash.

A token has 256 bits of entropy, so a fast hash is enough (no password stretching); keying it with the
server secret (HMAC-SHA256) means a copied database alone does not let anyone test guessed tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "vlab_"
DISPLAY_PREFIX_CHARS = 12  # "vlab_" + 7 characters: enough to tell tokens apart in listings


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def display_prefix(token: str) -> str:
    return token[:DISPLAY_PREFIX_CHARS]
