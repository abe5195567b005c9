"""Passwords, API keys and tokens: only hashes are stored; plaintexts are handed out once.

Each helper writes exactly what TMWS 2.4.18 writes into the column it names, so that TMWS
itself can check what tmws_store stores (and the other way round). The formats come from
TMWS's source (apto-as/multi-agent-system), not from the sample rows of the reference
database, whose hash columns hold placeholders that TMWS could not check (see below).

- ``users.password_hash``: bcrypt, ``$2b$12$...`` (TMWS hashes with passlib's bcrypt).
- ``agents.api_key_hash``: bcrypt of a ``tmws_...`` key. Older agents keep the legacy form
  ``salt:hexdigest``, the SHA-256 of ``key + salt`` with a 64-hex salt, which TMWS still
  accepts. (Older TMWS hashed passwords the same way but kept the salt in a
  ``password_salt`` column, which 2.4.18 no longer has.)
- ``api_keys``: ``key_id`` is a public id (``secrets.token_urlsafe(16)``, 22 characters),
  ``key_prefix`` the first 8 characters of the secret (for people to tell keys apart),
  ``key_hash`` bcrypt of the secret. The client is given ``key_id.secret``.
- ``refresh_tokens``: ``token_id`` is a public id (``secrets.token_urlsafe(32)``,
  43 characters), ``token_hash`` bcrypt of the secret. The client is given
  ``token_id.secret``.
- ``license_keys.license_key_hash``: SHA-256 hex digest of the licence key. TMWS checks a
  licence by its HMAC signature; the digest is only a record of which key was issued.

The reference database's sample rows hold 64-hex digests in ``api_keys.key_hash``,
``refresh_tokens.token_hash`` and ``agents.api_key_hash``: TMWS's own checks (passlib for the
first two, ``detect_hash_format`` for the third) reject those, so they are placeholders, not
a format to copy. The helpers here reject them too, without raising.

bcrypt reads at most 72 bytes. Hashing refuses longer input with ``ValueError`` instead of
cutting it silently, so a hash made here always covers the whole secret. Checking cuts the
candidate at 72 bytes, as TMWS's passlib did when it made its hashes: otherwise TMWS users
with longer passwords, and every refresh token TMWS issued (86 characters), could never be
checked here.

Every comparison runs in constant time: bcrypt's own check for bcrypt hashes,
``hmac.compare_digest`` for the SHA-256 forms.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import bcrypt

__all__ = [
    "BCRYPT_MAX_BYTES",
    "BCRYPT_ROUNDS",
    "IssuedAPIKey",
    "IssuedAgentKey",
    "IssuedRefreshToken",
    "hash_license_key",
    "hash_password",
    "issue_agent_api_key",
    "issue_api_key",
    "issue_refresh_token",
    "needs_rehash",
    "split_api_key",
    "split_refresh_token",
    "verify_agent_api_key",
    "verify_api_key",
    "verify_license_key",
    "verify_password",
    "verify_refresh_token",
]

BCRYPT_ROUNDS = 12  # passlib's default cost, so TMWS's hashes and ours cost the same
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt < 5) or refuses (bcrypt >= 5) anything beyond

# The idents bcrypt can check. TMWS's detect_hash_format knows 2a and 2b; we write 2b only.
_BCRYPT_IDENTS = ("$2a$", "$2b$", "$2y$")
_AGENT_KEY_PREFIX = "tmws_"  # TMWS's generate_api_key() marks agent keys this way
_PUBLIC_ID_SEPARATOR = "."  # key_id.secret / token_id.secret, as TMWS splits them


# --- passwords ------------------------------------------------------------------------------


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """Hash a password for ``users.password_hash``: bcrypt, ``$2b$12$...`` by default.

    ``rounds`` is bcrypt's cost (each step doubles the work); tests pass a low one. Raises
    ``ValueError`` for an empty password (TMWS refuses those too) and for one longer than
    72 bytes in UTF-8 (see the module docstring).
    """
    return _bcrypt_hash(password, rounds)


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``: a bcrypt hash or TMWS's legacy ``salt:sha256``.

    Never raises: a stored value in any other form, a corrupt one or ``None`` simply does
    not match, and neither does an empty password.
    """
    if not isinstance(password, str) or not isinstance(stored, str) or not password:
        return False
    if stored.startswith(_BCRYPT_IDENTS):
        return _bcrypt_check(password, stored)
    return _legacy_check(password, stored)


def needs_rehash(stored: str, *, rounds: int = BCRYPT_ROUNDS) -> bool:
    """Whether ``stored`` should be replaced by a fresh hash at the next successful login.

    True for the legacy ``salt:sha256`` form, for bcrypt idents other than ``$2b$`` and for
    a bcrypt cost below ``rounds``; False for a current ``$2b$`` hash.
    """
    if not stored.startswith("$2b$"):
        return True
    cost = stored[4:6]
    return not (cost.isdigit() and int(cost) >= rounds)


# --- agents.api_key_hash --------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IssuedAgentKey:
    """A new agent API key. Give ``key`` to the agent once; store ``api_key_hash``."""

    key: str
    api_key_hash: str

    def __repr__(self) -> str:  # the plaintext must not reach logs or tracebacks
        return "IssuedAgentKey(key=<hidden>)"


def issue_agent_api_key(*, rounds: int = BCRYPT_ROUNDS) -> IssuedAgentKey:
    """Make a key for ``agents.api_key_hash``: ``tmws_`` + 256 random bits, bcrypt-hashed."""
    key = _AGENT_KEY_PREFIX + secrets.token_urlsafe(32)
    return IssuedAgentKey(key=key, api_key_hash=_bcrypt_hash(key, rounds))


def verify_agent_api_key(key: str, api_key_hash: str | None) -> bool:
    """Whether ``key`` matches an ``agents.api_key_hash`` (bcrypt or legacy ``salt:sha256``).

    TMWS checks agent keys with the same two forms as passwords, so this is
    ``verify_password`` under the name a reader of agent code will look for.
    """
    return verify_password(key, api_key_hash)


# --- api_keys -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IssuedAPIKey:
    """A new API key for an ``api_keys`` row.

    ``key`` is the plaintext ``key_id.secret`` to hand out once; ``columns`` are the values
    to store: ``APIKey(**issued.columns, name=..., user_id=...)``.
    """

    key: str
    key_id: str
    key_prefix: str
    key_hash: str

    @property
    def columns(self) -> dict[str, str]:
        """The ``api_keys`` values: ``key_id``, ``key_prefix``, ``key_hash``."""
        return {"key_id": self.key_id, "key_prefix": self.key_prefix, "key_hash": self.key_hash}

    def __repr__(self) -> str:  # the plaintext must not reach logs or tracebacks
        return f"IssuedAPIKey(key_id={self.key_id!r}, key_prefix={self.key_prefix!r})"


def issue_api_key(*, rounds: int = BCRYPT_ROUNDS) -> IssuedAPIKey:
    """Make a new API key as TMWS's ``AuthService.create_api_key`` does."""
    key_id = secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(32)
    return IssuedAPIKey(
        key=key_id + _PUBLIC_ID_SEPARATOR + secret,
        key_id=key_id,
        key_prefix=secret[:8],
        key_hash=_bcrypt_hash(secret, rounds),
    )


def split_api_key(key: str) -> tuple[str, str] | None:
    """Split a presented ``key_id.secret`` into its parts; None if it has no such shape.

    Look the row up by ``key_id`` (it is unique and indexed), then ``verify_api_key``.
    """
    return _split(key)


def verify_api_key(key: str, key_hash: str) -> bool:
    """Whether the presented ``key_id.secret`` matches ``key_hash``, in constant time."""
    parts = _split(key)
    return parts is not None and _bcrypt_check(parts[1], key_hash)


# --- refresh_tokens -------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IssuedRefreshToken:
    """A new refresh token for a ``refresh_tokens`` row.

    ``token`` is the plaintext ``token_id.secret`` to hand out once; ``columns`` are the
    values to store: ``RefreshToken(**issued.columns, user_id=..., expires_at=...)``.
    """

    token: str
    token_id: str
    token_hash: str

    @property
    def columns(self) -> dict[str, str]:
        """The ``refresh_tokens`` values: ``token_id``, ``token_hash``."""
        return {"token_id": self.token_id, "token_hash": self.token_hash}

    def __repr__(self) -> str:  # the plaintext must not reach logs or tracebacks
        return f"IssuedRefreshToken(token_id={self.token_id!r})"


def issue_refresh_token(*, rounds: int = BCRYPT_ROUNDS) -> IssuedRefreshToken:
    """Make a new refresh token in the form TMWS's ``JWTService`` issues and checks.

    One difference, on purpose: TMWS draws 64 random bytes (86 characters), of which bcrypt
    reads only the first 72; we draw 48 (64 characters), so every character counts and
    bcrypt 5 accepts it. TMWS checks both the same way.
    """
    token_id = secrets.token_urlsafe(32)
    secret = secrets.token_urlsafe(48)
    return IssuedRefreshToken(
        token=token_id + _PUBLIC_ID_SEPARATOR + secret,
        token_id=token_id,
        token_hash=_bcrypt_hash(secret, rounds),
    )


def split_refresh_token(token: str) -> tuple[str, str] | None:
    """Split a presented ``token_id.secret``; None if it has no such shape.

    Look the row up by ``token_id``, then ``verify_refresh_token``.
    """
    return _split(token)


def verify_refresh_token(token: str, token_hash: str) -> bool:
    """Whether the presented ``token_id.secret`` matches ``token_hash``, in constant time."""
    parts = _split(token)
    return parts is not None and _bcrypt_check(parts[1], token_hash)


# --- license_keys ---------------------------------------------------------------------------


def hash_license_key(license_key: str) -> str:
    """The value of ``license_keys.license_key_hash``: SHA-256 hex digest of the key.

    A licence key carries 256-bit HMAC material, so a fast unsalted digest is enough here;
    bcrypt is for secrets people choose. Licence keys themselves are made and signed by
    TMWS with its secret key; tmws_store only records them.
    """
    return hashlib.sha256(license_key.encode()).hexdigest()


def verify_license_key(license_key: str, license_key_hash: str) -> bool:
    """Whether ``license_key`` is the key recorded as ``license_key_hash``, in constant time."""
    try:
        expected = hash_license_key(license_key).encode()
        stored = license_key_hash.encode()
    except (AttributeError, UnicodeEncodeError):  # not text, or unencodable text
        return False
    # Bytes, not str: compare_digest refuses non-ASCII str instead of answering False.
    return hmac.compare_digest(expected, stored)


# --- internals ------------------------------------------------------------------------------


def _bcrypt_hash(secret: str, rounds: int) -> str:
    if not secret:
        raise ValueError("cannot hash an empty secret")
    data = secret.encode()
    if len(data) > BCRYPT_MAX_BYTES:
        raise ValueError(
            f"secret is {len(data)} bytes in UTF-8; bcrypt reads at most {BCRYPT_MAX_BYTES}, "
            "so a longer one is refused rather than silently cut: choose a shorter one"
        )
    return bcrypt.hashpw(data, bcrypt.gensalt(rounds=rounds)).decode()


def _bcrypt_check(secret: str, stored: str) -> bool:
    if not isinstance(stored, str) or not stored.startswith(_BCRYPT_IDENTS):
        return False
    try:
        # Cut as passlib did when TMWS made the hash (module docstring); bcrypt 5 refuses
        # longer input instead of ignoring the rest.
        data = secret.encode()[:BCRYPT_MAX_BYTES]
        return bcrypt.checkpw(data, stored.encode())
    except ValueError:  # corrupt hash ("Invalid salt") or unencodable text
        return False


def _legacy_check(password: str, stored: str) -> bool:
    # TMWS wrote f"{salt}:{sha256(password + salt).hexdigest()}" and split at the first ':'.
    salt, sep, digest = stored.partition(":")
    if not sep or not salt or not digest:
        return False
    try:
        expected = hashlib.sha256((password + salt).encode()).hexdigest().encode()
        given = digest.encode()
    except UnicodeEncodeError:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII str instead of answering False.
    return hmac.compare_digest(expected, given)


def _split(presented: str) -> tuple[str, str] | None:
    if not isinstance(presented, str):
        return None
    public_id, sep, secret = presented.partition(_PUBLIC_ID_SEPARATOR)
    if not sep or not public_id or not secret:
        return None
    return public_id, secret
