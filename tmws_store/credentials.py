"""Passwords, API keys and tokens: only hashes are stored, plaintexts are returned once.

Formats, as TMWS stores them (checked against TMWS's reference database):

- ``users.password_hash``: bcrypt, ``$2b$12$...``. TMWS's older accounts may hold the legacy
  ``salt:hexdigest`` form, where the digest is SHA-256 of ``salt + password``; it is accepted
  by ``verify_password`` (so those users can still log in) and never written:
  ``needs_rehash`` says when to replace it with bcrypt.
- ``api_keys``: ``key_id`` is 32 hex characters, ``key_prefix`` the first 8 characters of the
  key (shown to people to tell keys apart), ``key_hash`` the SHA-256 hex digest of the key.
- ``refresh_tokens``: ``token_id`` is 64 hex characters, ``token_hash`` the SHA-256 hex
  digest of the token.
- ``agents.api_key_hash`` and ``license_keys.license_key_hash``: SHA-256 hex digests.

API keys and tokens are 256-bit random strings, so a fast unsalted digest is safe for them;
passwords are chosen by people and get bcrypt. Every comparison runs in constant time.
bcrypt uses at most 72 bytes of a password: longer ones are refused with ``ValueError``
rather than silently cut (TMWS's bcrypt would not accept them either).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import bcrypt

__all__ = [
    "IssuedAPIKey",
    "IssuedToken",
    "hash_password",
    "hash_secret",
    "issue_api_key",
    "issue_token",
    "needs_rehash",
    "verify_api_key",
    "verify_password",
    "verify_secret",
]

API_KEY_PREFIX = "tmws_"
BCRYPT_ROUNDS = 12  # as TMWS ($2b$12$...)
_BCRYPT_MAX_BYTES = 72


def hash_secret(secret: str) -> str:
    """The SHA-256 hex digest TMWS stores for an API key, a token or a licence key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(secret: str, stored_hash: str) -> bool:
    """Whether ``secret`` matches a stored SHA-256 hex digest, in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash.lower())


# --- passwords ----------------------------------------------------------------------------


def _password_bytes(password: str) -> bytes:
    data = password.encode()
    if len(data) > _BCRYPT_MAX_BYTES:
        raise ValueError(
            f"password is {len(data)} bytes; bcrypt uses at most {_BCRYPT_MAX_BYTES}: "
            "choose a shorter one"
        )
    return data


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash (``$2b$...``) of ``password``, as TMWS stores in ``users.password_hash``."""
    return bcrypt.hashpw(_password_bytes(password), bcrypt.gensalt(rounds=rounds)).decode()


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (bcrypt, or TMWS's legacy ``salt:sha256``).

    Never raises for a malformed stored value: it simply does not match.
    """
    try:
        data = _password_bytes(password)
    except ValueError:
        return False
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            return bcrypt.checkpw(data, stored.encode())
        except ValueError:
            return False
    salt, sep, digest = stored.partition(":")
    if not sep or len(digest) != 64:
        return False
    expected = hashlib.sha256((salt + password).encode()).hexdigest()
    return hmac.compare_digest(expected, digest.lower())


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` is the legacy form: hash the password again with bcrypt."""
    return not stored.startswith(("$2a$", "$2b$", "$2y$"))


# --- API keys and tokens ------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedAPIKey:
    """A new API key: ``key`` is the plaintext, shown once; the rest goes into ``api_keys``."""

    key: str
    key_id: str
    key_prefix: str
    key_hash: str

    def __repr__(self) -> str:  # keep the plaintext out of logs and tracebacks
        return f"IssuedAPIKey(key_id={self.key_id!r}, key_prefix={self.key_prefix!r})"


def issue_api_key() -> IssuedAPIKey:
    """Make a new API key. Store ``key_id``, ``key_prefix`` and ``key_hash``; hand out ``key``."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return IssuedAPIKey(
        key=key, key_id=secrets.token_hex(16), key_prefix=key[:8], key_hash=hash_secret(key)
    )


def verify_api_key(key: str, key_hash: str) -> bool:
    """Whether ``key`` is the key whose ``key_hash`` is stored, in constant time."""
    return verify_secret(key, key_hash)


@dataclass(frozen=True)
class IssuedToken:
    """A new refresh token: ``token`` is the plaintext, shown once."""

    token: str
    token_id: str
    token_hash: str

    def __repr__(self) -> str:
        return f"IssuedToken(token_id={self.token_id!r})"


def issue_token() -> IssuedToken:
    """Make a new refresh token. Store ``token_id`` and ``token_hash``; hand out ``token``."""
    token = secrets.token_urlsafe(48)
    return IssuedToken(token=token, token_id=secrets.token_hex(32), token_hash=hash_secret(token))
