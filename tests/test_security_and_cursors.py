"""Secrets (argon2 passwords, digested tokens) and the opaque pagination cursors."""

from __future__ import annotations

import base64
import json

import pytest

from app.auth.security import digest, digest_matches, hash_password, new_token, token_prefix, verify_password
from app.errors import InvalidInput
from app.pagination import Cursor, decode_cursor, encode_cursor

# -- passwords ---------------------------------------------------------------------------------


def test_password_hash_is_argon2id_and_verifies() -> None:
    stored = hash_password("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert verify_password("correct horse battery", stored)


def test_wrong_password_does_not_verify() -> None:
    stored = hash_password("correct horse battery")

    assert not verify_password("correct horse batterz", stored)
    assert not verify_password("", stored)


def test_same_password_hashes_differently_each_time() -> None:
    assert hash_password("same password!") != hash_password("same password!")


@pytest.mark.usefixtures("production_password_hashing")
def test_the_app_hashes_with_the_recommended_argon2id_parameters() -> None:
    stored = hash_password("correct horse battery")

    # pwdlib's recommendation (argon2-cffi's defaults, RFC 9106's second choice): 64 MiB, 3 passes.
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password("correct horse battery", stored)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$garbage"])
def test_malformed_stored_hash_reads_as_no_match(stored: str) -> None:
    assert verify_password("anything at all", stored) is False


# -- tokens ------------------------------------------------------------------------------------


def test_digest_is_hex_sha256() -> None:
    # SHA-256("abc") is the FIPS 180-2 test vector.
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_digest_matches_only_the_same_token() -> None:
    stored = digest("bsk_12345678_secret")

    assert digest_matches("bsk_12345678_secret", stored)
    assert not digest_matches("bsk_12345678_secreT", stored)
    assert not digest_matches("", stored)


def test_new_token_has_our_shape_and_its_prefix_is_visible() -> None:
    prefix, token = new_token("bsk")

    assert prefix.startswith("bsk_")
    assert len(prefix) == len("bsk_") + 8
    assert token.startswith(prefix + "_")
    assert len(token) > len(prefix) + 40  # 256 random bits, url-safe base64
    assert token_prefix(token) == prefix


def test_new_tokens_are_unique() -> None:
    tokens = {new_token("bsk")[1] for _ in range(50)}

    assert len(tokens) == 50


def test_token_prefix_survives_underscores_in_the_secret() -> None:
    assert token_prefix("bsk_0a1b2c3d_abc_def-ghi") == "bsk_0a1b2c3d"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "bsk_0a1b2c3d", "bsk_short_secret", "_0a1b2c3d_secret", "bsk_0a1b2c3d9_secret"],
)
def test_token_prefix_rejects_other_shapes(token: str) -> None:
    assert token_prefix(token) is None


# -- cursors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor("name", "株式会社さくら製作所", 7),
        Cursor("-arr", "1200000.00", 42),
        Cursor("renewal_on", "2027-03-31", 1),
        Cursor("id", 99, 99),
        Cursor("name", None, 3),
    ],
)
def test_cursor_round_trips(cursor: Cursor) -> None:
    token = encode_cursor(cursor)

    assert decode_cursor(token, sort=cursor.sort) == cursor


def test_cursor_is_url_safe_without_padding() -> None:
    token = encode_cursor(Cursor("name", "??>>" * 10, 123456))

    assert "=" not in token
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "!!!not base64!!!",
        "abc",
        _b64(b"not json"),
        _b64(b"\xff\xfe\xfd"),
        _b64(json.dumps({"sort": "name"}).encode()),
        _b64(json.dumps(["name", "x"]).encode()),
        _b64(json.dumps(["name", "x", 1, 2]).encode()),
        _b64(json.dumps(["name", "x", "7"]).encode()),
        _b64(json.dumps([1, "x", 7]).encode()),
        _b64(json.dumps(None).encode()),
    ],
)
def test_bad_cursor_is_a_422_naming_cursor(token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, sort="name")

    [error] = caught.value.errors
    assert error.field == "cursor"
    assert error.location == "query"


def test_cursor_for_another_sort_is_refused() -> None:
    token = encode_cursor(Cursor("name", "Acme", 1))

    with pytest.raises(InvalidInput) as caught:
        decode_cursor(token, sort="-name")

    [error] = caught.value.errors
    assert error.field == "cursor"
    assert "sort=name" in error.message
