"""A per-install test CA and the HTTPS server certificate it issues, under ``certs/``.

``idp serve --tls`` serves HTTPS beside plain HTTP so that real SAML-to-AWS command-line tools
(requests-based) can talk to the simulator, and the CONNECT proxy (``idp.web.connect_proxy``)
tunnels ``signin.aws.amazon.com:443`` to that same listener. Files (all writes atomic)::

    certs/tls-ca.pem      the test CA's certificate (0644): what clients are told to trust
    certs/tls-ca.key      the CA's private key (0600)
    certs/tls-server.pem  the server certificate (0644): the leaf only, no chain
    certs/tls-server.key  its private key (0600)
    certs/.tls.lock       serialises concurrent ``ensure_tls`` calls (workers, test runs)

The CA is made per install, for tests only, and its key never leaves ``certs/``. It is kept
across restarts (users have configured trust in it) until it expires; the server certificate
is reissued whenever the names it must carry change. The leaf alone is enough: a client that
trusts the CA has the rest of the path, and a server may omit the self-signed root anyway
(RFC 8446 §4.4.2). Trust the CA per process, never system-wide::

    REQUESTS_CA_BUNDLE=certs/tls-ca.pem saml2aws login ...    # requests
    AWS_CA_BUNDLE=certs/tls-ca.pem aws sts ...                  # botocore
    curl --cacert certs/tls-ca.pem https://127.0.0.1:8443/

(``REQUESTS_CA_BUNDLE`` replaces the default trust store of that process: real AWS hosts no
longer verify there, which is the point of a test set-up.)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idp.clock import SystemClock
from idp.errors import ConfigError
from idp.keys import atomic_write

__all__ = [
    "CA_VALIDITY",
    "LOOPBACK_NAMES",
    "RENEW_BEFORE",
    "SERVER_VALIDITY",
    "SIGN_IN_NAMES",
    "TlsFiles",
    "default_names",
    "ensure_tls",
    "tls_files",
]

#: How long the test CA lasts.
CA_VALIDITY: Final = dt.timedelta(days=3650)
#: How long a server certificate lasts: at most 397 days, inside both the CA/Browser Forum's
#: 398-day limit (Baseline Requirements §6.3.2) and Apple's 825 days for certificates of
#: private CAs (Apple, "Requirements for trusted certificates in iOS 13 and macOS 10.15").
SERVER_VALIDITY: Final = dt.timedelta(days=397)
#: A certificate that expires within this is replaced (CA and server alike).
RENEW_BEFORE: Final = dt.timedelta(days=30)
#: Certificates start this long before "now", so a client whose clock lags still accepts them.
BACKDATE: Final = dt.timedelta(days=1)
#: What the server certificate always names.
LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost")
#: The AWS sign-in hosts the CONNECT proxy tunnels to the simulator (the same set as
#: ``idp.aws.vocabulary.is_sign_in_host``; this layer cannot import it). A wildcard matches
#: exactly one label (RFC 6125 §6.4.3), which is what ``REGION.signin.aws.amazon.com`` is.
SIGN_IN_NAMES: Final = ("signin.aws.amazon.com", "*.signin.aws.amazon.com",
                        "signin.amazonaws-us-gov.com", "signin.amazonaws.cn")

_ORGANIZATION: Final = "IdP Simulator (test keys)"
_CA_COMMON_NAME: Final = "IdP simulator test CA"
_SERVER_COMMON_NAME: Final = "IdP simulator TLS server"
_LOCK_NAME: Final = ".tls.lock"
#: A DNS label: letters, digits and inner hyphens, 1 to 63 characters (RFC 1123 §2.1, which
#: allows a leading digit; RFC 1035 §2.3.4 for the lengths).
_LABEL_RE: Final = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_MAX_NAME_LENGTH: Final = 253

log = logging.getLogger("idp.tls")

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class TlsFiles:
    """Where the TLS files are: give ``server_cert``/``server_key`` to the server
    (``ssl.SSLContext.load_cert_chain``, uvicorn's ``ssl_certfile``/``ssl_keyfile``) and
    ``ca_cert`` to clients."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class _Pair:
    key: _PrivateKey
    cert: x509.Certificate


def tls_files(certs_dir: Path) -> TlsFiles:
    """The four paths under ``certs_dir`` (whether or not the files exist yet)."""
    return TlsFiles(ca_cert=certs_dir / "tls-ca.pem", ca_key=certs_dir / "tls-ca.key",
                    server_cert=certs_dir / "tls-server.pem",
                    server_key=certs_dir / "tls-server.key")


# --- names ------------------------------------------------------------------------------------


def _canonical(name: str) -> str:
    """``name`` as the certificate would spell it: an IP address in its normal form (brackets
    of a URL's IPv6 host dropped), anything else lowercased without a trailing dot."""
    bare = name.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    bare = bare.lower()
    return bare[:-1] if bare.endswith(".") else bare


def _general_name(name: object) -> x509.GeneralName:
    """The subjectAltName entry for one requested name, or ``ConfigError``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{name!r} is not a host name", source="TLS server names")
    canonical = _canonical(name)
    try:
        address = ipaddress.ip_address(canonical)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise ConfigError(f"{name!r}: a certificate cannot name a scoped IPv6 address",
                              source="TLS server names")
        return x509.IPAddress(address)
    labels = canonical.split(".")
    # One leading "*" label, followed by at least two more (OpenSSL will not match "*.com").
    if labels[0] == "*" and len(labels) >= 3:
        labels = labels[1:]
    if len(canonical) > _MAX_NAME_LENGTH or not all(_LABEL_RE.fullmatch(x) for x in labels):
        raise ConfigError(f"{name!r} is neither an IP address nor a DNS host name (RFC 1123)",
                          source="TLS server names")
    return x509.DNSName(canonical)


def _general_names(names: Sequence[str]) -> tuple[x509.GeneralName, ...]:
    """Each requested name once, in order; refuses an empty or malformed list."""
    if isinstance(names, str):
        raise ConfigError("give a list of host names, not one string", source="TLS server names")
    out: list[x509.GeneralName] = []
    for name in names:
        entry = _general_name(name)
        if entry not in out:
            out.append(entry)
    if not out:
        raise ConfigError("at least one host name is needed", source="TLS server names")
    return tuple(out)


def default_names(base_url_host: str | None, *, sign_in: bool) -> tuple[str, ...]:
    """What the server certificate should name: the loopback names, the base URL's host (if
    given and not one of them) and, with ``sign_in`` (the CONNECT proxy is on), the AWS
    sign-in hosts."""
    names = list(LOOPBACK_NAMES)
    if base_url_host and base_url_host.strip():
        host = _canonical(base_url_host)
        if host not in names:
            names.append(host)
    if sign_in:
        names.extend(n for n in SIGN_IN_NAMES if n not in names)
    return tuple(names)


# --- files ------------------------------------------------------------------------------------


def _read(path: Path) -> bytes | None:
    """The file's bytes; ``None`` if it does not exist; ``ConfigError`` if it cannot be read
    (a file we may not read is not replaced behind the user's back)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None


def _write(path: Path, data: bytes, *, mode: int) -> None:
    try:
        atomic_write(path, data, mode=mode)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", source=str(path)) from None


def _spki(key: _PrivateKey | x509.Certificate) -> bytes:
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def _load(key_path: Path, cert_path: Path) -> _Pair | None:
    """The key and certificate, or ``None`` when either is missing, corrupt, of a kind we
    cannot sign with, or the two do not belong together (all mean: make a new pair)."""
    key_pem, cert_pem = _read(key_path), _read(cert_path)
    if key_pem is None or cert_pem is None:
        return None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError) as exc:
        log.warning("replacing %s: cannot parse it or its key (%s)", cert_path, exc)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        log.warning("replacing %s: its key is neither ECDSA nor RSA", cert_path)
        return None
    if _spki(key) != _spki(cert):
        log.warning("replacing %s: %s is not its key", cert_path, key_path)
        return None
    return _Pair(key=key, cert=cert)


def _store(key_path: Path, cert_path: Path, pair: _Pair) -> None:
    """Key first: a crash between the two writes leaves a mismatch, which ``_load`` treats as
    missing, never a certificate whose key is lost."""
    pem = pair.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    _write(key_path, pem, mode=0o600)
    _write(cert_path, pair.cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


@contextlib.contextmanager
def _locked(certs_dir: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``certs/.tls.lock``: two processes starting at once would
    otherwise each make a CA and leave one's key beside the other's certificate."""
    path = certs_dir / _LOCK_NAME
    try:
        certs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot open: {exc.strerror or exc}", source=str(path)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- certificates -----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION)])


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def _new_ca(now: dt.datetime) -> _Pair:
    """A self-signed CA that may issue end-entity certificates only (path length 0). The
    extensions are what OpenSSL's strict verification (``ssl.VERIFY_X509_STRICT``, on by
    default in Python 3.13 and urllib3 2.3) requires of a CA: critical BasicConstraints,
    KeyUsage and a SubjectKeyIdentifier (RFC 5280 §4.2.1.2, §4.2.1.3, §4.2.1.9)."""
    key = ec.generate_private_key(ec.SECP256R1())
    # A random suffix tells two installs' CAs apart in a trust store or an error message.
    name = _name(f"{_CA_COMMON_NAME} {secrets.token_hex(4)}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Pair(key=key, cert=cert)


def _new_server(ca: _Pair, names: tuple[x509.GeneralName, ...], now: dt.datetime) -> _Pair:
    """A server certificate for ``names`` issued by ``ca``: subjectAltName (clients match
    names there only, RFC 6125 §6.4.4 and RFC 9110 §4.3.4), serverAuth, and an
    AuthorityKeyIdentifier (strict verification wants one on every non-root certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = now - BACKDATE
    not_after = min(not_before + SERVER_VALIDITY, ca.cert.not_valid_after_utc)
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(_SERVER_COMMON_NAME))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return _Pair(key=key, cert=cert)


def _current(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Valid at ``now`` and for longer than ``RENEW_BEFORE`` after it."""
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_BEFORE


def _ca_usable(ca: x509.Certificate, now: dt.datetime) -> bool:
    try:
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and _current(ca, now)


def _server_usable(cert: x509.Certificate, ca: x509.Certificate,
                   names: tuple[x509.GeneralName, ...], now: dt.datetime) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    return set(alt_names) == set(names) and _current(cert, now)


def ensure_tls(certs_dir: Path, names: Sequence[str], *,
               now: dt.datetime | None = None) -> TlsFiles:
    """Make sure ``certs_dir`` holds a usable test CA and a server certificate for exactly
    ``names`` (IP addresses and DNS names; one leading ``*.`` label allowed), making or
    replacing what is missing, corrupt, expiring within ``RENEW_BEFORE``, for other names, or
    issued by another CA. ``now`` (timezone-aware) defaults to the real time: clients check
    certificates against their own clock, never the simulated one.

    A new CA is made only when the old one is missing, corrupt or expiring (users trust it);
    then the server certificate is reissued too.
    """
    wanted = _general_names(names)
    at = now if now is not None else SystemClock().now()
    if at.tzinfo is None:
        raise ValueError("ensure_tls needs a timezone-aware datetime")
    files = tls_files(certs_dir)
    with _locked(certs_dir):
        ca = _load(files.ca_key, files.ca_cert)
        server: _Pair | None = None
        if ca is None or not _ca_usable(ca.cert, at):
            if ca is not None:
                log.warning("replacing %s: expired, expiring or not a CA; clients must trust "
                            "the new one", files.ca_cert)
            ca = _new_ca(at)
            _store(files.ca_key, files.ca_cert, ca)
            log.info("made a TLS test CA in %s", files.ca_cert)
        else:
            server = _load(files.server_key, files.server_cert)
        if server is None or not _server_usable(server.cert, ca.cert, wanted, at):
            _store(files.server_key, files.server_cert, _new_server(ca, wanted, at))
            log.info("issued %s for %s", files.server_cert,
                     ", ".join(str(n.value) for n in wanted))
    return files
