"""``idp token`` and ``idp keys --oidc`` as real processes: tokens that a real ``idp serve``
with the same certs folder and settings verifies (PyJWT against its JWKS over HTTP), the
``--out`` file, and one-line refusals."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.oidc.support import verify
from tests.support.server import child_env, free_port, start, stop
from tests.support.sts import sts_client

SUB = "system:serviceaccount:prod:deployer"
#: The demo role whose trust policy names this simulator's issuer, SUB and sts.amazonaws.com.
CI_DEPLOY = "arn:aws:iam::444455556666:role/CiDeploy"


def idp(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "idp", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**child_env(), **(env or {})})


def fetch_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        return json.load(response)


@pytest.mark.live
@pytest.mark.usefixtures("no_aws_config")
def test_tokens_verify_against_the_jwks_of_a_server_with_the_same_certs(tmp_path: Path):
    port = free_port()
    certs = tmp_path / "certs"
    # Before the server exists: the command makes the OIDC key pair, the server then uses it.
    early = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", "--certs-dir",
                str(certs), "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    assert early.returncode == 0, early.stderr
    assert stat.S_IMODE((certs / "oidc-signing.key").stat().st_mode) == 0o600
    server = start(tmp_path / "run", certs, port=port)
    try:
        url = server.url
        meta = fetch_json(f"{url}/oidc/.well-known/openid-configuration")
        assert meta["issuer"] == f"{url}/oidc"
        keys = fetch_json(meta["jwks_uri"])
        claims = verify(early.stdout, keys, audience="sts.amazonaws.com", issuer=meta["issuer"])
        assert claims["sub"] == SUB and claims["exp"] - claims["iat"] == 3600
        # The --out file as botocore sends it: the demo's CiDeploy role trusts this subject.
        out = tmp_path / "token.jwt"
        written = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", "--out", str(out),
                      "--certs-dir", str(certs), "--port", str(port), cwd=tmp_path)
        assert written.returncode == 0, written.stderr
        answer = sts_client(f"{url}/aws/sts").assume_role_with_web_identity(
            RoleArn=CI_DEPLOY, RoleSessionName="deploy", WebIdentityToken=out.read_text())
        assert answer["Provider"] == meta["issuer"]
        assert answer["SubjectFromWebIdentityToken"] == SUB
        # While it runs, with --base-url: the same key, several audiences, extra claims.
        later = idp("token", "--sub", "ci", "--aud", "a", "--aud", "b", "--ttl", "60",
                    "--claim", "repository=corp/app", "--claim", 'amr:=["mfa"]',
                    "--claim", "https://aws.amazon.com/tags:={\"principal_tags\": "
                    "{\"team\": [\"x\"]}}", "--certs-dir", str(certs), "--base-url", url,
                    cwd=tmp_path)
        assert later.returncode == 0, later.stderr
        claims = verify(later.stdout, keys, audience="b", issuer=meta["issuer"])
        assert claims["aud"] == ["a", "b"] and claims["exp"] - claims["iat"] == 60
        assert claims["repository"] == "corp/app" and claims["amr"] == ["mfa"]
        assert claims["https://aws.amazon.com/tags"] == {"principal_tags": {"team": ["x"]}}
        # Another base URL is another issuer: the server's discovery does not vouch for it.
        other = idp("token", "--sub", "x", "--aud", "a", "--certs-dir", str(certs),
                    "--base-url", "http://elsewhere.test:9", cwd=tmp_path)
        with pytest.raises(jwt.InvalidIssuerError):
            verify(other.stdout, keys, audience="a", issuer=meta["issuer"])
    finally:
        assert stop(server) == 0


def test_stdout_is_the_token_alone_when_piped(tmp_path: Path):
    result = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.count(".") == 2 and result.stdout == result.stdout.strip()
    claims = jwt.decode(result.stdout, options={"verify_signature": False})
    assert claims["iss"] == "http://127.0.0.1:8000/oidc"  # the default base URL


def test_the_base_url_comes_from_the_environment_like_idp_serve(tmp_path: Path):
    result = idp("token", "--sub", "s", "--aud", "a", cwd=tmp_path,
                 env={"IDP_BASE_URL": "https://idp.example.test"})
    assert jwt.decode(result.stdout, options={"verify_signature": False})["iss"] == (
        "https://idp.example.test/oidc")


def test_out_writes_a_0600_file_without_a_newline_atomically(tmp_path: Path):
    target = tmp_path / "token.jwt"
    target.write_text("old\n")
    target.chmod(0o644)
    result = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", "--out", str(target),
                 "--ttl", "900", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {target}") and result.stdout.count("\n") == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    content = target.read_bytes()
    assert not content.endswith(b"\n") and content.count(b".") == 2
    claims = jwt.decode(content, options={"verify_signature": False})
    assert claims["sub"] == SUB and claims["exp"] - claims["iat"] == 900
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certs", "token.jwt"]  # no temp


@pytest.mark.parametrize(("args", "message"), [
    (["--aud", "a"], "idp token: error: the following arguments are required: --sub "
     "(see idp token --help)"),
    (["--sub", "s"], "idp token: error: the following arguments are required: --aud "
     "(see idp token --help)"),
    (["--sub", "s", "--aud", "a", "--ttl", "soon"], "idp token: error: argument --ttl: "
     "invalid int value: 'soon' (see idp token --help)"),
    (["--sub", "s", "--aud", "a", "--ttl", "0"], "idp: error: the token lifetime must be "
     "1-86400 seconds, not 0"),
    (["--sub", "s", "--aud", "a", "--ttl", "86401"], "idp: error: the token lifetime must be "
     "1-86400 seconds, not 86401"),
    (["--sub", "", "--aud", "a"], "idp: error: a token needs a subject (--sub)"),
    (["--sub", "s", "--aud", ""], "idp: error: a token needs an audience (--aud)"),
    (["--sub", "s", "--aud", "a", "--claim", "novalue"], "idp: error: --claim 'novalue': "
     "expected KEY=VALUE or KEY:=JSON"),
    (["--sub", "s", "--aud", "a", "--claim", "=x"], "idp: error: --claim '=x': the claim "
     "name is empty"),
    (["--sub", "s", "--aud", "a", "--claim", "n:=nope"], "idp: error: --claim n:= needs a "
     "JSON value, not 'nope'"),
    (["--sub", "s", "--aud", "a", "--claim", "n=1", "--claim", "n:=2"], "idp: error: "
     "--claim n is given twice"),
    (["--sub", "s", "--aud", "a", "--base-url", "ftp://x"], None),
    (["--sub", "s", "--aud", "a", "--frobnicate"], "idp: error: unrecognized arguments: "
     "--frobnicate (see idp --help)"),
])
def test_refusals_are_one_line_and_exit_2(args: list[str], message: str | None,
                                          tmp_path: Path):
    result = idp("token", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    if message is not None:
        assert result.stderr.strip() == message


def test_an_unwritable_out_is_one_line(tmp_path: Path):
    if os.geteuid() == 0:
        target = tmp_path / "not-a-dir-file"
        target.write_text("")
        out = str(target / "token.jwt")  # a path under a file: fails even for root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = str(locked / "token.jwt")
    result = idp("token", "--sub", "s", "--aud", "a", "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("idp: error: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.live
def test_keys_makes_and_rotates_the_oidc_pair_and_the_jwks_keeps_the_old_one(tmp_path: Path):
    plain = idp("keys", cwd=tmp_path)
    assert plain.returncode == 0 and "OIDC signing key created" in plain.stdout
    assert "signing key created" in plain.stdout
    certs = tmp_path / "certs"
    original = (certs / "oidc-signing.key").read_bytes()
    again = idp("keys", "--oidc", cwd=tmp_path)
    assert again.returncode == 0 and "already exists" in again.stdout
    assert (certs / "oidc-signing.key").read_bytes() == original
    port = free_port()
    before = idp("token", "--sub", "s", "--aud", "a", "--port", str(port), cwd=tmp_path)
    rotated = idp("keys", "--oidc", "--rotate", cwd=tmp_path)
    assert rotated.returncode == 0 and "rotated" in rotated.stdout
    assert (certs / "oidc-previous.key").read_bytes() == original
    assert (certs / "oidc-signing.key").read_bytes() != original
    assert (certs / "signing.key").exists() and not (certs / "previous.key").exists()
    after = idp("token", "--sub", "s", "--aud", "a", "--port", str(port), cwd=tmp_path)
    server = start(tmp_path / "run", certs, port=port)
    try:
        keys = fetch_json(f"{server.url}/oidc/jwks")
        assert len(keys["keys"]) == 2
        for token in (before.stdout, after.stdout):
            assert verify(token, keys, audience="a", issuer=f"{server.url}/oidc")["sub"] == "s"
        assert jwt.get_unverified_header(after.stdout)["kid"] == keys["keys"][0]["kid"]
    finally:
        assert stop(server) == 0


def test_keys_help_and_token_help_have_examples(tmp_path: Path):
    for command in ("token", "keys"):
        result = idp(command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert f"idp {command}" in result.stdout.split("example")[1]
    assert "--oidc" in idp("keys", "--help", cwd=tmp_path).stdout


@pytest.mark.live
@pytest.mark.usefixtures("no_aws_config")
def test_a_key_rotated_while_serving_is_published_and_trusted_at_once(tmp_path: Path):
    """``idp keys --oidc --rotate`` next to a running server: ``idp token`` signs with the new
    key at once, so the server publishes it (and STS trusts it) from its next request; the
    server's own tokens and the old key's keep verifying."""
    port = free_port()
    certs = tmp_path / "certs"
    server = start(tmp_path / "run", certs, port=port)
    try:
        url = server.url
        old = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", "--certs-dir",
                  str(certs), "--port", str(port), cwd=tmp_path)
        rotated = idp("keys", "--oidc", "--rotate", "--certs-dir", str(certs), "--base-url",
                      url, cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        new = idp("token", "--sub", SUB, "--aud", "sts.amazonaws.com", "--certs-dir",
                  str(certs), "--port", str(port), cwd=tmp_path)
        kids = [key["kid"] for key in fetch_json(f"{url}/oidc/jwks")["keys"]]
        old_kid, new_kid = (jwt.get_unverified_header(t.stdout)["kid"] for t in (old, new))
        assert old_kid != new_kid and kids == [old_kid, new_kid]
        sts = sts_client(f"{url}/aws/sts")
        for token in (old.stdout, new.stdout):
            answer = sts.assume_role_with_web_identity(
                RoleArn=CI_DEPLOY, RoleSessionName="deploy", WebIdentityToken=token)
            assert answer["SubjectFromWebIdentityToken"] == SUB
    finally:
        assert stop(server) == 0


def test_the_clock_flags_stamp_the_token_as_a_server_with_that_clock(tmp_path: Path):
    """A server started with --frozen-clock or --clock-offset accepts tokens stamped by the
    same flags (the real clock would make them look issued years away)."""
    frozen = idp("token", "--sub", "s", "--aud", "a", "--frozen-clock",
                 "2030-01-01T00:00:00Z", cwd=tmp_path)
    assert frozen.returncode == 0, frozen.stderr
    claims = jwt.decode(frozen.stdout, options={"verify_signature": False})
    assert claims["iat"] == claims["nbf"] == 1893456000 and claims["exp"] == 1893459600
    ahead = idp("token", "--sub", "s", "--aud", "a", "--clock-offset", "86400", cwd=tmp_path)
    now = idp("token", "--sub", "s", "--aud", "a", cwd=tmp_path)
    moved = (jwt.decode(ahead.stdout, options={"verify_signature": False})["iat"]
             - jwt.decode(now.stdout, options={"verify_signature": False})["iat"])
    assert 86_390 <= moved <= 86_410
    bad = idp("token", "--sub", "s", "--aud", "a", "--frozen-clock", "yesterday",
              cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
