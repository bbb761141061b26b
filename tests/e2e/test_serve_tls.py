"""``idp serve --tls --connect-proxy``, as a real process: an HTTPS listener with a per-install
test CA beside plain HTTP, and a CONNECT proxy that takes ``https://signin.aws.amazon.com/saml``
to the console twin. Clients are ``curl`` (trusting only the test CA), ``httpx2`` and boto3."""

from __future__ import annotations

import json
import shutil
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions
import httpx2
import pytest
from lxml import etree

from tests.support.demo import ADMIN, PROD_PROVIDER, READ_ONLY
from tests.support.http import auto_post, csrf, pending_id
from tests.support.server import (
    STARTUP_TIMEOUT,
    LiveServer,
    child_env,
    free_port,
    healthy,
    idp_command,
    running_server,
    stop,
)
from tests.support.sts import clean_aws_environment, sts_client

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
SIGN_IN = "https://signin.aws.amazon.com"
TIMEOUT = 15
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_env() -> dict[str, str]:
    """The child environment without IDP_* settings or any proxy of the developer's."""
    return {k: v for k, v in child_env().items() if k.lower() not in PROXY_VARIABLES}


@dataclass(frozen=True)
class TlsServer:
    """A running ``idp serve --tls --connect-proxy`` and where it keeps its files."""

    live: LiveServer
    http_port: int
    tls_port: int
    proxy_port: int
    workdir: Path
    certs: Path
    data: Path

    @property
    def https(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def plain(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def ca(self) -> Path:
        return self.certs / "tls-ca.pem"

    def output(self) -> str:
        return self.live.output()


def distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def start_tls(workdir: Path, *, extra_args: Sequence[str] = ("--compat", "okta")) -> TlsServer:
    """``idp serve --port HTTP --tls --tls-port TLS --connect-proxy PROXY`` with no
    ``--base-url``; returns once plain ``/healthz`` answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, tls_port, proxy_port = distinct_ports(3)
    certs, data = workdir / "certs", workdir / "data"
    log = workdir / f"server-{http_port}-{time.monotonic_ns()}.log"
    argv = idp_command("serve", "--port", str(http_port), "--tls", "--tls-port", str(tls_port),
                       "--connect-proxy", str(proxy_port), "--certs-dir", str(certs),
                       "--data-dir", str(data), *extra_args)
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink,
                                   stderr=subprocess.STDOUT, env=clean_env(), cwd=workdir)
    live = LiveServer(url=f"http://127.0.0.1:{http_port}", port=http_port, certs_dir=certs,
                      log=log, process=process)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not healthy(live.url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(live)
            raise RuntimeError(f"idp serve --tls did not come up (exit {process.returncode}):"
                               f"\n{live.output()}")
        time.sleep(0.05)
    return TlsServer(live, http_port, tls_port, proxy_port, workdir, certs, data)


def stopped_cleanly(server: TlsServer) -> None:
    code = stop(server.live)
    output = server.output()
    assert code == 0, f"idp serve --tls did not exit 0 after SIGINT (got {code}):\n{output}"
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    running = start_tls(tmp_path_factory.mktemp("serve-tls"))
    try:
        yield running
    finally:
        stopped_cleanly(running)


# --- clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str]
    exit_code: int
    connect_status: int


def curl(url: str, *args: str, ca: Path | None, proxy: str | None = None) -> Answer:
    """One request with curl: ``--cacert`` the test CA (no system trust store needed),
    through ``proxy`` when given; no redirects followed."""
    with tempfile.TemporaryDirectory(prefix="curl-") as scratch:
        head_file, body_file = Path(scratch) / "head", Path(scratch) / "body"
        argv = ["curl", "-sS", "--max-time", str(TIMEOUT), "-D", str(head_file),
                "-o", str(body_file), "-w", "%{http_code} %{http_connect}", *args]
        if ca is not None:
            argv += ["--cacert", str(ca)]
        if proxy is not None:
            argv += ["--proxy", proxy]
        result = subprocess.run([*argv, url], capture_output=True, text=True,
                                env=clean_env(), timeout=TIMEOUT + 10, check=False)
        status, connect = (int(code) for code in result.stdout.split())
        heads = head_file.read_bytes().decode("latin-1") if head_file.exists() else ""
        body = body_file.read_bytes().decode("utf-8", "replace") if body_file.exists() else ""
    # -D writes every head (the proxy's "200 Connection established" first): keep the last.
    blocks = [b for b in heads.split("\r\n\r\n") if b.startswith("HTTP/")]
    headers: dict[str, str] = {}
    for line in (blocks[-1].split("\r\n")[1:] if blocks else ()):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, body, headers, result.returncode, connect)


def post_via_proxy(server: TlsServer, path: str, saml: str, *extra: str) -> Answer:
    """POST the form to ``https://signin.aws.amazon.com{path}`` as a tool behind
    ``HTTPS_PROXY`` would."""
    form = server.workdir / f"form-{time.monotonic_ns()}.txt"
    form.write_text(saml, encoding="ascii")
    return curl(f"{SIGN_IN}{path}", "--data-urlencode", f"SAMLResponse@{form}", *extra,
                ca=server.ca, proxy=server.proxy)


def browser_sign_in(server: TlsServer, username: str) -> tuple[str, str]:
    """Sign in at the IdP over HTTPS (trusting the test CA): ``/idp/init`` → the login form →
    the auto-POST page. Returns its form action and SAMLResponse."""
    context = ssl.create_default_context(cafile=str(server.ca))
    with httpx2.Client(base_url=server.https, verify=context, timeout=TIMEOUT,
                       trust_env=False) as client:
        first = client.get("/idp/init", follow_redirects=True)
        assert first.status_code == 200 and "/idp/login" in str(first.url), first.text[:500]
        assert str(first.url).startswith(server.https)
        page = client.post("/idp/login", data={
            "username": username, "password": f"{username}-password",
            "pending": pending_id(first.url), "csrf_token": csrf(first.text)},
            follow_redirects=True)
        assert page.status_code == 200, page.text[:500]
    posted = auto_post(page.text)
    return posted.action, posted.saml_response


def mint(server: TlsServer, username: str) -> str:
    result = subprocess.run(
        idp_command("mint", "--user", username, "--certs-dir", str(server.certs),
                    "--base-url", server.https),
        capture_output=True, text=True, env=clean_env(), cwd=server.workdir, timeout=60,
        check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def entity_id(xml: str | bytes) -> str | None:
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml)
    assert root.tag == f"{{{MD_NS}}}EntityDescriptor"
    return root.get("entityID")


# --- the banner and the files ---------------------------------------------------------------


def test_the_banner_lists_the_https_urls_the_ca_and_the_proxy(server):
    lines = server.output().splitlines()

    def line_with(text: str) -> str:
        found = [line for line in lines if text in line]
        assert found, f"{text} is not in the banner:\n" + "\n".join(lines)
        return found[0]

    assert line_with(f"{server.https}/idp/metadata").rstrip().endswith(
        f"{server.https}/idp/metadata")
    assert line_with(f"{server.https}/idp/init")
    assert line_with(f"{server.https}/aws/saml")
    assert line_with(f"{server.plain}/aws/sts").rstrip().endswith(f"{server.plain}/aws/sts")
    assert "CA" in line_with(str(server.ca))
    assert "proxy" in line_with(server.proxy).lower()
    assert "okta" in line_with("Vendor login surfaces")
    assert f"{server.plain}/idp/metadata" not in server.output()


def test_the_test_ca_is_made_with_a_private_key(server):
    assert server.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    key = server.certs / "tls-ca.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((server.certs / "tls-server.key").stat().st_mode) == 0o600


# --- HTTPS, and the public URL -------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_https_answers_for_clients_trusting_the_test_ca(server, host):
    answer = curl(f"https://{host}:{server.tls_port}/healthz", ca=server.ca)
    assert (answer.exit_code, answer.status, answer.body) == (0, 200, "ok")


def test_https_is_not_trusted_without_the_test_ca(server):
    """The server certificate chains to the per-install CA only: curl's own trust store
    refuses it (exit 60)."""
    answer = curl(f"{server.https}/healthz", ca=None)
    assert (answer.exit_code, answer.status) == (60, 0)


def test_plain_http_keeps_serving(server):
    answer = curl(f"{server.plain}/healthz", ca=None)
    assert (answer.status, answer.body) == (200, "ok")


def test_metadata_names_the_https_entity_id_on_both_listeners(server):
    expected = f"{server.https}/idp/metadata"
    over_tls = curl(expected, ca=server.ca)
    over_plain = curl(f"{server.plain}/idp/metadata", ca=None)
    assert over_tls.status == over_plain.status == 200
    assert entity_id(over_tls.body) == entity_id(over_plain.body) == expected
    root = etree.fromstring(over_tls.body.encode())
    locations = {el.get("Location") for el in root.iter(f"{{{MD_NS}}}SingleSignOnService")}
    assert locations == {f"{server.https}/idp/sso"}


# --- through the CONNECT proxy -------------------------------------------------------------------


def test_a_browser_sign_in_reaches_the_console_twin_and_sts_redeems_it_again(
        server, monkeypatch, tmp_path):
    """bob signs in at the IdP over HTTPS, his tool posts the Response to
    https://signin.aws.amazon.com/saml through the proxy (the console twin signs him in),
    then the same assertion goes to STS on the plain port (allowed in the default replay
    mode, as with real AWS); a second console post of it is refused."""
    action, saml = browser_sign_in(server, "bob")
    assert action == f"{server.https}/aws/saml"

    console = post_via_proxy(server, "/saml", saml)
    assert console.connect_status == 200
    assert console.status == 303, console.body[:500]
    assert console.headers["location"] == "/aws/console"
    assert "aws_console=" in console.headers.get("set-cookie", "")

    clean_aws_environment(monkeypatch, tmp_path)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"{server.plain}/aws/sts")
    result = sts_client(None).assume_role_with_saml(
        RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER, SAMLAssertion=saml)
    assert result["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert result["AssumedRoleUser"]["Arn"].startswith(
        "arn:aws:sts::111122223333:assumed-role/ReadOnly/")

    again = post_via_proxy(server, "/saml", saml)
    assert again.status == 400, again.body[:500]
    assert "already used" in again.body


def test_a_user_with_several_roles_gets_the_role_page_through_the_proxy(server):
    saml = mint(server, "alice")
    for path in ("/saml", "/static/saml"):
        page = post_via_proxy(server, path, saml)
        assert page.status == 200, page.body[:500]
        assert ADMIN in page.body and "roleIndex" in page.body


def test_a_minted_response_for_bob_signs_in_through_the_proxy(server):
    answer = post_via_proxy(server, "/saml", mint(server, "bob"))
    assert (answer.status, answer.headers["location"]) == (303, "/aws/console")


@pytest.mark.parametrize("path", ["/other", "/idp/metadata", "/healthz", "/aws/sts"])
def test_nothing_but_saml_is_served_on_the_sign_in_host(server, path):
    answer = curl(f"{SIGN_IN}{path}", ca=server.ca, proxy=server.proxy)
    assert answer.connect_status == 200
    assert answer.status == 404
    assert "Only /saml" in answer.body


@pytest.mark.parametrize("url", ["https://example.com/", "https://signin.aws.amazon.com:8443/",
                                 "https://127.0.0.1/", "https://console.aws.amazon.com/"])
def test_the_proxy_refuses_every_other_destination(server, url):
    answer = curl(url, ca=server.ca, proxy=server.proxy)
    assert answer.connect_status == 403
    assert answer.exit_code != 0 and answer.status == 0


def test_the_proxy_only_tunnels(server):
    """A plain-HTTP request through the proxy (no CONNECT) is refused, not forwarded."""
    answer = curl("http://signin.aws.amazon.com/saml", ca=None, proxy=server.proxy)
    assert answer.status == 405


# --- lifecycle -----------------------------------------------------------------------------------


def test_ctrl_c_stops_everything_and_a_restart_reuses_the_ca(tmp_path):
    first = start_tls(tmp_path / "run", extra_args=())
    ca_bytes = first.ca.read_bytes()
    key_bytes = (first.certs / "tls-ca.key").read_bytes()
    stopped_cleanly(first)
    assert not healthy(first.plain)

    second = start_tls(tmp_path / "run", extra_args=())
    try:
        assert second.ca.read_bytes() == ca_bytes
        assert (second.certs / "tls-ca.key").read_bytes() == key_bytes
        answer = curl(f"{second.https}/healthz", ca=second.ca)
        assert (answer.status, answer.body) == (200, "ok")
    finally:
        stopped_cleanly(second)


def run_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        idp_command("serve", "--port", str(free_port()), "--certs-dir",
                    str(tmp_path / "certs"), "--data-dir", str(tmp_path / "data"), *args),
        capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=60,
        check=False)


@pytest.mark.parametrize(("args", "words"), [
    (("--tls", "--workers", "2"), "one worker"),
    (("--connect-proxy", "0"), "connect proxy must be 1..65535"),
    (("--compat", "foo"), "unknown compat surface 'foo'"),
    (("--compat", "okta,foo", "--tls"), "unknown compat surface 'foo'"),
])
def test_mistakes_are_one_line_and_exit_2(tmp_path, args, words):
    result = run_serve(tmp_path, "--tls-port", str(free_port()), *args)
    assert result.returncode == 2, result
    assert result.stdout == "", "no banner before the error"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("idp: error: ") and words in lines[0], lines[0]


def test_tls_with_two_workers_is_refused_before_anything_is_made(tmp_path):
    result = run_serve(tmp_path, "--tls", "--workers", "2")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "certs" / "tls-ca.pem").exists()


def test_strict_replay_protection_refuses_sts_after_the_console(tmp_path, monkeypatch):
    """``--replay-protection strict``: once in all (the console's use counts for STS)."""
    with running_server(tmp_path, extra_args=("--replay-protection", "strict")) as live:
        minted = subprocess.run(
            idp_command("mint", "--user", "bob", "--certs-dir", str(live.certs_dir),
                        "--base-url", live.url),
            capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=60,
            check=True).stdout.strip()
        console = curl(f"{live.url}/aws/saml", "--data-urlencode",
                       f"SAMLResponse={minted}", ca=None)
        assert console.status == 303
        clean_aws_environment(monkeypatch, tmp_path)
        client = sts_client(f"{live.url}/aws/sts")
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.assume_role_with_saml(RoleArn=READ_ONLY, PrincipalArn=PROD_PROVIDER,
                                         SAMLAssertion=minted)
        error = caught.value.response["Error"]
        assert error["Code"] == "InvalidIdentityToken"
        assert "already been used" in error["Message"]


def test_the_banner_names_the_real_listeners_and_an_absolute_ca_path(server):
    output = server.output()
    assert f"Listening:                        https://127.0.0.1:{server.tls_port} and " \
           f"http://127.0.0.1:{server.http_port}" in output
    ca_line = next(line for line in output.splitlines() if "REQUESTS_CA_BUNDLE" in line)
    assert Path(ca_line.split()[-1]).is_absolute()
    assert "NO_PROXY=127.0.0.1,localhost" in output


def test_idp_login_trusts_the_test_ca_when_told(server):
    """``idp login --ca-bundle certs/tls-ca.pem`` signs in over https; without it, one line."""
    base = ["login", "--url", server.https, "--user", "bob", "--password", "bob-password"]
    result = subprocess.run(idp_command(*base, "--ca-bundle", str(server.ca)),
                            capture_output=True, text=True, env=clean_env(), timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["AccessKeyId"].startswith("ASIA")
    refused = subprocess.run(idp_command(*base), capture_output=True, text=True,
                             env=clean_env(), timeout=60, check=False)
    assert refused.returncode != 0 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_server_certificate_openssl_refuses_fails_before_the_banner(tmp_path):
    """A certificate the TLS library will not load (a 1024-bit RSA key) is one line and
    exit 2, not a banner and a silent exit."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from idp.tls import default_names, ensure_tls

    files = ensure_tls(tmp_path / "certs", default_names("127.0.0.1", sign_in=False))
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), None)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server_cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (on purpose)
    cert = (x509.CertificateBuilder().subject_name(server_cert.subject)
            .issuer_name(ca.subject).public_key(weak.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(server_cert.not_valid_before_utc)
            .not_valid_after(server_cert.not_valid_after_utc)
            .add_extension(server_cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value, critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(weak.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    result = run_serve(tmp_path, "--tls", "--tls-port", str(free_port()))
    assert result.returncode == 2, result
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert "cannot serve TLS" in result.stderr


def test_ctrl_c_is_quick_with_a_kept_alive_https_client(tmp_path):
    """A pooled HTTPS client never sends close_notify; Ctrl-C must not wait for it."""
    import http.client

    server = start_tls(tmp_path / "keep")
    context = ssl.create_default_context(cafile=str(server.ca))
    connection = http.client.HTTPSConnection("127.0.0.1", server.tls_port, context=context,
                                             timeout=10)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b"ok"
        started = time.monotonic()
        stopped_cleanly(server)
        assert time.monotonic() - started < 8
    finally:
        connection.close()
