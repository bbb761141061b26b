"""The ``idp`` command, run as a real process: keys, metadata, config; errors are one line."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lxml import etree

from idp.saml.constants import NS


def idp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_keys_create_refuse_to_overwrite_and_rotate(tmp_path):
    """`idp keys` creates 0600 keys once, keeps them, and --rotate keeps the old cert listed."""
    first = idp("keys", cwd=tmp_path)
    assert first.returncode == 0 and "created" in first.stdout
    key = tmp_path / "certs" / "signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    original = key.read_bytes()
    again = idp("keys", cwd=tmp_path)
    assert again.returncode == 0 and "already exists" in again.stdout
    assert key.read_bytes() == original
    rotated = idp("keys", "--rotate", cwd=tmp_path)
    assert rotated.returncode == 0 and "rotated" in rotated.stdout
    assert (tmp_path / "certs" / "previous.key").read_bytes() == original
    assert key.read_bytes() != original
    meta = idp("metadata", "--out", "-", cwd=tmp_path)
    assert meta.stdout.count("<ds:X509Certificate>") == 2


def test_keys_size_is_selectable(tmp_path):
    """--key-size 3072 makes an RSA-3072 key."""
    result = idp("keys", "--key-size", "3072", "--certs-dir", "k", cwd=tmp_path)
    assert result.returncode == 0 and "RSA-3072" in result.stdout


def test_metadata_is_written_to_the_default_path_with_the_base_url(tmp_path):
    """`idp metadata` writes metadata/idp-metadata.xml (creating keys on first use)."""
    result = idp("metadata", "--base-url", "https://idp.example.test", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    root = etree.parse(str(tmp_path / "metadata" / "idp-metadata.xml")).getroot()
    assert root.get("entityID") == "https://idp.example.test/idp/metadata"
    locations = {e.get("Location") for e in root.iterfind(".//md:SingleSignOnService", NS)}
    assert locations == {"https://idp.example.test/idp/sso"}


def test_config_demo_prints_a_loadable_directory(tmp_path):
    """`idp config --demo` output passes `idp config --check`."""
    demo = idp("config", "--demo", cwd=tmp_path)
    assert demo.returncode == 0 and "alice" in demo.stdout
    (tmp_path / "dir.yaml").write_text(demo.stdout)
    check = idp("config", "--check", "dir.yaml", cwd=tmp_path)
    assert check.returncode == 0
    assert "OK (4 users" in check.stdout
    assert ("1 OIDC providers; workloads: 1 instances, 1 tasks; 1 OIDC clients)"
            in check.stdout), check.stdout


def test_broken_config_is_one_line_and_exit_2(tmp_path):
    """A config mistake prints `idp: error: FILE:LINE: ...` once, with no traceback."""
    (tmp_path / "bad.yaml").write_text("users:\n  eve:\n    password: x\n    emial: e@x\n")
    result = idp("config", "--check", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "idp: error: bad.yaml:4: unknown key 'emial' in user eve (expected one of: attributes, "
        "display_name, email, groups, password, password_hash, principal_tags, roles, "
        "source_identity, totp_secret)")
    missing = idp("metadata", "--config", "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.startswith("idp: error: nope.yaml: cannot read config file")
    assert "Traceback" not in missing.stderr


def test_bad_settings_are_one_line(tmp_path):
    """A bad base URL is refused with one line and exit 2."""
    result = idp("metadata", "--base-url", "ftp://x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "must be an absolute http(s) URL" in result.stderr


def test_unreadable_key_store_is_one_line(tmp_path):
    """A corrupt key file is reported, never silently replaced."""
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "signing.key").write_text("garbage")
    (certs / "signing.crt").write_text("garbage")
    result = idp("metadata", "--out", "-", cwd=tmp_path)
    assert result.returncode == 2 and "cannot read signing key pair" in result.stderr
    assert (certs / "signing.key").read_text() == "garbage"


def test_malformed_trust_policy_fails_the_check_with_its_line(tmp_path):
    """IAM refuses such a role at CreateRole; `idp config --check` refuses it the same way."""
    (tmp_path / "dir.yaml").write_text(
        'accounts:\n  "111122223333":\n    roles:\n      Admin:\n        trust_policy:\n'
        "          Statement:\n            - Effect: Allow\n              Principal: '*'\n"
        "              Action: sts:AssumeRoleWithSAML\n              Resource: '*'\n")
    result = idp("config", "--check", "dir.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("idp: error: dir.yaml:7: trust_policy is malformed: statement 1 "
                             "has prohibited field Resource\n")


def test_environment_typo_is_refused_not_read_as_false(tmp_path):
    """IDP_REPLAY_PROTECTION=flase would have turned replay protection off; now it is an error."""
    env = {**os.environ, "IDP_REPLAY_PROTECTION": "flase"}
    result = subprocess.run([sys.executable, "-m", "idp", "config", "--check", "x.yaml"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr == ("idp: error: settings: replay protection 'flase' must be aws, "
                             "strict or off (--replay-protection, IDP_REPLAY_PROTECTION)\n")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.live
@pytest.mark.parametrize("with_config", [False, True])
def test_banner_names_the_demo_users_only_for_the_demo(tmp_path, with_config):
    """`idp serve --config FILE` does not advertise alice/bob/carol/dave, who are not in FILE."""
    args = ["serve", "--host", "127.0.0.1", "--port", str(_free_port())]
    if with_config:
        (tmp_path / "dir.yaml").write_text(
            "users:\n  erin:\n    password: erin-password\n    email: erin@corp.example\n")
        args += ["--config", "dir.yaml"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    with subprocess.Popen([sys.executable, "-m", "idp", *args], cwd=tmp_path, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env={**env, "PYTHONUNBUFFERED": "1"}) as process:
        assert process.stdout is not None
        banner = []
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                banner.append(line)
                if not line or "Press Ctrl-C" in line:
                    break
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
    text = "".join(banner)
    assert "Press Ctrl-C" in text, text
    assert ("Demo users" in text) is not with_config
    assert ("built-in demo directory" in text) is not with_config


@pytest.mark.parametrize("command", ["serve", "keys", "metadata", "config", "mint", "login"])
def test_every_command_help_has_an_example(command: str, tmp_path: Path) -> None:
    result = idp(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "example" in result.stdout and f"idp {command}" in result.stdout.split("example")[1]


def test_mint_prints_a_signed_response_from_the_install_keys(tmp_path: Path) -> None:
    import base64

    from lxml import etree

    minted = idp("mint", "--user", "alice", "--role", "Developer", cwd=tmp_path)
    assert minted.returncode == 0, minted.stderr
    root = etree.fromstring(base64.b64decode(minted.stdout.strip()))
    assert root.get("Destination") == "http://127.0.0.1:8000/aws/saml"
    roles = [v.text for v in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue")
             if (v.text or "").startswith("arn:aws:iam::")]
    assert roles == ["arn:aws:iam::444455556666:role/Developer,"
                     "arn:aws:iam::444455556666:saml-provider/CorpIdP"]
    assert (tmp_path / "certs" / "signing.key").stat().st_mode & 0o777 == 0o600
    xml = idp("mint", "--user", "bob", "--fault", "unsigned", "--xml", cwd=tmp_path)
    assert xml.stdout.startswith("<samlp:Response") and "Signature" not in xml.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--user", "nobody"], "idp: error: user nobody is not in the directory"),
    (["--user", "bob", "--role", "Admin"], "idp: error: the user has no role Admin; their "
     "roles: arn:aws:iam::111122223333:role/ReadOnly"),
    (["--user", "bob", "--sp", "urn:nope"], "idp: error: service provider urn:nope is not "
     "registered"),
    (["--user", "bob", "--fault", "replay"], "idp: error: the replay fault re-sends a running "
     "simulator's previous Response; use Simulator.mint or the admin API for it"),
    (["--user", "bob", "--config", "missing.yaml"], "idp: error: missing.yaml: cannot read "
     "config file: No such file or directory"),
])
def test_mint_refusals_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = idp("mint", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == message


@pytest.mark.parametrize(("host", "reached"), [
    ("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"),  # noqa: S104
    ("::", "::1"), ("::1", "::1"),
    ("127.0.0.2", "127.0.0.2"), ("localhost", "127.0.0.1")])
def test_the_sign_in_proxy_dials_the_tls_listener_where_it_listens(host, reached):
    """``--connect-proxy`` with ``--host ::1`` (or 127.0.0.2) tunnels to that address."""
    from idp.cli import _loopback_of

    assert _loopback_of(host) == reached
