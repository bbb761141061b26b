"""The ``idp`` command, run as a real process: keys, metadata, config; errors are one line."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

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


def test_broken_config_is_one_line_and_exit_2(tmp_path):
    """A config mistake prints `idp: error: FILE:LINE: ...` once, with no traceback."""
    (tmp_path / "bad.yaml").write_text("users:\n  eve:\n    password: x\n    emial: e@x\n")
    result = idp("config", "--check", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "idp: error: bad.yaml:4: unknown key 'emial' in user eve (expected one of: attributes, "
        "display_name, email, groups, password, password_hash, principal_tags, source_identity, "
        "totp_secret)")
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
