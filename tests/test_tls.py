"""``idp.tls``: the per-install test CA and the server certificate, checked on disk and by real
TLS clients (the stdlib ``ssl`` module with strict verification, and ``curl``) that trust
only the test CA."""

from __future__ import annotations

import datetime as dt
import http.server
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from idp.aws.vocabulary import is_sign_in_host
from idp.errors import ConfigError
from idp.tls import (
    CA_VALIDITY,
    RENEW_BEFORE,
    SERVER_VALIDITY,
    SIGN_IN_NAMES,
    TlsFiles,
    default_names,
    ensure_tls,
    tls_files,
)

NAMES = default_names(None, sign_in=True)
NOW = dt.datetime.now(dt.UTC)
BAD_PEM = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _contents(files: TlsFiles) -> dict[str, bytes]:
    return {name: getattr(files, name).read_bytes()
            for name in ("ca_cert", "ca_key", "server_cert", "server_key")}


def _alt_names(files: TlsFiles) -> set[str]:
    ext = _cert(files.server_cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return {str(name.value) for name in ext}


def _issued_by(files: TlsFiles) -> bool:
    try:
        _cert(files.server_cert).verify_directly_issued_by(_cert(files.ca_cert))
    except Exception:
        return False
    return True


# --- files ------------------------------------------------------------------------------------


def test_files_modes_and_extensions(tmp_path: Path):
    certs = tmp_path / "certs"
    files = ensure_tls(certs, NAMES)
    assert files == tls_files(certs)
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_cert.stat().st_mode) == 0o644
    assert stat.S_IMODE(files.server_cert.stat().st_mode) == 0o644

    ca = _cert(files.ca_cert)
    cn = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert str(cn).startswith("IdP simulator test CA ")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= CA_VALIDITY

    # The server file holds the leaf only; it is not a CA and is issued by this one.
    assert files.server_cert.read_bytes().count(b"BEGIN CERTIFICATE") == 1
    leaf = _cert(files.server_cert)
    assert leaf.issuer == ca.subject and _issued_by(files)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= SERVER_VALIDITY
    assert dt.timedelta(hours=23) < NOW - leaf.not_valid_before_utc < dt.timedelta(days=1, hours=1)
    assert _alt_names(files) == {"127.0.0.1", "localhost", *SIGN_IN_NAMES}
    # The keys are the certificates' own.
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()


def test_ca_and_server_certificate_are_kept_across_calls(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    before = _contents(files)
    # The same set of names, in another order, spelled differently, repeated: nothing churns.
    again = ensure_tls(tmp_path, ["SIGNIN.aws.amazon.com.", *reversed(NAMES), "localhost"])
    assert _contents(again) == before
    assert _contents(ensure_tls(tmp_path, NAMES, now=NOW + dt.timedelta(days=10))) == before


def test_two_installs_have_distinguishable_cas(tmp_path: Path):
    one = _cert(ensure_tls(tmp_path / "one", NAMES).ca_cert)
    two = _cert(ensure_tls(tmp_path / "two", NAMES).ca_cert)
    assert one.subject != two.subject


def test_server_certificate_is_reissued_when_names_change(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    before = _contents(files)
    ensure_tls(tmp_path, default_names("idp.example.test", sign_in=False))
    after = _contents(files)
    assert after["ca_cert"] == before["ca_cert"] and after["ca_key"] == before["ca_key"]
    assert after["server_cert"] != before["server_cert"]
    assert after["server_key"] != before["server_key"]
    assert _alt_names(files) == {"127.0.0.1", "localhost", "idp.example.test"}
    assert _issued_by(files)


def test_server_certificate_is_reissued_near_its_expiry(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    before = _contents(files)
    expires = _cert(files.server_cert).not_valid_after_utc
    later = expires - RENEW_BEFORE + dt.timedelta(hours=1)
    ensure_tls(tmp_path, NAMES, now=later)
    after = _contents(files)
    assert after["ca_cert"] == before["ca_cert"]
    assert after["server_cert"] != before["server_cert"]
    leaf = _cert(files.server_cert)
    assert leaf.not_valid_before_utc < later < leaf.not_valid_after_utc - RENEW_BEFORE
    assert _issued_by(files)


def test_expiring_ca_is_replaced_and_server_certificate_reissued(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    before = _contents(files)
    later = _cert(files.ca_cert).not_valid_after_utc - dt.timedelta(days=10)
    ensure_tls(tmp_path, NAMES, now=later)
    after = _contents(files)
    assert after["ca_cert"] != before["ca_cert"] and after["ca_key"] != before["ca_key"]
    assert after["server_cert"] != before["server_cert"]
    assert _issued_by(files)
    assert _cert(files.ca_cert).not_valid_after_utc > later + CA_VALIDITY - dt.timedelta(days=1)


def test_server_certificate_of_another_ca_is_reissued(tmp_path: Path):
    ours = ensure_tls(tmp_path / "ours", NAMES)
    theirs = ensure_tls(tmp_path / "theirs", NAMES)
    shutil.copy(theirs.server_cert, ours.server_cert)
    shutil.copy(theirs.server_key, ours.server_key)
    ca_before = ours.ca_cert.read_bytes()
    assert not _issued_by(ours)
    ensure_tls(tmp_path / "ours", NAMES)
    assert ours.ca_cert.read_bytes() == ca_before
    assert _issued_by(ours)


def test_replaced_ca_gets_a_new_server_certificate(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    old_leaf = files.server_cert.read_bytes()
    files.ca_cert.unlink()
    files.ca_key.unlink()
    ensure_tls(tmp_path, NAMES)
    assert files.server_cert.read_bytes() != old_leaf
    assert _issued_by(files)


@pytest.mark.parametrize(("damaged", "ca_survives"), [
    ("ca_cert", False), ("ca_key", False), ("server_cert", True), ("server_key", True)])
@pytest.mark.parametrize("garbage", [b"", b"not a PEM file\n", BAD_PEM])
def test_corrupt_files_are_regenerated(tmp_path: Path, damaged: str, ca_survives: bool,
                                       garbage: bytes):
    files = ensure_tls(tmp_path, NAMES)
    ca_before = files.ca_cert.read_bytes()
    getattr(files, damaged).write_bytes(garbage)
    ensure_tls(tmp_path, NAMES)
    assert (files.ca_cert.read_bytes() == ca_before) is ca_survives
    assert _issued_by(files)
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    assert key.public_key() == _cert(files.server_cert).public_key()


def test_keys_swapped_between_files_are_regenerated(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    server_key = files.server_key.read_bytes()
    files.server_key.write_bytes(files.ca_key.read_bytes())
    ensure_tls(tmp_path, NAMES)
    assert files.server_key.read_bytes() not in (server_key, files.ca_key.read_bytes())
    key = serialization.load_pem_private_key(files.server_key.read_bytes(), password=None)
    assert key.public_key() == _cert(files.server_cert).public_key()


def test_unreadable_file_is_a_one_line_config_error(tmp_path: Path):
    files = tls_files(tmp_path)
    files.ca_cert.mkdir(parents=True)  # reading it fails whoever we are (root ignores modes)
    with pytest.raises(ConfigError) as caught:
        ensure_tls(tmp_path, NAMES)
    assert str(files.ca_cert) in str(caught.value) and "\n" not in str(caught.value)


def test_unwritable_directory_is_a_config_error(tmp_path: Path):
    (tmp_path / "certs").write_text("a file where the folder should be")
    with pytest.raises(ConfigError, match="certs"):
        ensure_tls(tmp_path / "certs", NAMES)


def test_concurrent_calls_agree_on_one_ca(tmp_path: Path):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ensure_tls(tmp_path, NAMES), range(4)))
    assert len(set(results)) == 1
    assert _issued_by(results[0])


def test_naive_now_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="timezone-aware"):
        ensure_tls(tmp_path, NAMES, now=dt.datetime(2030, 1, 1))


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "", "   ", "exa mple.com", "-bad.example", "bad-.example", "a..b", ".example", "*.com",
    "foo.*.example", "**.x.example", "*x.example.com", f"{'a' * 64}.example",
    ".".join(["abcdefghi"] * 26), "fe80::1%eth0", "héllo.example", "under_score.example",
    "http://example.com", "example.com:443", "1.2.3.4.5/8",
])
def test_bad_names_are_refused(tmp_path: Path, name: str):
    with pytest.raises(ConfigError) as caught:
        ensure_tls(tmp_path, ["localhost", name])
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "tls-server.pem").exists()


@pytest.mark.parametrize("names", [[], "localhost", [None], [42]])
def test_bad_name_lists_are_refused(tmp_path: Path, names: Any):
    with pytest.raises(ConfigError):
        ensure_tls(tmp_path, names)


def test_names_are_normalised(tmp_path: Path):
    files = ensure_tls(tmp_path, ["LocalHost.", "::1", "[::1]", "0:0::1", "1host.example",
                                  "*.Signin.AWS.amazon.com", "127.0.0.1"])
    assert _alt_names(files) == {"localhost", "::1", "1host.example",
                                 "*.signin.aws.amazon.com", "127.0.0.1"}
    ext = _cert(files.server_cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert [str(a) for a in ext.get_values_for_type(x509.IPAddress)] == ["::1", "127.0.0.1"]


def test_default_names():
    assert default_names(None, sign_in=False) == ("127.0.0.1", "localhost")
    assert default_names("localhost", sign_in=False) == ("127.0.0.1", "localhost")
    assert default_names("IdP.Example.TEST", sign_in=False) == (
        "127.0.0.1", "localhost", "idp.example.test")
    assert default_names("[::1]", sign_in=False) == ("127.0.0.1", "localhost", "::1")
    assert default_names("127.0.0.1", sign_in=True) == ("127.0.0.1", "localhost", *SIGN_IN_NAMES)
    assert SIGN_IN_NAMES == ("signin.aws.amazon.com", "*.signin.aws.amazon.com",
                             "signin.amazonaws-us-gov.com", "signin.amazonaws.cn")


def test_sign_in_names_are_the_vocabularys_sign_in_hosts():
    for name in SIGN_IN_NAMES:
        assert is_sign_in_host(name.replace("*", "eu-west-1")), name


# --- real TLS clients -------------------------------------------------------------------------


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"hello from the test server: {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _TlsServer(http.server.ThreadingHTTPServer):
    """HTTPS on a loopback port; the handshake runs in the handler thread with a timeout."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, files: TlsFiles) -> None:
        super().__init__(("127.0.0.1", 0), _Hello)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(files.server_cert, files.server_key)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        with self.context.wrap_socket(request, server_side=True) as tls:
            self.RequestHandlerClass(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refused our certificate: expected here


@contextmanager
def _serving(files: TlsFiles) -> Iterator[int]:
    server = _TlsServer(files)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        assert not thread.is_alive()


def _client_context(ca: Path) -> ssl.SSLContext:
    """Trusts only ``ca``; checks the host name; strict X.509 rules (urllib3 2.3 and Python
    3.13 turn them on by default)."""
    context = ssl.create_default_context(cafile=str(ca))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def _get(port: int, context: ssl.SSLContext, server_hostname: str) -> bytes:
    with (socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
          context.wrap_socket(raw, server_hostname=server_hostname) as tls):
        tls.sendall(b"GET /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_clients_trusting_only_the_ca_verify_every_name(tmp_path: Path):
    files = ensure_tls(tmp_path, NAMES)
    context = _client_context(files.ca_cert)
    with _serving(files) as port:
        for name in ("127.0.0.1", "localhost", "signin.aws.amazon.com",
                     "eu-west-1.signin.aws.amazon.com", "us-gov-west-1.signin.aws.amazon.com",
                     "signin.amazonaws-us-gov.com", "signin.amazonaws.cn"):
            answer = _get(port, context, name)
            assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b": /probe"), name
        # Names not in the certificate; a wildcard covers one label only.
        for name in ("example.com", "a.b.signin.aws.amazon.com", "signin.aws.amazon.com.evil",
                     "127.0.0.2", "aws.amazon.com"):
            with pytest.raises(ssl.SSLCertVerificationError):
                _get(port, context, name)
        # Another install's CA does not vouch for this server.
        other = ensure_tls(tmp_path / "other", NAMES)
        with pytest.raises(ssl.SSLCertVerificationError):
            _get(port, _client_context(other.ca_cert), "localhost")


def test_curl_trusts_the_ca(tmp_path: Path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    files = ensure_tls(tmp_path, NAMES)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with _serving(files) as port:
        ok = subprocess.run(
            [curl, "-q", "-sS", "--max-time", "5", "--cacert", str(files.ca_cert),
             "--resolve", f"signin.aws.amazon.com:{port}:127.0.0.1",
             f"https://signin.aws.amazon.com:{port}/saml"],
            capture_output=True, text=True, timeout=10, env=env, check=False)
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == "hello from the test server: /saml"
        refused = subprocess.run(
            [curl, "-q", "-sS", "--max-time", "5", "--cacert", str(files.ca_cert),
             "--resolve", f"example.com:{port}:127.0.0.1", f"https://example.com:{port}/"],
            capture_output=True, text=True, timeout=10, env=env, check=False)
        assert refused.returncode == 60, refused.stderr  # CURLE_PEER_FAILED_VERIFICATION
