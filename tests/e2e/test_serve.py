"""``idp serve`` as a real process: banner, metadata over HTTP, key files, config errors."""

from __future__ import annotations

import socket
import stat
import subprocess
from pathlib import Path

import httpx2
import pytest
from lxml import etree

from tests.support.server import LiveServer, child_env, free_port, idp_command

pytestmark = pytest.mark.live

MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"


def test_banner_lists_the_urls(live_server_process: LiveServer) -> None:
    base = live_server_process.url
    lines = live_server_process.output().splitlines()

    def line_with(url: str) -> str:
        found = [line for line in lines if line.rstrip().endswith(url)]
        assert len(found) == 1, f"{url} not listed once in:\n" + "\n".join(lines)
        return found[0]

    assert "metadata" in line_with(f"{base}/idp/metadata").lower()
    assert "idp-initiated" in line_with(f"{base}/idp/init").lower()
    assert "console" in line_with(f"{base}/aws/saml").lower()
    assert "sts" in line_with(f"{base}/aws/sts").lower()
    assert "openid connect" in line_with(f"{base}/oidc").lower()
    assert "AWS_EC2_METADATA_SERVICE_ENDPOINT=" in line_with(f"{base}/imds/i-0123456789abcdef0")
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI=" in line_with(
        f"{base}/ecs/billing-task/credentials")
    assert "Traceback" not in live_server_process.output()


def test_metadata_over_http(live_server: str) -> None:
    response = httpx2.get(f"{live_server}/idp/metadata", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{MD_NS}}}EntityDescriptor"
    assert root.get("entityID") == f"{live_server}/idp/metadata"
    sso = root.findall(f".//{{{MD_NS}}}SingleSignOnService")
    assert {el.get("Location") for el in sso} == {f"{live_server}/idp/sso"}
    assert root.findall(f".//{{{MD_NS}}}KeyDescriptor//{{{DS_NS}}}X509Certificate")


def test_keys_are_created_with_private_modes(live_server_process: LiveServer) -> None:
    certs = live_server_process.certs_dir
    assert stat.S_IMODE(certs.stat().st_mode) == 0o700
    for name in ("signing.key", "oidc-signing.key", "session.key", "sts.key"):
        assert stat.S_IMODE((certs / name).stat().st_mode) == 0o600, name
    assert (certs / "signing.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (certs / "signing.key").read_bytes().startswith(b"-----BEGIN ")
    # No stray temporary files left by the atomic writes.
    assert sorted(p.name for p in certs.iterdir()) == [
        "oidc-signing.crt", "oidc-signing.key", "session.key", "signing.crt", "signing.key",
        "sts.key"]


def test_broken_config_exits_2_with_one_line_and_never_binds(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "users:\n"
        "  bob:\n"
        "    password: bob-password\n"
        "    favourite_colour: blue\n",
        encoding="utf-8",
    )
    port = free_port()
    # Hold the port: if the CLI bound before reading the config, it would fail on the port
    # (a different error) instead of on the file.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        result = subprocess.run(
            idp_command("serve", "--host", "127.0.0.1", "--port", str(port),
                        "--certs-dir", str(tmp_path / "certs"), "--config", str(broken)),
            capture_output=True, text=True, timeout=30, env=child_env(), cwd=tmp_path,
            check=False,
        )
        holder.setblocking(False)
        with pytest.raises(BlockingIOError):
            holder.accept()  # nobody connected to "our" port either
    assert result.returncode == 2, result
    assert result.stdout == "", "nothing (no URL banner) may be printed before the error"
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    prefix = f"idp: error: {broken}:4: "
    assert lines[0].startswith(prefix), lines[0]
    assert "favourite_colour" in lines[0]


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    """A busy port is one `idp: error:` line and exit 2, before any banner."""
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        result = subprocess.run(
            idp_command("serve", "--host", "127.0.0.1", "--port", str(port),
                        "--certs-dir", str(tmp_path / "certs")),
            capture_output=True, text=True, timeout=30, env=child_env(), cwd=tmp_path,
            check=False,
        )
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("idp: error: "), lines[0]
    assert str(port) in lines[0]
    assert result.returncode == 2, result
    assert "Press Ctrl-C" not in result.stdout, "the banner promises URLs that never worked"


def test_secrets_are_never_logged_or_served(live_server_process: LiveServer) -> None:
    """Passwords, keys and secrets never reach the log, and no key file is served over HTTP."""
    base = live_server_process.url
    certs = live_server_process.certs_dir
    with httpx2.Client(base_url=base, timeout=10, follow_redirects=True) as client:
        page = client.get("/idp/init")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        pending = str(page.url).split("pending=", 1)[1]
        refused = client.post("/idp/login", data={
            "username": "bob", "password": "Sup3r-S3cret-typo", "pending": pending,
            "csrf_token": token})
        assert refused.status_code == 401
        client.post("/aws/sts", data={"Action": "AssumeRoleWithSAML", "Version": "2011-06-15",
                                      "RoleArn": "arn:aws:iam::111122223333:role/ReadOnly",
                                      "PrincipalArn": "arn:aws:iam::111122223333:saml-provider/x",
                                      "SAMLAssertion": "PHg+Y2FmZTwveD4="})
        for path in ("/certs/signing.key", "/certs/sts.key", "/idp/../certs/signing.key",
                     "/data/state.sqlite3", "/static/../certs/session.key"):
            assert client.get(path).status_code == 404, path
    log = live_server_process.output()
    assert "Sup3r-S3cret-typo" not in log
    assert "PRIVATE KEY" not in log
    for name in ("session.key", "sts.key"):
        assert (certs / name).read_text().strip() not in log


@pytest.mark.parametrize(("state", "expected"), [
    ("postgres://db.example.test/0", "invalid state store location"),
    # A closed port: the store is reached (and fails) before anything binds or is printed.
    ("redis://:hunter2@127.0.0.1:{closed}/0", "cannot reach the state store "
     "redis://:***@127.0.0.1:{closed}/0"),
])
def test_a_state_store_it_cannot_use_is_one_line_and_exit_2(tmp_path: Path, state: str,
                                                            expected: str) -> None:
    closed = free_port()
    result = subprocess.run(
        idp_command("serve", "--host", "127.0.0.1", "--port", str(free_port()),
                    "--certs-dir", str(tmp_path / "certs"),
                    "--state", state.format(closed=closed)),
        capture_output=True, text=True, timeout=60, env=child_env(), cwd=tmp_path, check=False)
    assert result.returncode == 2, result
    assert result.stdout == "", "no banner before the error"
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("idp: error: ") and expected.format(closed=closed) in lines[0]
    assert "hunter2" not in result.stderr
