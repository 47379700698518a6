"""Password hashing with scrypt (stdlib), plus a cache so BasicAuth does not pay the KDF per request.

scrypt costs ~50 ms on purpose; a client sending BasicAuth on every request would make that
the server's floor. Successful checks are remembered by a keyed digest of (login, password,
stored hash), so a password change or a wrong password never hits the cache.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    encoded = (base64.b64encode(part).decode() for part in (salt, digest))
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), *encoded])


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest_b64)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt_b64), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


class VerifiedCredentials:
    """Bounded LRU of credentials that verified, keyed by an HMAC so no password is kept."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._key = secrets.token_bytes(32)
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._max = max_entries

    def _digest(self, login: str, password: str, stored: str) -> bytes:
        return hmac.new(self._key, f"{login}\0{password}\0{stored}".encode(), hashlib.sha256).digest()

    def known(self, login: str, password: str, stored: str) -> bool:
        digest = self._digest(login, password, stored)
        if digest in self._seen:
            self._seen.move_to_end(digest)
            return True
        return False

    def remember(self, login: str, password: str, stored: str) -> None:
        self._seen[self._digest(login, password, stored)] = None
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
