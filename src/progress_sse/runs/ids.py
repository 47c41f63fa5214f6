"""Time-ordered run ids: newest-first listing and cursors are plain string order."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def new_run_id() -> str:
    """26 chars: 52 bits of microseconds since 1970, then 78 random bits.

    Microseconds (not a ULID's milliseconds) keep two runs started in quick
    succession in creation order without any shared counter.
    """
    value = (time.time_ns() // 1000 << 78) | secrets.randbits(78)
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))
