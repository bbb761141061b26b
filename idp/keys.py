"""The signing key store under ``certs/``: generate, rotate, load once.

Layout (all writes atomic; private files created 0600)::

    certs/signing.key   certs/signing.crt     current pair, used to sign
    certs/previous.key  certs/previous.crt    pair before the last rotation, still in metadata
    certs/next.key      certs/next.crt        a staged pair: in metadata, not yet signing
    certs/session.key                          secret for browser session cookies

Keys are made per install with ``cryptography`` and never leave this folder. Load them once at
start-up and pass key objects around. ``cryptography``'s own check of an RSA key on load tests
``p`` and ``q`` for primality (40-70 ms for 2048 bits on a 2-core machine, at every start);
``_load_private_key`` checks instead, in microseconds, the arithmetic signing relies on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from idp.clock import Clock, SystemClock, wall_clock
from idp.errors import KeyStoreError

__all__ = [
    "KEY_SIZES",
    "KeyPair",
    "KeyStore",
    "atomic_write",
    "generate_pair",
    "published_pairs",
]

KEY_SIZES: Final = (2048, 3072, 4096)
CERT_VALIDITY_DAYS: Final = 3650
#: What an X.509 validity can say (RFC 5280 §4.1.2.5: UTCTime from 1950, GeneralizedTime to 9999).
_FIRST_CERT_TIME: Final = dt.datetime(1950, 1, 1, tzinfo=dt.UTC)
_LAST_CERT_TIME: Final = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@dataclass(frozen=True)
class KeyPair:
    """A loaded private key and its certificate."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def cert_b64(self) -> str:
        """The DER certificate in base64, as ``<ds:X509Certificate>`` holds it."""
        body = [ln for ln in self.cert_pem.splitlines() if ln and not ln.startswith("-----")]
        return "".join(body)

    @property
    def key_size(self) -> int:
        return self.private_key.key_size


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def generate_pair(common_name: str, key_size: int, clock: Clock) -> KeyPair:
    """A new RSA key pair and its self-signed certificate (not stored anywhere)."""
    if key_size not in KEY_SIZES:
        raise KeyStoreError(f"RSA key size must be one of {KEY_SIZES}, not {key_size}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IdP Simulator (test keys)"),
        ]
    )
    # Valid from before both the simulated and the real time to ten years after the later:
    # a key made under a moved clock (``--frozen-clock``) still works at real time, and the
    # other way round.
    simulated, real = clock.now(), wall_clock(clock).now()
    not_before = max(min(simulated, real) - dt.timedelta(minutes=5), _FIRST_CERT_TIME)
    later = max(simulated, real)
    not_after = (max(later, not_before) + dt.timedelta(days=CERT_VALIDITY_DAYS)
                 if later < _LAST_CERT_TIME - dt.timedelta(days=CERT_VALIDITY_DAYS)
                 else _LAST_CERT_TIME)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return KeyPair(private_key=key, certificate=cert)


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_private_key(data: bytes) -> PrivateKeyTypes:
    """A PEM private key (``ValueError`` if it is not one, or an inconsistent RSA key).

    ``unsafe_skip_rsa_key_validation`` skips OpenSSL's ``RSA_check_key``, whose primality tests
    of ``p`` and ``q`` are most of a start's key loading; cryptography's documentation warns
    that an invalid key loaded that way can make OpenSSL misbehave once used
    (https://cryptography.io/en/latest/hazmat/primitives/asymmetric/serialization/). So an RSA
    key is checked here before anything uses it, as ``RSA_check_key`` does apart from
    primality: ``n = p*q``, ``e*d = 1 (mod lcm(p-1, q-1))`` and the CRT values. The key files
    are the ones this store wrote (0600); ``_read`` also matches the key to its certificate.
    """
    key = serialization.load_pem_private_key(data, password=None,
                                             unsafe_skip_rsa_key_validation=True)
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        p, q, d = numbers.p, numbers.q, numbers.d
        n, e = numbers.public_numbers.n, numbers.public_numbers.e
        if not (p > 2 and q > 2 and p * q == n and e > 1 and 0 < d < n
                and e * d % math.lcm(p - 1, q - 1) == 1
                and numbers.dmp1 == d % (p - 1) and numbers.dmq1 == d % (q - 1)
                and numbers.iqmp * q % p == 1):
            raise ValueError("the RSA private key is inconsistent")
    return key


def _signs(key: rsa.RSAPrivateKey) -> bool:
    """Whether a signature by ``key`` verifies with its public half: the pair at hand works
    (the arithmetic of ``_load_private_key`` with a genuine RSA modulus implies it; this shows
    it). Made at every load, the probe also does OpenSSL's one-time set-up for RSA signing
    (about 1 MiB, process-wide) at start-up rather than at the first login, so a worker's
    memory stays flat from its start."""
    probe = b"idp-simulator key probe"
    signature = key.sign(probe, padding.PKCS1v15(), hashes.SHA256())
    try:
        key.public_key().verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _key_numbers(path: Path) -> bytes:
    """The public half of a private-key file (DER SubjectPublicKeyInfo), for comparisons."""
    return _load_private_key(path.read_bytes()).public_key().public_bytes(*_SPKI)


def _cert_numbers(path: Path) -> bytes:
    """The public key a certificate file names (DER SubjectPublicKeyInfo)."""
    return x509.load_pem_x509_certificate(path.read_bytes()).public_key().public_bytes(*_SPKI)


def published_pairs(pairs: Mapping[str, KeyPair]) -> tuple[KeyPair, ...]:
    """Pairs by slot in metadata order: the signing pair (first: it signs), a staged one, the
    previous one; each certificate once."""
    out: list[KeyPair] = []
    for slot in ("signing", "next", "previous"):
        pair = pairs.get(slot)
        if pair is not None and all(pair.cert_b64 != p.cert_b64 for p in out):
            out.append(pair)
    return tuple(out)


class KeyStore:
    """The folder holding this install's keys."""

    def __init__(self, directory: Path, *, clock: Clock | None = None,
                 prefix: str = "") -> None:
        self.directory = directory
        self._clock = clock or SystemClock()
        self.prefix = prefix
        """Before every slot's file names: ``""`` for the SAML signing keys, ``oidc-`` for
        the OpenID Connect provider's (``certs/oidc-signing.key``, ...)."""

    def _paths(self, slot: str) -> tuple[Path, Path]:
        name = f"{self.prefix}{slot}"
        return self.directory / f"{name}.key", self.directory / f"{name}.crt"

    def exists(self) -> bool:
        key, cert = self._paths("signing")
        return key.exists() and cert.exists()

    def _write(self, slot: str, pair: KeyPair) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path, cert_path = self._paths(slot)
        pem = pair.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        atomic_write(key_path, pem, mode=0o600)
        atomic_write(cert_path, pair.cert_pem.encode("ascii"), mode=0o644)

    def _read(self, slot: str) -> KeyPair | None:
        key_path, cert_path = self._paths(slot)
        if not key_path.exists() and not cert_path.exists():
            return None
        try:
            key = _load_private_key(key_path.read_bytes())
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise KeyStoreError(f"cannot read {slot} key pair in {self.directory}: {exc}") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyStoreError(f"{key_path} is not an RSA private key")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
            raise KeyStoreError(f"{key_path} and {cert_path} do not belong together")
        if not _signs(key):
            raise KeyStoreError(f"{key_path} does not make signatures its certificate verifies")
        return KeyPair(private_key=key, certificate=cert)

    def create(self, common_name: str, *, key_size: int = 2048) -> KeyPair:
        """Create the first key pair; refuses to overwrite an existing one."""
        if self.exists():
            raise KeyStoreError(f"a signing key already exists in {self.directory}; use rotate")
        pair = generate_pair(common_name, key_size, self._clock)
        self._write("signing", pair)
        return pair

    def _recover(self) -> None:
        """Finish or undo a rotation that a crash cut off between two of its file writes.

        ``rotate`` writes previous.key, previous.crt, signing.key, signing.crt in that order;
        each write is atomic, the four together are not. Two cut points leave a key and a
        certificate that do not belong together, and both are repaired here from what is
        certainly right: ``signing.crt`` still names the current key until the last write.
        Concurrent workers may both run this; they write identical bytes atomically.
        """
        signing_key, signing_crt = self._paths("signing")
        previous_key, previous_crt = self._paths("previous")
        if not (signing_key.exists() and signing_crt.exists() and previous_key.exists()):
            return
        try:
            current = _cert_numbers(signing_crt)
            if _key_numbers(previous_key) == current and (
                not previous_crt.exists() or _cert_numbers(previous_crt) != current
            ):
                atomic_write(previous_crt, signing_crt.read_bytes())  # finish the copy
            if (_key_numbers(signing_key) != current and previous_crt.exists()
                    and _cert_numbers(previous_crt) == current == _key_numbers(previous_key)):
                atomic_write(signing_key, previous_key.read_bytes(), mode=0o600)  # undo
        except (OSError, ValueError, TypeError):
            return  # unreadable: _read reports it properly

    def rotate(self, common_name: str, *, key_size: int = 2048) -> KeyPair:
        """Make a new current pair; the old one becomes ``previous`` (still published)."""
        self._recover()
        current = self._read("signing")
        if current is None:
            return self.create(common_name, key_size=key_size)
        pair = generate_pair(common_name, key_size, self._clock)
        self._write("previous", current)
        self._write("signing", pair)
        return pair

    def stage(self, common_name: str, *, key_size: int = 2048) -> KeyPair:
        """Add a new pair that metadata lists but nothing signs with yet (a rollover's first
        step: SPs learn the certificate before it is used)."""
        if self._read("next") is not None:
            raise KeyStoreError("a new signing key is already staged; promote it first")
        if not self.exists():
            raise KeyStoreError(f"no signing key in {self.directory}; run 'idp keys'")
        pair = generate_pair(common_name, key_size, self._clock)
        self._write("next", pair)
        return pair

    def promote(self) -> KeyPair:
        """The staged pair signs from now on; the current one becomes ``previous`` (still in
        metadata, so Responses it signed stay valid until it is retired)."""
        staged = self._read("next")
        if staged is None:
            raise KeyStoreError("no staged signing key to promote; add one first")
        current = self.load()
        self._write("previous", current)
        self._write("signing", staged)
        for path in self._paths("next"):
            path.unlink(missing_ok=True)
        return staged

    def retire(self) -> KeyPair:
        """Remove the previous pair from metadata; what it signed is no longer trusted."""
        previous = self._read("previous")
        if previous is None:
            raise KeyStoreError("there is no previous signing key to retire")
        for path in self._paths("previous"):
            path.unlink(missing_ok=True)
        return previous

    def snapshot(self, *, signing: KeyPair | None = None) -> dict[str, KeyPair]:
        """Every pair by slot (``signing``, ``next``, ``previous``), for ``restore``.
        ``signing``: the current pair, already loaded (``ensure`` returned it)."""
        pairs = {"signing": signing if signing is not None else self.load()}
        for slot in ("next", "previous"):
            pair = self._read(slot)
            if pair is not None:
                pairs[slot] = pair
        return pairs

    def restore(self, pairs: dict[str, KeyPair]) -> None:
        """Put back exactly what ``snapshot`` returned."""
        if "signing" not in pairs:
            raise KeyStoreError("cannot restore a key set without a signing key")
        for slot in ("next", "previous"):
            if slot in pairs:
                self._write(slot, pairs[slot])
            else:
                for path in self._paths(slot):
                    path.unlink(missing_ok=True)
        self._write("signing", pairs["signing"])

    def ensure(self, common_name: str, *, key_size: int = 2048) -> KeyPair:
        """Load the current pair, creating it on first start."""
        return self.load() if self.exists() else self.create(common_name, key_size=key_size)

    def load(self) -> KeyPair:
        self._recover()
        pair = self._read("signing")
        if pair is None:
            raise KeyStoreError(f"no signing key in {self.directory}; run 'idp keys'")
        return pair

    def published(self, *, signing: KeyPair | None = None) -> tuple[KeyPair, ...]:
        """``published_pairs`` of what is on disk (``signing``: already loaded)."""
        return published_pairs(self.snapshot(signing=signing))

    def session_secret(self) -> str:
        """The cookie-signing secret, created once per install (0600)."""
        return self.secret("session")

    def secret(self, name: str) -> str:
        """A named random secret (``session``, ``sts``), created once per install (0600).

        Created with a hard link so concurrent workers agree on one value (first writer wins).
        """
        path = self.directory / f"{name}.key"
        if not path.exists():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = self.directory / f".{name}.key.{secrets.token_hex(4)}"
            atomic_write(tmp, secrets.token_urlsafe(48).encode("ascii"), mode=0o600)
            try:
                os.link(tmp, path)  # first writer wins; a concurrent worker reads the winner's
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text("ascii").strip()
