"""Signing-key rollover in ``KeyStore`` (stage, promote, retire; snapshot and restore) and the
validity of certificates made under a moved clock (``generate_pair``)."""

from __future__ import annotations

import datetime as dt
import shutil
import stat
from pathlib import Path

import pytest

from idp.clock import FixedClock, SettableClock
from idp.errors import KeyStoreError
from idp.keys import CERT_VALIDITY_DAYS, KeyPair, KeyStore, generate_pair
from tests.support.demo import IDP_ENTITY_ID

REAL = dt.datetime(2026, 1, 15, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def keystore(certs_dir: Path, tmp_path: Path) -> KeyStore:
    """A store holding a copy of the session's signing pair (no key generation)."""
    folder = tmp_path / "certs"
    folder.mkdir(mode=0o700)
    for name in ("signing.key", "signing.crt"):
        shutil.copy2(certs_dir / name, folder / name)
    return KeyStore(folder, clock=FixedClock(REAL))


@pytest.fixture(scope="module")
def spare_pairs() -> tuple[KeyPair, KeyPair]:
    """Two more pairs, made once: ``restore`` puts them in slots without generating keys."""
    clock = FixedClock(REAL)
    return generate_pair("spare-1", 2048, clock), generate_pair("spare-2", 2048, clock)


def fingerprints(pairs: tuple[KeyPair, ...]) -> list[str]:
    return [pair.cert_b64 for pair in pairs]


def files(store: KeyStore) -> set[str]:
    return {path.name for path in store.directory.iterdir() if not path.name.startswith(".")}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the rollover ---------------------------------------------------------------------------


def test_rollover_publishes_signing_then_next_then_previous(keystore, keypair):
    original = keypair.cert_b64  # the pair the store was seeded with
    assert fingerprints(keystore.published()) == [original]

    staged = keystore.stage(IDP_ENTITY_ID).cert_b64
    assert fingerprints(keystore.published()) == [original, staged]  # listed, not signing

    assert keystore.promote().cert_b64 == staged
    assert fingerprints(keystore.published()) == [staged, original]
    assert files(keystore) == {"signing.key", "signing.crt", "previous.key", "previous.crt"}

    third = keystore.stage(IDP_ENTITY_ID).cert_b64
    assert fingerprints(keystore.published()) == [staged, third, original]

    assert keystore.retire().cert_b64 == original
    assert fingerprints(keystore.published()) == [staged, third]
    assert files(keystore) == {"signing.key", "signing.crt", "next.key", "next.crt"}


def test_private_keys_are_written_0600_and_certificates_0644(keystore):
    keystore.stage(IDP_ENTITY_ID)
    folder = keystore.directory
    assert (mode(folder / "next.key"), mode(folder / "next.crt")) == (0o600, 0o644)
    keystore.promote()
    for slot in ("signing", "previous"):
        assert mode(folder / f"{slot}.key") == 0o600
        assert mode(folder / f"{slot}.crt") == 0o644


def test_stage_twice_is_refused_and_keeps_the_staged_pair(keystore):
    staged = keystore.stage(IDP_ENTITY_ID)
    before = (keystore.directory / "next.key").read_bytes()
    with pytest.raises(KeyStoreError, match="already staged"):
        keystore.stage(IDP_ENTITY_ID)
    assert (keystore.directory / "next.key").read_bytes() == before
    assert fingerprints(keystore.published())[1] == staged.cert_b64


def test_promote_with_nothing_staged_is_refused(keystore):
    signing = keystore.load()
    with pytest.raises(KeyStoreError, match="no staged signing key"):
        keystore.promote()
    assert fingerprints(keystore.published()) == [signing.cert_b64]
    assert files(keystore) == {"signing.key", "signing.crt"}


def test_retire_with_no_previous_is_refused(keystore):
    with pytest.raises(KeyStoreError, match="no previous signing key"):
        keystore.retire()
    assert files(keystore) == {"signing.key", "signing.crt"}


def test_stage_without_a_signing_key_is_refused(tmp_path):
    store = KeyStore(tmp_path / "empty", clock=FixedClock(REAL))
    with pytest.raises(KeyStoreError, match="no signing key"):
        store.stage(IDP_ENTITY_ID)
    assert not (tmp_path / "empty" / "next.key").exists()


# --- snapshot and restore -------------------------------------------------------------------


def test_restore_of_a_snapshot_undoes_a_rollover_files_included(keystore):
    original_key = (keystore.directory / "signing.key").read_bytes()
    original_crt = (keystore.directory / "signing.crt").read_bytes()
    snapshot = keystore.snapshot()
    assert set(snapshot) == {"signing"}

    keystore.stage(IDP_ENTITY_ID)
    keystore.promote()
    keystore.restore(snapshot)

    assert files(keystore) == {"signing.key", "signing.crt"}
    assert (keystore.directory / "signing.key").read_bytes() == original_key
    assert (keystore.directory / "signing.crt").read_bytes() == original_crt
    assert fingerprints(keystore.published()) == [snapshot["signing"].cert_b64]
    assert mode(keystore.directory / "signing.key") == 0o600


def test_snapshot_of_every_slot_round_trips(keystore, keypair, spare_pairs):
    following, former = spare_pairs
    keystore.restore({"signing": keypair, "next": following, "previous": former})
    snapshot = keystore.snapshot()
    assert {slot: pair.cert_b64 for slot, pair in snapshot.items()} == {
        "signing": keypair.cert_b64, "next": following.cert_b64, "previous": former.cert_b64}

    keystore.retire()
    (keystore.directory / "next.key").unlink()
    (keystore.directory / "next.crt").unlink()
    keystore.restore(snapshot)

    assert fingerprints(keystore.published()) == [keypair.cert_b64, following.cert_b64,
                                                  former.cert_b64]
    assert all(mode(keystore.directory / f"{slot}.key") == 0o600
               for slot in ("signing", "next", "previous"))


def test_published_lists_a_certificate_once(keystore, keypair):
    keystore.restore({"signing": keypair, "previous": keypair})
    assert fingerprints(keystore.published()) == [keypair.cert_b64]


def test_snapshot_uses_the_signing_pair_it_is_given(keystore):
    signing = keystore.load()
    assert keystore.snapshot(signing=signing)["signing"] is signing


def test_restore_without_a_signing_pair_is_refused_and_changes_nothing(keystore):
    staged = keystore.stage(IDP_ENTITY_ID)
    with pytest.raises(KeyStoreError, match="without a signing key"):
        keystore.restore({"next": staged})
    assert files(keystore) == {"signing.key", "signing.crt", "next.key", "next.crt"}


# --- certificates under a moved clock -------------------------------------------------------


@pytest.mark.parametrize(
    "simulated",
    [dt.datetime(2120, 1, 1, tzinfo=dt.UTC), dt.datetime(1960, 1, 1, tzinfo=dt.UTC),
     REAL + dt.timedelta(days=1)],
    ids=["far-future", "far-past", "tomorrow"],
)
def test_certificates_are_valid_at_both_the_simulated_and_the_real_time(simulated):
    clock = SettableClock(frozen_at=simulated, source=FixedClock(REAL))
    certificate = generate_pair("cn", 2048, clock).certificate
    earlier, later = min(simulated, REAL), max(simulated, REAL)
    assert certificate.not_valid_before_utc < earlier
    assert certificate.not_valid_before_utc > earlier - dt.timedelta(days=1)
    assert certificate.not_valid_after_utc >= later + dt.timedelta(days=CERT_VALIDITY_DAYS)


def test_a_staged_key_is_made_with_the_stores_clock(keystore, tmp_path):
    simulated = dt.datetime(2120, 1, 1, tzinfo=dt.UTC)
    moved = KeyStore(keystore.directory, clock=SettableClock(frozen_at=simulated,
                                                             source=FixedClock(REAL)))
    certificate = moved.stage(IDP_ENTITY_ID).certificate
    assert certificate.not_valid_before_utc < REAL
    assert certificate.not_valid_after_utc >= simulated + dt.timedelta(days=CERT_VALIDITY_DAYS)


@pytest.mark.parametrize(
    "simulated",
    [dt.datetime(1925, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC)],
    ids=["before-1950", "year-9999"],
)
def test_a_clock_at_the_edge_of_time_still_gets_a_certificate(simulated):
    """X.509 validity starts no earlier than 1950 and ends no later than 9999 (RFC 5280)."""
    certificate = generate_pair("cn", 2048, FixedClock(simulated)).certificate
    assert certificate.not_valid_before_utc >= dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
    assert certificate.not_valid_after_utc <= dt.datetime(9999, 12, 31, 23, 59, 59,
                                                          tzinfo=dt.UTC)


# --- loading: OpenSSL's slow RSA check skipped, the arithmetic checked instead -----------------


def _tampered(pem: bytes, **changes: int) -> bytes:
    """``pem``'s key with some private numbers replaced (no validation on either side)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
    assert isinstance(key, rsa.RSAPrivateKey)
    n = key.private_numbers()
    values = {"p": n.p, "q": n.q, "d": n.d, "dmp1": n.dmp1, "dmq1": n.dmq1, "iqmp": n.iqmp}
    values.update(changes)
    bad = rsa.RSAPrivateNumbers(public_numbers=n.public_numbers, **values).private_key(
        unsafe_skip_rsa_key_validation=True)
    return bad.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_a_loaded_key_signs_as_its_certificate_says(keystore):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pair = keystore.load()
    signature = pair.private_key.sign(b"probe", padding.PKCS1v15(), hashes.SHA256())
    pair.certificate.public_key().verify(signature, b"probe", padding.PKCS1v15(),
                                         hashes.SHA256())


@pytest.mark.parametrize("field", ["d", "dmp1", "dmq1", "iqmp"])
def test_an_inconsistent_private_key_is_refused_before_use(keystore, field):
    """The public half still matches the certificate; a private value does not fit it."""
    path = keystore.directory / "signing.key"
    numbers = keystore.load().private_key.private_numbers()
    path.write_bytes(_tampered(path.read_bytes(), **{field: getattr(numbers, field) + 2}))
    with pytest.raises(KeyStoreError, match=r"cannot read signing key pair.*inconsistent"):
        keystore.load()

