"""Secrets are never stored in plaintext; hashes have TMWS's shapes; comparisons are safe."""

import hashlib
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from tmws_store import APIKey, RefreshToken, Store, User
from tmws_store.credentials import (
    hash_password,
    hash_secret,
    issue_api_key,
    issue_token,
    needs_rehash,
    verify_api_key,
    verify_password,
    verify_secret,
)

from .conftest import REF42

FAST = 4  # bcrypt cost for tests; the default is TMWS's 12


def test_password_round_trip_is_bcrypt() -> None:
    stored = hash_password("correct horse", rounds=FAST)
    assert re.fullmatch(r"\$2b\$04\$[./A-Za-z0-9]{53}", stored)
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)
    assert not needs_rehash(stored)


def test_default_cost_is_tmws_cost() -> None:
    assert hash_password("pw").startswith("$2b$12$")


def test_legacy_salt_sha256_is_verified_but_flagged() -> None:
    salt = "5a1t"
    legacy = f"{salt}:{hashlib.sha256((salt + 'old password').encode()).hexdigest()}"
    assert verify_password("old password", legacy)
    assert not verify_password("other", legacy)
    assert needs_rehash(legacy)


@pytest.mark.parametrize(
    "stored",
    ["", "garbage", "$2b$12$short", "salt:nothex", ":", "a:" + "0" * 63, "$2b$12$" + "!" * 53],
)
def test_garbage_stored_values_never_match_and_never_raise(stored: str) -> None:
    assert verify_password("anything", stored) is False


def test_over_long_passwords_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="72"):
        hash_password("x" * 73, rounds=FAST)
    stored = hash_password("x" * 72, rounds=FAST)
    assert not verify_password("x" * 73, stored)  # bcrypt alone would have said yes


def test_reference_password_hashes_have_our_shape() -> None:
    con = sqlite3.connect(f"{REF42.resolve().as_uri()}?immutable=1", uri=True)
    rows = con.execute("SELECT password_hash FROM users").fetchall()
    keys = con.execute("SELECT key_id, key_prefix, key_hash FROM api_keys").fetchall()
    tokens = con.execute("SELECT token_id, token_hash FROM refresh_tokens").fetchall()
    con.close()
    ours = issue_api_key()
    token = issue_token()
    assert all(r[0][:7] == hash_password("p", rounds=FAST)[:4] + "12$" for r in rows)
    for key_id, prefix, key_hash in keys:
        assert (len(key_id), len(prefix), len(key_hash)) == (
            len(ours.key_id),
            len(ours.key_prefix),
            len(ours.key_hash),
        )
        assert prefix.startswith("tmws_") and ours.key_prefix.startswith("tmws_")
    for token_id, token_hash in tokens:
        assert (len(token_id), len(token_hash)) == (len(token.token_id), len(token.token_hash))


def test_api_key_is_returned_once_and_verified_by_hash() -> None:
    issued = issue_api_key()
    assert issued.key.startswith(issued.key_prefix)
    assert issued.key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert verify_api_key(issued.key, issued.key_hash)
    assert not verify_api_key(issued.key + "x", issued.key_hash)
    assert issued.key not in repr(issued)  # never printed by accident
    assert issue_api_key().key != issued.key


def test_tokens_and_secrets() -> None:
    token = issue_token()
    assert verify_secret(token.token, token.token_hash)
    assert verify_secret(token.token, token.token_hash.upper())
    assert not verify_secret("nope", token.token_hash)
    assert token.token not in repr(token)
    assert hash_secret("k") == hashlib.sha256(b"k").hexdigest()


def test_no_stored_row_holds_a_plaintext(store: Store) -> None:
    password = "Sup3r-secret-passw0rd"
    key = issue_api_key()
    token = issue_token()
    with store.session() as session:
        user = User(
            username="alice",
            email="a@example.invalid",
            password_hash=hash_password(password, rounds=FAST),
        )
        session.add(user)
        session.flush()
        session.add(APIKey(key_id=key.key_id, name="ci", key_prefix=key.key_prefix,
                           key_hash=key.key_hash, user_id=user.id))  # fmt: skip
        session.add(RefreshToken(token_id=token.token_id, token_hash=token.token_hash,
                                 user_id=user.id,
                                 expires_at=datetime.now(UTC) + timedelta(days=7)))  # fmt: skip
    secrets_ = [password, key.key, key.key[8:], token.token]
    con = sqlite3.connect(store.path)
    found = []
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        for row in con.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, str | bytes):
                    text = value.decode(errors="replace") if isinstance(value, bytes) else value
                    found += [s for s in secrets_ if s in text]
    con.close()
    assert found == []
    for file in store.path.parent.glob("tmws.db*"):  # the -wal file too, byte for byte
        data = file.read_bytes()
        assert not [s for s in secrets_ if s.encode() in data], file
    with store.session(readonly=True) as session:
        stored_user = session.get(User, user.id)
        assert verify_password(password, stored_user.password_hash)
        assert verify_api_key(key.key, stored_user.api_keys[0].key_hash)
