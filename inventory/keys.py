"""Client ingestion keys: generated here, stored only as a SHA-256 hash with a short prefix.

A key is 32 random bytes, so a fast hash is enough: nobody can brute-force 256 bits, and the
lookup by hash stays one index probe on every ingest request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_MARKER = "chm_"
PREFIX_LENGTH = 12  # "chm_" + 8 visible characters


@dataclass(frozen=True)
class NewKey:
    raw: str
    prefix: str
    hashed: str


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_key() -> NewKey:
    raw = KEY_MARKER + secrets.token_urlsafe(32)
    return NewKey(raw=raw, prefix=raw[:PREFIX_LENGTH], hashed=hash_key(raw))


def key_matches(raw: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_key(raw), hashed)
