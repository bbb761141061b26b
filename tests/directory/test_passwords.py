"""Password hashes: PBKDF2-SHA256, salted, compared in constant time."""

from __future__ import annotations

from idp.directory.passwords import hash_password, is_hash, verify_password


def test_password_hash_round_trip_and_salting():
    """Hashes verify, differ per call (salted), and reject the wrong password."""
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and is_hash(first)
    assert verify_password("s3cret", first)
    assert not verify_password("s3cret ", first)
    assert not verify_password("s3cret", None)
    assert not verify_password("s3cret", "not-a-hash")


def test_a_lone_surrogate_is_a_wrong_password_not_a_crash():
    """A JSON body can carry "\\ud800"; no stored password matches it."""
    assert verify_password("\ud800", hash_password("bob-password")) is False
    assert verify_password("\ud800", None) is False
