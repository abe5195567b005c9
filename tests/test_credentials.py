"""Secrets are stored only as hashes, in TMWS's formats, and are checked in constant time."""

import hashlib
import re
import secrets
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import bcrypt
import pytest
from sqlalchemy.orm import selectinload

from tmws_store import Agent, APIKey, LicenseKey, RefreshToken, Store, TierEnum, User
from tmws_store import credentials as cr

from .helpers import REF42

FAST = 4  # bcrypt's lowest cost keeps the tests fast; the default is TMWS's 12
BCRYPT_2B = re.compile(r"\$2b\$(\d\d)\$[./A-Za-z0-9]{53}")
URLSAFE = re.compile(r"[A-Za-z0-9_-]+")
HEX64 = re.compile(r"[0-9a-f]{64}")

# The OpenBSD / John the Ripper test vector: bcrypt("U*U") at cost 5. Written by another
# implementation, so it shows we read real bcrypt hashes, not just our own output.
VECTOR_PASSWORD = "U*U"
VECTOR_HASH = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"


def legacy(secret: str, salt: str) -> str:
    """TMWS's legacy form, written out from its source: f"{salt}:{sha256(secret + salt)}"."""
    return f"{salt}:{hashlib.sha256((secret + salt).encode()).hexdigest()}"


# --- passwords ------------------------------------------------------------------------------


def test_password_round_trip_is_bcrypt_2b() -> None:
    stored = cr.hash_password("correct horse", rounds=FAST)
    assert BCRYPT_2B.fullmatch(stored)
    assert cr.verify_password("correct horse", stored)
    assert not cr.verify_password("correct horsE", stored)
    assert not cr.verify_password("", stored)
    assert cr.hash_password("correct horse", rounds=FAST) != stored  # a fresh salt each time


def test_default_cost_is_tmws_cost() -> None:
    match = BCRYPT_2B.fullmatch(cr.hash_password("pw"))
    assert match and match.group(1) == "12"


@pytest.mark.parametrize("ident", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_hashes_made_elsewhere_verify(ident: str) -> None:
    stored = ident + VECTOR_HASH[4:]
    assert cr.verify_password(VECTOR_PASSWORD, stored)
    assert not cr.verify_password("U*V", stored)


def test_legacy_salt_sha256_verifies_and_asks_for_a_rehash() -> None:
    salt = secrets.token_hex(32)  # TMWS's salt: 64 hex characters
    stored = legacy("old password", salt)
    assert cr.verify_password("old password", stored)
    assert not cr.verify_password("old passworD", stored)
    # The order is password + salt, as TMWS wrote it; the other order must not match.
    swapped = f"{salt}:{hashlib.sha256((salt + 'old password').encode()).hexdigest()}"
    assert not cr.verify_password("old password", swapped)
    assert cr.needs_rehash(stored)


def test_needs_rehash_only_for_old_forms_and_low_costs() -> None:
    fast = cr.hash_password("pw", rounds=FAST)
    assert cr.needs_rehash(fast)  # below TMWS's cost
    assert not cr.needs_rehash(fast, rounds=FAST)
    assert not cr.needs_rehash("$2b$12$" + "a" * 53)
    assert cr.needs_rehash("$2a$12$" + "a" * 53)  # TMWS writes 2b
    assert cr.needs_rehash("garbage")


GARBAGE = [
    "",
    "garbage",
    ":",
    "salt:",
    ":" + "0" * 64,
    "salt:" + "0" * 64,
    "salt:é" * 3,  # non-ASCII: compare_digest would raise on str
    "$2b$12$short",
    "$2b$12$" + "!" * 53,
    "$2b$99$" + "a" * 53,
    "$2x$04$" + "a" * 53,
    "0" * 64,  # the reference rows' placeholders
    None,
]


@pytest.mark.parametrize("stored", GARBAGE)
def test_garbage_stored_values_never_match_and_never_raise(stored: str | None) -> None:
    assert cr.verify_password("anything", stored) is False
    assert cr.verify_agent_api_key("anything", stored) is False
    assert cr.verify_api_key("id.anything", stored) is False  # type: ignore[arg-type]
    assert cr.verify_refresh_token("id.anything", stored) is False  # type: ignore[arg-type]
    assert cr.verify_license_key("anything", stored) is False  # type: ignore[arg-type]


def test_unencodable_candidates_do_not_match() -> None:
    stored = cr.hash_password("pw", rounds=FAST)
    assert cr.verify_password("\ud800", stored) is False
    assert cr.verify_password("\ud800", legacy("pw", "ab" * 32)) is False
    assert cr.verify_license_key("\ud800", cr.hash_license_key("k")) is False


def test_over_long_secrets_are_refused_when_hashing() -> None:
    # Our own refusal, not bcrypt 5's: bcrypt 4 would cut the password silently.
    with pytest.raises(ValueError, match="73 bytes in UTF-8"):
        cr.hash_password("x" * 73, rounds=FAST)
    with pytest.raises(ValueError, match="74 bytes in UTF-8"):
        cr.hash_password("é" * 37, rounds=FAST)  # 37 characters, 74 bytes
    with pytest.raises(ValueError, match="empty"):
        cr.hash_password("", rounds=FAST)
    assert cr.verify_password("x" * 72, cr.hash_password("x" * 72, rounds=FAST))


def test_long_passwords_hashed_by_tmws_still_verify() -> None:
    # TMWS's passlib (bcrypt < 5) hashed only the first 72 bytes of a longer password;
    # the user still types the whole one.
    password = "a long passphrase, " * 5
    stored_by_tmws = bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(FAST)).decode()
    assert cr.verify_password(password, stored_by_tmws)
    assert not cr.verify_password(password[:71], stored_by_tmws)


# --- constant time --------------------------------------------------------------------------


def test_sha256_forms_are_decided_by_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """With compare_digest forced to say no, even correct secrets fail: it makes the call."""
    calls: list[tuple[bytes, bytes]] = []

    def refuse(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return False

    salt = "cd" * 32
    stored, licence = legacy("pw", salt), cr.hash_license_key("TMWS-PRO-x")
    assert cr.verify_password("pw", stored) and cr.verify_license_key("TMWS-PRO-x", licence)
    monkeypatch.setattr(cr.hmac, "compare_digest", refuse)
    assert not cr.verify_password("pw", stored)
    assert not cr.verify_license_key("TMWS-PRO-x", licence)
    assert len(calls) == 2


def test_bcrypt_forms_are_decided_by_bcrypt_checkpw(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt.checkpw compares in constant time; we must not hash and compare with ==."""
    key = cr.issue_api_key(rounds=FAST)
    token = cr.issue_refresh_token(rounds=FAST)
    password_hash = cr.hash_password("pw", rounds=FAST)
    calls: list[bytes] = []

    def refuse(candidate: bytes, stored: bytes) -> bool:
        calls.append(stored)
        return False

    def forbidden(*args: object) -> bytes:
        raise AssertionError("checking must not call hashpw")

    monkeypatch.setattr(cr.bcrypt, "checkpw", refuse)
    monkeypatch.setattr(cr.bcrypt, "hashpw", forbidden)
    assert not cr.verify_password("pw", password_hash)
    assert not cr.verify_api_key(key.key, key.key_hash)
    assert not cr.verify_refresh_token(token.token, token.token_hash)
    assert calls == [password_hash.encode(), key.key_hash.encode(), token.token_hash.encode()]


# --- api_keys -------------------------------------------------------------------------------


def test_api_key_has_tmws_shape_and_round_trips() -> None:
    issued = cr.issue_api_key(rounds=FAST)
    key_id, secret = issued.key.split(".")
    assert key_id == issued.key_id and len(key_id) == 22 and URLSAFE.fullmatch(key_id)
    assert len(secret) == 43 and URLSAFE.fullmatch(secret)
    assert issued.key_prefix == secret[:8]
    assert BCRYPT_2B.fullmatch(issued.key_hash)
    assert bcrypt.checkpw(secret.encode(), issued.key_hash.encode())  # what TMWS checks
    assert issued.columns == {
        "key_id": issued.key_id,
        "key_prefix": issued.key_prefix,
        "key_hash": issued.key_hash,
    }
    assert cr.split_api_key(issued.key) == (key_id, secret)
    assert cr.verify_api_key(issued.key, issued.key_hash)


def test_api_key_wrong_or_malformed_is_refused() -> None:
    issued = cr.issue_api_key(rounds=FAST)
    key_id, secret = issued.key.split(".")
    other = "A" if secret[-1] != "A" else "B"
    assert not cr.verify_api_key(f"{key_id}.{secret[:-1]}{other}", issued.key_hash)
    assert not cr.verify_api_key(secret, issued.key_hash)  # TMWS wants key_id.secret
    assert not cr.verify_api_key(key_id + ".", issued.key_hash)
    assert cr.split_api_key(secret) is None and cr.split_api_key(".x") is None
    assert cr.issue_api_key(rounds=FAST).key != issued.key


def test_issued_secrets_stay_out_of_reprs() -> None:
    key = cr.issue_api_key(rounds=FAST)
    token = cr.issue_refresh_token(rounds=FAST)
    agent = cr.issue_agent_api_key(rounds=FAST)
    assert key.key.split(".")[1] not in repr(key)
    assert token.token.split(".")[1] not in repr(token)
    assert agent.key not in repr(agent)


# --- refresh_tokens -------------------------------------------------------------------------


def test_refresh_token_has_tmws_shape_and_round_trips() -> None:
    issued = cr.issue_refresh_token(rounds=FAST)
    token_id, secret = issued.token.split(".")
    # TMWS's verify_refresh_token wants a url-safe token_id of at least 32 characters.
    assert token_id == issued.token_id and len(token_id) == 43 and URLSAFE.fullmatch(token_id)
    assert len(secret.encode()) <= cr.BCRYPT_MAX_BYTES  # every character counts
    assert BCRYPT_2B.fullmatch(issued.token_hash)
    assert issued.columns == {"token_id": issued.token_id, "token_hash": issued.token_hash}
    assert cr.split_refresh_token(issued.token) == (token_id, secret)
    assert cr.verify_refresh_token(issued.token, issued.token_hash)
    assert not cr.verify_refresh_token(token_id + "." + secret[:-1], issued.token_hash)
    assert not cr.verify_refresh_token(secret, issued.token_hash)


def test_refresh_tokens_issued_by_tmws_verify() -> None:
    # TMWS issues token_urlsafe(64) secrets (86 characters); its bcrypt saw the first 72 bytes.
    token_id, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    token_hash = bcrypt.hashpw(secret.encode()[:72], bcrypt.gensalt(FAST)).decode()
    assert cr.verify_refresh_token(f"{token_id}.{secret}", token_hash)


# --- agents.api_key_hash and license_keys ---------------------------------------------------


def test_agent_keys_bcrypt_new_and_legacy_old() -> None:
    issued = cr.issue_agent_api_key(rounds=FAST)
    assert issued.key.startswith("tmws_") and len(issued.key) == 48
    assert BCRYPT_2B.fullmatch(issued.api_key_hash)
    assert cr.verify_agent_api_key(issued.key, issued.api_key_hash)
    assert not cr.verify_agent_api_key(issued.key + "x", issued.api_key_hash)
    old_key = "tmws_test_api_key_12345"
    assert cr.verify_agent_api_key(old_key, legacy(old_key, secrets.token_hex(32)))


def test_license_key_hash_is_sha256_hex() -> None:
    licence = f"TMWS-PRO-{uuid.uuid4()}-PERPETUAL-{secrets.token_hex(8)}"
    digest = cr.hash_license_key(licence)
    assert digest == hashlib.sha256(licence.encode()).hexdigest() and HEX64.fullmatch(digest)
    assert cr.verify_license_key(licence, digest)
    assert not cr.verify_license_key(licence + "x", digest)


# --- the reference database -----------------------------------------------------------------


def test_formats_fit_the_reference_file() -> None:
    """Our values have the shapes of TMWS's rows and fit its declared column sizes."""
    con = sqlite3.connect(f"{REF42.resolve().as_uri()}?immutable=1", uri=True)
    try:
        passwords = [r[0] for r in con.execute("SELECT password_hash FROM users")]
        licences = [r[0] for r in con.execute("SELECT license_key_hash FROM license_keys")]
        placeholders = con.execute(
            "SELECT key_hash FROM api_keys UNION ALL SELECT token_hash FROM refresh_tokens"
            " UNION ALL SELECT api_key_hash FROM agents WHERE api_key_hash IS NOT NULL"
        ).fetchall()
        declared = {
            (table, row[1]): row[2]
            for table in ("api_keys", "refresh_tokens", "license_keys")
            for row in con.execute(f'PRAGMA table_info("{table}")')
        }
    finally:
        con.close()
    assert passwords and all(BCRYPT_2B.fullmatch(p).group(1) == "12" for p in passwords)
    assert licences and all(HEX64.fullmatch(h) for h in licences)
    key, token = cr.issue_api_key(rounds=FAST), cr.issue_refresh_token(rounds=FAST)
    ours = {
        ("api_keys", "key_id"): key.key_id,
        ("api_keys", "key_prefix"): key.key_prefix,
        ("refresh_tokens", "token_id"): token.token_id,
        ("license_keys", "license_key_hash"): cr.hash_license_key("TMWS-FREE-x"),
    }
    for column, value in ours.items():
        size = int(re.fullmatch(r"VARCHAR\((\d+)\)", declared[column]).group(1))
        assert len(value) <= size, column
    # The sample rows' 64-hex key/token hashes are placeholders TMWS itself cannot check
    # (see the credentials module docstring): they must be refused, quietly.
    assert placeholders and all(HEX64.fullmatch(h) for (h,) in placeholders)
    for (h,) in placeholders:
        assert not cr.verify_api_key("id.secret", h)
        assert not cr.verify_agent_api_key("tmws_secret", h)


# --- nothing stored in plaintext ------------------------------------------------------------


def windows(secret: str, width: int = 12) -> set[str]:
    """Every ``width``-character piece of ``secret``: a stored piece would be a leak."""
    return {secret[i : i + width] for i in range(len(secret) - width + 1)}


def test_no_stored_row_or_byte_holds_a_plaintext(store: Store) -> None:
    password = "Sup3r-secret-passw0rd"
    key = cr.issue_api_key(rounds=FAST)
    token = cr.issue_refresh_token(rounds=FAST)
    agent_key = cr.issue_agent_api_key(rounds=FAST)
    licence = f"TMWS-ENTERPRISE-{uuid.uuid4()}-PERPETUAL-{secrets.token_hex(8)}"
    with store.session() as session:
        user = User(
            username="alice",
            email="a@example.invalid",
            password_hash=cr.hash_password(password, rounds=FAST),
        )
        agent = Agent(agent_id="athena", display_name="Athena", api_key_hash=agent_key.api_key_hash)
        session.add_all([user, agent])
        session.flush()
        session.add(APIKey(**key.columns, name="ci", user_id=user.id))
        expires = datetime.now(UTC) + timedelta(days=7)
        session.add(RefreshToken(**token.columns, user_id=user.id, expires_at=expires))
        session.add(
            LicenseKey(
                agent_id=agent.id.replace("-", ""),
                tier=TierEnum.ENTERPRISE,
                license_key_hash=cr.hash_license_key(licence),
                issued_at=datetime.now(UTC),
            )
        )
    # The public ids (key_id, token_id) and the 8-character key_prefix are stored by design;
    # every longer piece of the secrets must be absent.
    plaintexts = [password, key.key.split(".")[1], token.token.split(".")[1], agent_key.key]
    pieces = set().union(*(windows(p) for p in [*plaintexts, licence]))

    con = sqlite3.connect(store.path)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counted, leaks = 0, []
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                counted += 1
                for value in row:
                    if isinstance(value, bytes):
                        value = value.decode(errors="replace")
                    if isinstance(value, str):
                        leaks += [(table, p) for p in pieces if p in value]
    finally:
        con.close()
    assert counted >= 5 and leaks == []
    for file in store.path.parent.glob(store.path.name + "*"):  # the -wal file too
        data = file.read_bytes()
        assert not [p for p in pieces if p.encode() in data], file

    with store.session(readonly=True) as session:
        keys = [selectinload(User.api_keys), selectinload(User.refresh_tokens)]
        row_user = session.get(User, user.id, options=keys)
        row_agent = session.get(Agent, agent.id)
        assert row_user is not None and row_agent is not None
        assert cr.verify_password(password, row_user.password_hash)
        assert cr.verify_api_key(key.key, row_user.api_keys[0].key_hash)
        assert cr.verify_refresh_token(token.token, row_user.refresh_tokens[0].token_hash)
        assert cr.verify_agent_api_key(agent_key.key, row_agent.api_key_hash)
