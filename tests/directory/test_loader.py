"""The directory file: the demo's contract, and every mistake reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.directory import demo_yaml, load_directory, parse_directory
from idp.directory.model import AWS_ENTITY_ID
from idp.errors import ConfigError
from idp.saml.constants import NameIDFormat
from idp.saml.signing import Digest, SignatureAlgorithm
from tests.support.demo import AWS_ACS, demo_text, edited_demo


def parse(text: str):
    return parse_directory(text, aws_acs=AWS_ACS, source="dir.yaml")


def test_demo_directory_has_the_documented_accounts_roles_and_users(directory):
    """The demo names are a contract the README and later issues rely on."""
    assert {a.id: a.alias for a in directory.accounts.values()} == {
        "111122223333": "corp-prod", "444455556666": "corp-dev", "999988887777": "vendor"}
    assert {a.saml_provider for a in directory.accounts.values()} == {"CorpIdP"}
    roles = {r.arn: r.max_session_duration for a in directory.accounts.values() for r in a.roles}
    assert roles == {
        "arn:aws:iam::111122223333:role/Admin": 43200,
        "arn:aws:iam::111122223333:role/ReadOnly": 3600,
        "arn:aws:iam::111122223333:role/BreakGlass": 3600,
        "arn:aws:iam::111122223333:role/VendorAudit": 3600,
        "arn:aws:iam::444455556666:role/Developer": 3600,
        "arn:aws:iam::444455556666:role/Deployer": 3600,
        "arn:aws:iam::111122223333:role/WebServer": 3600,
        "arn:aws:iam::444455556666:role/Billing": 3600,
        "arn:aws:iam::444455556666:role/CiDeploy": 3600,
    }
    iam_users = {(a.id, u.name): ([k.id for k in u.access_keys], u.mfa_seed)
                 for a in directory.accounts.values() for u in a.iam_users}
    assert iam_users == {
        ("111122223333", "admin"): (["AKIAPRODADMINEXAMPLE"], None),
        ("444455556666", "admin"): (["AKIADEVADMINEXAMPLE0"], None),
        ("444455556666", "ops"): (["AKIAOPSUSEREXAMPLE00"], "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        ("999988887777", "auditor"): (["AKIAVENDORAUDITOR000"], None),
    }
    grants = {u: [g.role_arn.rsplit("/", 1)[1] for g in directory.roles_for(directory.user(u))]
              for u in directory.users}
    assert grants == {"alice": ["Admin", "ReadOnly", "Developer"], "bob": ["ReadOnly"],
                      "carol": ["Admin"], "dave": []}
    assert directory.user("carol").totp_secret == "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB"
    assert directory.user("alice").email == "alice@corp.example"


def test_demo_directory_has_the_documented_workloads_and_oidc_values(directory):
    """Issue 13's fixed demo values: the instance, the task, the OIDC client and provider."""
    instance = directory.instances["i-0123456789abcdef0"]
    assert (instance.account_id, instance.role_arn, instance.http_tokens) == (
        "111122223333", "arn:aws:iam::111122223333:role/WebServer", "required")
    assert instance.profile_name == "WebServer" and instance.zone == "us-east-1a"
    task = directory.tasks["billing-task"]
    assert (task.account_id, task.role_arn, task.authorization_token) == (
        "444455556666", "arn:aws:iam::444455556666:role/Billing", "billing-task-token")
    client = directory.oidc_clients["sample-web-app"]
    assert client.public and client.redirect_uris == ("http://127.0.0.1:8765/callback",)
    issuer = AWS_ACS.removesuffix("/aws/saml") + "/oidc"
    assert directory.oidc_issuer == issuer
    (provider,) = directory.accounts["444455556666"].oidc_providers
    assert (provider.url, provider.client_ids) == (issuer, ("sts.amazonaws.com",))
    _, role = directory.role("arn:aws:iam::444455556666:role/CiDeploy")
    host = issuer.split("://", 1)[1]
    (statement,) = role.trust_policy.source["Statement"]
    assert statement["Principal"] == {
        "Federated": f"arn:aws:iam::444455556666:oidc-provider/{host}"}
    assert statement["Condition"] == {"StringEquals": {
        f"{host}:sub": "system:serviceaccount:prod:deployer", f"{host}:aud": "sts.amazonaws.com"}}


def test_role_grants_pair_the_role_with_its_own_accounts_provider(directory):
    """Each Role value is role-arn,provider-arn with the provider of the role's account."""
    values = [g.attribute_value for g in directory.roles_for(directory.user("alice"))]
    assert "arn:aws:iam::444455556666:role/Developer,"\
        "arn:aws:iam::444455556666:saml-provider/CorpIdP" in values


def test_each_role_trusts_its_accounts_provider_for_assume_role_with_saml(directory):
    """Default trust policy: Principal.Federated is the account's provider."""
    account = directory.accounts["444455556666"]
    (statement,) = account.roles[0].trust_policy.statements
    assert statement.principals == (("Federated", account.provider_arn),)
    assert statement.actions == ("sts:AssumeRoleWithSAML",)


def test_aws_sp_is_always_registered_with_the_console_acs(directory):
    """Without service_providers the AWS SP still exists, pointing at /aws/saml."""
    sp = directory.service_provider(AWS_ENTITY_ID)
    assert sp is not None and sp.acs_urls == (AWS_ACS,)


def test_aws_sp_can_be_pointed_at_real_aws():
    """A config may send users to https://signin.aws.amazon.com/saml instead."""
    d = edited_demo(lambda demo: demo.update(service_providers=[
        {"entity_id": AWS_ENTITY_ID, "acs_urls": ["https://signin.aws.amazon.com/saml"],
         "session_duration": 43200}]), source="dir.yaml")
    sp = d.service_provider(AWS_ENTITY_ID)
    assert sp.acs_urls == ("https://signin.aws.amazon.com/saml",)
    assert sp.session_duration == 43200


def test_plain_passwords_are_hashed_at_load(directory):
    """No plaintext password survives loading."""
    assert directory.user("bob").password_hash.startswith("pbkdf2-sha256$")
    assert "bob-password" not in directory.user("bob").password_hash


def test_sp_signing_choices_are_parsed():
    """Per-SP signing: both elements, SHA-512, and SHA-1 only when explicitly asked."""
    d = parse(
        "service_providers:\n"
        "  - entity_id: https://sp.test\n    acs_urls: [https://sp.test/acs]\n"
        "    sign_response: true\n    signature_algorithm: rsa-sha512\n"
        "    digest_algorithm: sha512\n    name_id_format: email\n"
        "  - entity_id: https://legacy.test\n    acs_urls: [https://legacy.test/acs]\n"
        "    signature_algorithm: rsa-sha1\n    digest_algorithm: sha1\n"
    )
    sp = d.service_provider("https://sp.test")
    assert sp.signing.sign_response and sp.signing.sign_assertion
    assert sp.signing.signature_algorithm is SignatureAlgorithm.RSA_SHA512
    assert sp.signing.digest is Digest.SHA512
    assert sp.name_id_format is NameIDFormat.EMAIL
    assert d.service_provider("https://legacy.test").signing.uses_sha1
    assert not sp.signing.uses_sha1


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("users:\n  x:\n    pasword: a\n", 3, "unknown key 'pasword'"),
        ("users:\n  x:\n    password: a\n", 2, "needs an email"),
        ("users:\n  x:\n    password: a\n    password_hash: b\n    email: x@y\n", 2,
         "exactly one of password / password_hash"),
        ("users:\n  x:\n    password: a\n    email: nope\n", 4, "has no '@'"),
        ("users:\n  x:\n    password: a\n    email: x@y\n    groups: [ghost]\n", 5,
         "group 'ghost', not defined"),
        ("users:\n  x:\n    password: a\n    email: x@y\n    totp_secret: '!!'\n", 5,
         "base32"),
        ("users:\n  x:\n    password: a\n    email: x@y\n    totp_secret: MZXW6YTB\n", 5,
         "at least 128"),
        ("accounts:\n  '1234':\n    alias: x\n", 2, "must be 12 digits"),
        ("accounts:\n  '111122223333':\n    roles:\n      Admin:\n"
         "        max_session_duration: 99\n", 5, "between 3600 and 43200"),
        ("groups:\n  g:\n    roles: ['arn:aws:iam::111122223333:role/Nope']\n", 3,
         "which no account defines"),
        ("groups:\n  g:\n    roles: [not-an-arn]\n", 3, "is not a role ARN"),
        ("users:\n  a: {}\n  a: {}\n", 3, "duplicate key 'a'"),
        ("users: [1, 2]\n", 1, "users must be a mapping"),
        ("service_providers:\n  - acs_urls: [https://x]\n", 2, "needs an entity_id"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: [ftp://x]\n", 3, "http(s) URL"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: [https://x]\n"
         "    signature_algorithm: rsa-md5\n", 4, "unsupported signature_algorithm"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: [https://x]\n"
         "    want_authn_requests_signed: true\n", 4, "needs the SP's certificates"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: [https://x]\n"
         "    sign_assertion: false\n", 2, "at least one of sign_assertion"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: [https://x]\n"
         "    name_id_format: kerberos\n", 4, "unsupported name_id_format"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: ['http://[::1/acs']\n", 3,
         "absolute http(s) URL"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: ['http://u:p@evil.test/']\n", 3,
         "no user name"),
        ("service_providers:\n  - entity_id: e\n    acs_urls: ['http://a b/']\n", 3,
         "absolute http(s) URL"),
        (f"service_providers:\n  - entity_id: {'e' * 1025}\n    acs_urls: [https://x]\n", 2,
         "longer than 1024"),
        ("accounts:\n  '111122223333':\n    roles:\n      R/1: {}\n", 4,
         "not a valid IAM role name"),
        ("users:\n  x: [\n", 3, "YAML syntax error"),
        ("colour: blue\n", 1, "unknown key 'colour' in the top level"),
    ],
)
def test_mistakes_are_reported_with_file_line_and_reason(text, line, message):
    """A broken file names itself, the line, and what is wrong."""
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert message in str(info.value)
    assert str(info.value).startswith(f"dir.yaml:{line}: "), str(info.value)


def test_load_directory_reports_unreadable_and_non_utf8_files(tmp_path: Path):
    """Missing and non-UTF-8 files get a clear ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_directory(tmp_path / "missing.yaml", aws_acs=AWS_ACS)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"users:\n  j\xe9r\xf4me: {}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_directory(bad, aws_acs=AWS_ACS)


def test_demo_yaml_round_trips_through_a_file(tmp_path: Path):
    """What `idp config --demo` prints loads back to the same users."""
    path = tmp_path / "demo.yaml"
    path.write_text(demo_yaml())
    assert set(load_directory(path, aws_acs=AWS_ACS).users) == {"alice", "bob", "carol", "dave"}


def test_sp_certificate_must_be_a_regular_file():
    """A certificates entry naming /dev/zero is refused instead of read forever."""
    with pytest.raises(ConfigError, match="not a regular file"):
        parse("service_providers:\n  - entity_id: e\n    acs_urls: [https://x]\n"
              "    certificates: /dev/zero\n")


# --- IAM users, groups, policies (the IAM twin's starting state) ---------------------------

def _dev(edit):
    """The demo with corp-dev's account body changed by ``edit``."""
    return lambda demo: edit(demo["accounts"]["444455556666"])


def _ops(edit):
    return _dev(lambda dev: edit(dev["iam_users"]["ops"]))


IDENTITY = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}


@pytest.mark.parametrize(("edit", "message"), [
    (_ops(lambda ops: ops["access_keys"][0].update(id="AKIAshort")), "must be AKIA and 16"),
    (_ops(lambda ops: ops["access_keys"][0].update(secret="x" * 39)), "40 of A-Z"),
    (_ops(lambda ops: ops["access_keys"][0].update(status="Gone")), "Active or Inactive"),
    (_ops(lambda ops: ops["access_keys"].extend([
        {"id": "AKIAOPSUSEREXAMPLE01", "secret": "a" * 40},
        {"id": "AKIAOPSUSEREXAMPLE02", "secret": "b" * 40}])), "IAM allows 2"),
    (_ops(lambda ops: ops["access_keys"].append({"id": "AKIAOPSUSEREXAMPLE00",
                                                  "secret": "c" * 40})),
     "more than one IAM user"),
    (_ops(lambda ops: ops["access_keys"].append({"secret": "c" * 40})), "needs an id"),
    (_ops(lambda ops: ops.update(mfa_seed="GEZDGNBV")), "mfa_seed is 40 bits"),
    (_ops(lambda ops: ops.update(groups=["nope"])), "IAM group 'nope'"),
    (_ops(lambda ops: ops.update(path="no-slash")), "path must start and end"),
    (_ops(lambda ops: ops.update(policies={"P": {**IDENTITY, "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
         "Principal": "*"}]}})), "is malformed"),
    (_ops(lambda ops: ops.update(policies={"P": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole"}]}})), "is malformed"),
    (_ops(lambda ops: ops.update(policies={"bad name!": IDENTITY})), "policy name"),
    (_ops(lambda ops: ops.update(password="x", password_hash="y")), "exactly one of"),
    (_ops(lambda ops: ops.update(unknown=1)), "unknown key 'unknown'"),
    (_dev(lambda dev: dev["iam_users"].update(OPS={})), "differ only in case"),
    (_dev(lambda dev: dev["iam_users"].update({"bad/name": {}})), "IAM user name"),
    (_dev(lambda dev: dev.update(alias="corp-prod")), "already another account's"),
    (_dev(lambda dev: dev.update(alias="Not-Lower")), "lower-case"),
    (_dev(lambda dev: dev.update(alias="123456")), "not all digits"),
    (_dev(lambda dev: dev["roles"].update(deployer={})), "differ only in case"),
    (_dev(lambda dev: dev["roles"]["Deployer"].update(description="d" * 1001)),
     "longer than 1000"),
    (_dev(lambda dev: dev["roles"]["Deployer"].update(tags={"aws:x": "y"})), "aws:"),
])
def test_iam_mistakes_are_reported_with_the_field(edit, message):
    with pytest.raises(ConfigError, match=message):
        edited_demo(edit)


def test_iam_users_groups_and_role_policies_are_read():
    d = edited_demo(_dev(lambda dev: (
        dev.update(iam_groups={"Deployers": {"policies": {"Deploy": IDENTITY}}}),
        dev["iam_users"]["ops"].update(groups=["Deployers"], tags={"team": "ops"}),
        dev["roles"]["Deployer"].update(tags={"app": "deploy"}, description="CI"))))
    dev = d.accounts["444455556666"]
    ops = next(u for u in dev.iam_users if u.name == "ops")
    assert ops.groups == ("Deployers",) and ops.tags == {"team": "ops"}
    assert [g.name for g in dev.iam_groups] == ["Deployers"]
    deployer = next(r for r in dev.roles if r.name == "Deployer")
    assert deployer.tags == {"app": "deploy"} and deployer.description == "CI"
    assert list(deployer.policies) == ["ChainToProdReadOnly"]


def test_a_key_given_to_two_users_is_reported_at_the_second():
    def edit(demo):
        demo["accounts"]["999988887777"]["iam_users"]["auditor"]["access_keys"][0]["id"] = \
            "AKIAOPSUSEREXAMPLE00"
    with pytest.raises(ConfigError) as info:
        edited_demo(edit)
    assert "444455556666/ops and 999988887777/auditor" in info.value.message
    lines = [n for n, line in enumerate(demo_text(edit).splitlines(), 1)
             if "AKIAOPSUSEREXAMPLE00" in line]
    assert len(lines) == 2 and info.value.line == lines[1]
