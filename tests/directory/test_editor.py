"""Runtime directory edits (``DirectoryDocument``): each edit is a new document, validated as a
whole file would be; a refusal is a ``DirectoryEditError`` naming the field and changes
nothing. Also ``resolve_role``, ``sp_from_metadata`` and users' own ``roles:`` in the loader."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cryptography import x509

from idp.directory import Directory, demo_yaml, parse_directory
from idp.directory.editor import DirectoryDocument, resolve_role, sp_from_metadata
from idp.directory.passwords import hash_password, verify_password
from idp.errors import ConfigError, DirectoryEditError
from idp.keys import KeyPair
from idp.saml.constants import NameIDFormat
from tests.support.demo import (
    ADMIN,
    AWS_ACS,
    AWS_ENTITY_ID,
    DEV,
    DEVELOPER,
    PROD,
    PROD_PROVIDER,
    READ_ONLY,
)

APP = "https://app.example.test/saml"
NEW_ACCOUNT = "555566667777"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


@pytest.fixture(scope="module")
def demo() -> tuple[DirectoryDocument, Directory]:
    """The demo read once (reading hashes four passwords)."""
    return DirectoryDocument.read(demo_yaml(), aws_acs=AWS_ACS, source="<demo>")


@pytest.fixture
def doc(demo: tuple[DirectoryDocument, Directory]) -> DirectoryDocument:
    """A private copy of the demo document (its passwords already hashed)."""
    return DirectoryDocument(copy.deepcopy(dict(demo[0].data)), AWS_ACS)


@pytest.fixture
def built(doc: DirectoryDocument) -> Directory:
    return doc.build()


def refused(doc: DirectoryDocument, edit: Any, field: str | None, *, status: int = 400
            ) -> DirectoryEditError:
    """``edit(doc)`` is refused naming ``field``, and ``doc`` is exactly as it was."""
    before = copy.deepcopy(doc.data)
    with pytest.raises(DirectoryEditError) as caught:
        edit(doc)
    assert caught.value.field == field
    assert caught.value.http_status == status
    assert doc.data == before
    return caught.value


def arns(directory: Directory, user: str) -> list[str]:
    found = directory.user(user)
    assert found is not None
    return [grant.role_arn for grant in directory.roles_for(found)]


# --- reading --------------------------------------------------------------------------------


def test_read_hashes_each_plain_password_once(demo):
    document, directory = demo
    for name, body in document.data["users"].items():
        assert "password" not in body
        assert body["password_hash"] == directory.users[name].password_hash
        assert verify_password(f"{name}-password", body["password_hash"])


def test_build_does_not_hash_again(doc):
    first, second = doc.build(), doc.build()
    assert first.users["alice"].password_hash == second.users["alice"].password_hash
    assert first.users["alice"].password_hash == doc.data["users"]["alice"]["password_hash"]


def test_an_edit_does_not_rehash_the_other_users(doc):
    before = doc.build().users["alice"].password_hash
    after = doc.with_user("erin", password="erin-pw").build()
    assert after.users["alice"].password_hash == before
    assert doc.data["users"]["alice"]["password_hash"] == before


def test_read_keeps_a_password_hash_as_it_is():
    stored = hash_password("pw")
    text = f"users:\n  bob:\n    password_hash: '{stored}'\n    email: bob@x.example\n"
    document, directory = DirectoryDocument.read(text, aws_acs=AWS_ACS, source="d.yaml")
    assert document.data["users"]["bob"]["password_hash"] == stored
    assert directory.users["bob"].password_hash == stored


def test_read_reports_a_broken_file_with_its_line():
    with pytest.raises(ConfigError) as caught:
        DirectoryDocument.read("users:\n  bob:\n    emial: x\n", aws_acs=AWS_ACS,
                               source="d.yaml")
    assert not isinstance(caught.value, DirectoryEditError)
    assert str(caught.value).startswith("d.yaml:3: unknown key 'emial'")


def test_from_data_hashes_without_touching_the_callers_mapping():
    data = {"users": {"bob": {"password": "pw", "email": "bob@x.example"}}}
    original = copy.deepcopy(data)
    document, directory = DirectoryDocument.from_data(data, aws_acs=AWS_ACS)
    assert data == original
    assert "password" not in document.data["users"]["bob"]
    assert verify_password("pw", directory.users["bob"].password_hash)
    assert directory.source == "<mapping>"


def test_from_data_refuses_what_yaml_cannot_hold():
    with pytest.raises(ConfigError) as caught:
        DirectoryDocument.from_data({"users": {"bob": object()}}, aws_acs=AWS_ACS)
    assert str(caught.value).startswith("<mapping>: the directory mapping cannot be written")


def test_from_data_reports_invalid_data():
    with pytest.raises(ConfigError, match="needs an email"):
        DirectoryDocument.from_data({"users": {"bob": {"password": "pw"}}}, aws_acs=AWS_ACS)


# --- users ----------------------------------------------------------------------------------


def test_with_user_is_a_new_document_and_the_original_is_unchanged(doc):
    before = copy.deepcopy(doc.data)
    edited = doc.with_user("erin", password="erin-pw", email="erin@corp.example",
                           display_name="Erin", groups=["staff"], roles=["ReadOnly"])
    assert doc.data == before and "erin" not in doc.data["users"]
    assert edited is not doc and edited.aws_acs == doc.aws_acs
    # A deep copy: no nested dict is shared between the two documents.
    assert edited.data["users"]["alice"] == doc.data["users"]["alice"]
    assert edited.data["users"]["alice"] is not doc.data["users"]["alice"]
    assert edited.data["accounts"] is not doc.data["accounts"]
    body = edited.data["users"]["erin"]
    assert "password" not in body and verify_password("erin-pw", body["password_hash"])
    erin = edited.build().users["erin"]
    assert (erin.email, erin.display_name, erin.groups) == ("erin@corp.example", "Erin",
                                                            ("staff",))


def test_with_user_defaults(doc):
    erin = doc.with_user("erin", password="pw").build().users["erin"]
    assert (erin.email, erin.display_name, erin.groups, erin.roles) == (
        "erin@example.test", "erin", (), ())
    assert erin.totp_secret is None


def test_with_user_optional_fields(doc):
    edited = doc.with_user("erin", password="pw", totp_secret="MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB",
                           attributes={"department": "Audit", "teams": ("a", "b")},
                           principal_tags={"CostCenter": "42"}, source_identity="erin-id")
    erin = edited.build().users["erin"]
    assert erin.totp_secret == "MNQXE33MFVSGK3LPFV2G65DQFVVWK6JB"
    assert dict(erin.attributes) == {"department": ("Audit",), "teams": ("a", "b")}
    assert dict(erin.principal_tags) == {"CostCenter": "42"}
    assert erin.source_identity == "erin-id"


def test_a_users_own_roles_are_granted_after_their_groups(doc, built):
    edited = doc.with_user("erin", password="pw", groups=["aws-prod-readonly"],
                           roles=[DEVELOPER, "Admin"], directory=built)
    assert edited.data["users"]["erin"]["roles"] == [DEVELOPER, ADMIN]
    directory = edited.build()
    assert arns(directory, "erin") == [READ_ONLY, DEVELOPER, ADMIN]
    providers = [g.provider_arn for g in directory.roles_for(directory.users["erin"])]
    assert providers[2] == PROD_PROVIDER


def test_with_user_resolves_role_names_with_its_own_directory_when_none_is_given(doc):
    edited = doc.with_user("erin", password="pw", roles=["Developer"])
    assert edited.data["users"]["erin"]["roles"] == [DEVELOPER]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "", "password": "pw"}, "name"),
        ({"name": "   ", "password": "pw"}, "name"),
        ({"name": "erin", "password": ""}, "password"),
        ({"name": "alice", "password": "pw"}, "name"),
        ({"name": "erin", "password": "pw", "roles": ["Nope"]}, "roles"),
        ({"name": "erin", "password": "pw", "roles": ["arn:aws:iam::111122223333:role/Nope"]},
         "roles"),
    ],
    ids=["empty-name", "blank-name", "empty-password", "exists", "unknown-role",
         "unknown-arn"],
)
def test_with_user_refusals(doc, built, kwargs, field):
    name = kwargs.pop("name")
    refused(doc, lambda d: d.with_user(name, directory=built, **kwargs), field)


def test_with_user_replace_replaces(doc):
    edited = doc.with_user("alice", password="new-pw", email="a@new.example", replace=True)
    alice = edited.build().users["alice"]
    assert alice.email == "a@new.example" and alice.groups == ()
    assert verify_password("new-pw", alice.password_hash)
    assert doc.build().users["alice"].email == "alice@corp.example"


def test_an_edit_the_loader_refuses_fails_at_build_and_changes_nothing(doc):
    before = copy.deepcopy(doc.data)
    edited = doc.with_user("erin", password="pw", groups=["no-such-group"])
    with pytest.raises(DirectoryEditError) as caught:
        edited.build()
    assert "group 'no-such-group', not defined" in str(caught.value)
    assert str(caught.value).startswith("directory edit: ")
    assert doc.data == before
    assert "erin" not in doc.build().users


def test_without_user(doc):
    edited = doc.without_user("bob")
    assert "bob" not in edited.build().users
    assert "bob" in doc.data["users"]


def test_without_an_unknown_user_is_a_404_on_the_name(doc):
    refused(doc, lambda d: d.without_user("nobody"), "name", status=404)


# --- grants ---------------------------------------------------------------------------------


def test_with_grant_adds_a_direct_grant_once(doc, built):
    edited = doc.with_grant("bob", "Developer", built)
    again = edited.with_grant("bob", DEVELOPER, built)
    assert again.data["users"]["bob"]["roles"] == [DEVELOPER]
    assert arns(again.build(), "bob") == [READ_ONLY, DEVELOPER]
    assert "roles" not in doc.data["users"]["bob"]  # nested dict of the original untouched


def test_with_grant_refusals(doc, built):
    refused(doc, lambda d: d.with_grant("nobody", "Admin", built), "user", status=404)
    refused(doc, lambda d: d.with_grant("bob", "Nope", built), "roles")


def test_without_grant_removes_a_direct_grant(doc, built):
    granted = doc.with_grant("bob", "Admin", built)
    revoked = granted.without_grant("bob", ADMIN, built)
    assert revoked.data["users"]["bob"]["roles"] == []
    assert arns(revoked.build(), "bob") == [READ_ONLY]
    assert granted.data["users"]["bob"]["roles"] == [ADMIN]


def test_without_grant_refusals(doc, built):
    refused(doc, lambda d: d.without_grant("nobody", "Admin", built), "user", status=404)
    error = refused(doc, lambda d: d.without_grant("bob", "ReadOnly", built), "role",
                    status=404)
    assert "not granted" in str(error) and "directly" in str(error)  # bob's is a group's
    refused(doc, lambda d: d.without_grant("bob", "Nope", built), "roles")


# --- roles ----------------------------------------------------------------------------------


def test_with_role_defaults_to_the_first_account(doc):
    edited = doc.with_role("Auditor")
    found = edited.build().role(f"arn:aws:iam::{PROD}:role/Auditor")
    assert found is not None
    account, role = found
    assert account.id == PROD and role.max_session_duration == 3600 and role.path == "/"
    assert "Auditor" not in doc.data["accounts"][PROD]["roles"]


def test_with_role_options(doc):
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROD_PROVIDER},
        "Action": ["sts:AssumeRoleWithSAML", "sts:TagSession"]}]}
    edited = doc.with_role("Auditor", account=PROD, max_session_duration=7200,
                           trust_policy=policy, path="/audit/")
    found = edited.build().role(f"arn:aws:iam::{PROD}:role/audit/Auditor")
    assert found is not None
    _, role = found
    assert role.max_session_duration == 7200
    assert role.trust_policy.statements[0].actions == ("sts:AssumeRoleWithSAML",
                                                       "sts:TagSession")


def test_with_role_in_a_new_account_creates_it_with_a_corpidp_provider(doc):
    directory = doc.with_role("Ops", account=NEW_ACCOUNT).build()
    account = directory.accounts[NEW_ACCOUNT]
    assert account.provider_arn == f"arn:aws:iam::{NEW_ACCOUNT}:saml-provider/CorpIdP"
    assert [role.name for role in account.roles] == ["Ops"]
    assert NEW_ACCOUNT not in doc.data["accounts"]


@pytest.mark.parametrize("account", ["12345", "1111222233334", "abcdefghijkl", "11112222333x"])
def test_with_role_refuses_a_bad_account_id(doc, account):
    refused(doc, lambda d: d.with_role("Ops", account=account), "account")


def test_with_role_refusals(doc):
    refused(doc, lambda d: d.with_role("Admin", account=PROD), "name")
    refused(doc, lambda d: d.with_role(""), "name")
    empty = DirectoryDocument({"users": {}}, AWS_ACS)
    refused(empty, lambda d: d.with_role("Ops"), "account")


def test_with_role_invalid_for_iam_is_refused_at_build(doc):
    with pytest.raises(DirectoryEditError, match="not a valid IAM role name"):
        doc.with_role("bad name!").build()
    with pytest.raises(DirectoryEditError, match="between 3600 and 43200"):
        doc.with_role("Short", max_session_duration=60).build()


# --- resolve_role ---------------------------------------------------------------------------


def test_resolve_role_by_unique_name_or_arn(built):
    assert resolve_role("Developer", built) == DEVELOPER
    assert resolve_role(ADMIN, built) == ADMIN


def test_resolve_role_refusals(doc, built):
    ambiguous = doc.with_role("Admin", account=DEV).build()
    with pytest.raises(DirectoryEditError) as caught:
        resolve_role("Admin", ambiguous)
    assert caught.value.field == "roles"
    assert "ambiguous" in str(caught.value) and f"arn:aws:iam::{DEV}:role/Admin" in \
        str(caught.value)
    assert resolve_role(ADMIN, ambiguous) == ADMIN  # the ARN still says which
    for unknown in ("Nope", "admin", f"arn:aws:iam::{PROD}:role/Nope"):
        with pytest.raises(DirectoryEditError) as caught:
            resolve_role(unknown, built)
        assert caught.value.field == "roles"


# --- service providers ----------------------------------------------------------------------


def test_with_service_provider(doc):
    entry = {"entity_id": APP, "acs_urls": ("https://app.example.test/acs",),
             "name_id_format": "email", "audience": None}
    edited = doc.with_service_provider(entry)
    assert edited.data["service_providers"] == [
        {"entity_id": APP, "acs_urls": ["https://app.example.test/acs"],
         "name_id_format": "email"}]
    sp = edited.build().service_provider(APP)
    assert sp is not None and sp.name_id_format is NameIDFormat.EMAIL
    assert doc.data["service_providers"] == []


def test_with_service_provider_refusals(doc):
    edited = doc.with_service_provider({"entity_id": APP, "acs_urls": ["https://a.test/acs"]})
    refused(edited, lambda d: d.with_service_provider(
        {"entity_id": APP, "acs_urls": ["https://b.test/acs"]}), "entity_id")
    refused(doc, lambda d: d.with_service_provider(
        {"entity_id": AWS_ENTITY_ID, "acs_urls": ["https://signin.aws.amazon.com/saml"]}),
        "entity_id")
    for entry in ({}, {"entity_id": ""}, {"entity_id": 7}):
        refused(doc, lambda d, entry=entry: d.with_service_provider(entry), "entity_id")


def test_with_service_provider_replace(doc):
    first = doc.with_service_provider({"entity_id": APP, "acs_urls": ["https://a.test/acs"]})
    second = first.with_service_provider({"entity_id": APP, "acs_urls": ["https://b.test/acs"]},
                                         replace=True)
    assert second.build().service_providers[APP].acs_urls == ("https://b.test/acs",)
    aws = doc.with_service_provider({"entity_id": AWS_ENTITY_ID,
                                     "acs_urls": ["https://signin.aws.amazon.com/saml"]},
                                    replace=True)
    assert aws.build().service_providers[AWS_ENTITY_ID].acs_urls == (
        "https://signin.aws.amazon.com/saml",)


def test_a_service_provider_the_loader_refuses_fails_at_build(doc):
    with pytest.raises(DirectoryEditError, match="must be an absolute http"):
        doc.with_service_provider({"entity_id": APP, "acs_urls": ["ftp://x/acs"]}).build()


# --- sp_from_metadata -----------------------------------------------------------------------


def sp_metadata(children: str, *, entity_id: str = APP, attributes: str = "",
                wrap: bool = False) -> bytes:
    descriptor = (
        f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">'
        f'<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"'
        f' {attributes}>{children}</md:SPSSODescriptor></md:EntityDescriptor>'
    )
    if wrap:
        descriptor = ('<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
                      f'{descriptor}</md:EntitiesDescriptor>')
    return descriptor.encode()


def acs(location: str, *, binding: str = POST, extra: str = "") -> str:
    return f'<md:AssertionConsumerService Binding="{binding}" Location="{location}" {extra}/>'


def key_descriptor(cert_b64: str, use: str | None = "signing") -> str:
    use_attr = f' use="{use}"' if use else ""
    return (f"<md:KeyDescriptor{use_attr}><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"
            f"{cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>")


def test_sp_metadata_minimal():
    assert sp_from_metadata(sp_metadata(acs("https://app.example.test/acs"))) == {
        "entity_id": APP, "acs_urls": ["https://app.example.test/acs"]}


def test_sp_metadata_keeps_only_http_post_acs_urls():
    entry = sp_from_metadata(sp_metadata(
        acs("https://app.example.test/redirect", binding=REDIRECT)
        + acs("https://app.example.test/post")
        + acs("", extra='index="3"')))
    assert entry["acs_urls"] == ["https://app.example.test/post"]


def test_sp_metadata_puts_the_default_acs_first_then_by_index():
    entry = sp_from_metadata(sp_metadata(
        acs("https://a.test/i2", extra='index="2"')
        + acs("https://a.test/i10", extra='index="10"')
        + acs("https://a.test/default", extra='index="5" isDefault="true"')
        + acs("https://a.test/i1", extra='index="1" isDefault="false"')))
    assert entry["acs_urls"] == ["https://a.test/default", "https://a.test/i1",
                                 "https://a.test/i2", "https://a.test/i10"]


def test_sp_metadata_signing_certificates_become_pem(keypair: KeyPair):
    wrapped = "\n".join(keypair.cert_b64[i:i + 64] for i in range(0, len(keypair.cert_b64), 64))
    entry = sp_from_metadata(sp_metadata(
        key_descriptor(f"\n  {wrapped}\n  ")
        + key_descriptor(keypair.cert_b64, use=None)
        + key_descriptor("ENCRYPTIONONLY", use="encryption")
        + acs("https://app.example.test/acs")))
    assert len(entry["certificates"]) == 2
    for pem in entry["certificates"]:
        assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
        assert pem.endswith("\n-----END CERTIFICATE-----\n")
        assert x509.load_pem_x509_certificate(pem.encode()) == keypair.certificate


def test_sp_metadata_authn_requests_signed_and_the_entry_builds(doc, keypair: KeyPair):
    entry = sp_from_metadata(sp_metadata(key_descriptor(keypair.cert_b64)
                                         + acs("https://app.example.test/acs"),
                                         attributes='AuthnRequestsSigned="true"'))
    assert entry["want_authn_requests_signed"] is True
    sp = doc.with_service_provider(entry).build().service_provider(APP)
    assert sp is not None and sp.want_authn_requests_signed
    assert sp.certificates == tuple(entry["certificates"])
    unsigned = sp_from_metadata(sp_metadata(acs("https://a.test/acs"),
                                            attributes='AuthnRequestsSigned="false"'))
    assert "want_authn_requests_signed" not in unsigned


def test_sp_metadata_takes_the_first_name_id_format_the_idp_can_issue():
    formats = "".join(f"<md:NameIDFormat> {value} </md:NameIDFormat>" for value in (
        NameIDFormat.X509_SUBJECT.value, "urn:example:not-a-format", NameIDFormat.EMAIL.value,
        NameIDFormat.PERSISTENT.value))
    entry = sp_from_metadata(sp_metadata(formats + acs("https://a.test/acs")))
    assert entry["name_id_format"] == NameIDFormat.EMAIL.value
    none_issuable = sp_from_metadata(sp_metadata(
        f"<md:NameIDFormat>{NameIDFormat.KERBEROS.value}</md:NameIDFormat>"
        + acs("https://a.test/acs")))
    assert "name_id_format" not in none_issuable


def test_sp_metadata_inside_an_entities_descriptor():
    entry = sp_from_metadata(sp_metadata(acs("https://a.test/acs"), wrap=True))
    assert entry["entity_id"] == APP


@pytest.mark.parametrize(
    "xml",
    [
        b"not xml at all",
        b"<md:EntityDescriptor",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>',
        b"",
        sp_metadata(acs("https://a.test/acs"), entity_id=""),
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">'
        b"<md:IDPSSODescriptor/></md:EntityDescriptor>",
        b'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
        b'<EntityDescriptor entityID="x"><SPSSODescriptor/></EntityDescriptor>',
        sp_metadata(acs("https://a.test/acs", binding=REDIRECT)),
        sp_metadata(""),
    ],
    ids=["text", "truncated", "doctype", "empty", "no-entity-id", "idp-metadata",
         "empty-entities", "no-namespace", "redirect-only", "no-acs"],
)
def test_sp_metadata_refusals(xml):
    with pytest.raises(DirectoryEditError) as caught:
        sp_from_metadata(xml)
    assert caught.value.field == "metadata_xml"


def test_sp_metadata_over_a_mebibyte_is_refused():
    padding = "<!--" + "x" * (1024 * 1024) + "-->"
    with pytest.raises(DirectoryEditError, match="not acceptable XML") as caught:
        sp_from_metadata(sp_metadata(padding + acs("https://a.test/acs")))
    assert caught.value.field == "metadata_xml"


def test_sp_metadata_reads_xs_boolean_one_as_true():
    entry = sp_from_metadata(sp_metadata(
        acs("https://a.test/first", extra='index="0"')
        + acs("https://a.test/default", extra='index="1" isDefault="1"'),
        attributes='AuthnRequestsSigned="1"'))
    assert entry["acs_urls"][0] == "https://a.test/default"
    assert entry.get("want_authn_requests_signed") is True


def test_sp_metadata_with_a_non_ascii_digit_index_is_not_a_crash():
    xml = sp_metadata(acs("https://a.test/a", extra='index="\u00b2"')
                      + acs("https://a.test/b", extra='index="1"'))
    try:
        entry = sp_from_metadata(xml)
    except DirectoryEditError as error:
        assert error.field == "metadata_xml"
    else:
        assert sorted(entry["acs_urls"]) == ["https://a.test/a", "https://a.test/b"]


def test_an_sp_certificate_that_is_not_a_certificate_is_refused(doc):
    entry = sp_from_metadata(sp_metadata(key_descriptor("QUJD") + acs("https://a.test/acs"),
                                         attributes='AuthnRequestsSigned="true"'))
    with pytest.raises(DirectoryEditError, match="certificate"):
        doc.with_service_provider(entry).build()


# --- YAML round trips -----------------------------------------------------------------------


UNQUOTED_ACCOUNT = """\
accounts:
  111122223333:
    roles:
      Admin: {}
users:
  bob:
    password: pw
    email: bob@x.example
"""


def test_with_role_in_an_unquoted_account():
    document, _ = DirectoryDocument.read(UNQUOTED_ACCOUNT, aws_acs=AWS_ACS, source="d.yaml")
    directory = document.with_role("Auditor").build()
    assert [role.name for role in directory.accounts[PROD].roles] == ["Admin", "Auditor"]


def test_read_a_user_whose_name_yaml_would_type():
    text = "users:\n  on:\n    password: pw\n    email: on@x.example\n"
    document, directory = DirectoryDocument.read(text, aws_acs=AWS_ACS, source="d.yaml")
    assert list(document.build().users) == list(directory.users) == ["on"]


def test_values_keep_their_text_across_an_edit():
    text = "users:\n  bob:\n    password: pw\n    email: bob@x.example\n    display_name: no\n"
    document, directory = DirectoryDocument.read(text, aws_acs=AWS_ACS, source="d.yaml")
    assert directory.users["bob"].display_name == "no"
    assert document.with_user("erin", password="pw").build().users["bob"].display_name == "no"


@pytest.mark.parametrize("iterations", ["0", "\u00b2"])
def test_a_password_hash_with_unusable_iterations_is_refused(iterations):
    stored = f"pbkdf2-sha256${iterations}$AAAAAAAAAAAAAAAAAAAAAA==${'A' * 43}="
    with pytest.raises(ConfigError, match="password_hash"):
        DirectoryDocument.from_data(
            {"users": {"bob": {"password_hash": stored, "email": "bob@x.example"}}},
            aws_acs=AWS_ACS)


# --- the loader: roles under a user ---------------------------------------------------------


USER_ROLES = """\
accounts:
  "111122223333":
    roles:
      Admin: {}
      ReadOnly: {}
users:
  bob:
    password: pw
    email: bob@x.example
    roles:
      - arn:aws:iam::111122223333:role/ReadOnly
      - %s
"""


def test_loader_grants_a_users_own_roles_once():
    directory = parse_directory(USER_ROLES % "arn:aws:iam::111122223333:role/ReadOnly",
                                aws_acs=AWS_ACS, source="dir.yaml")
    assert directory.users["bob"].roles == (READ_ONLY,)
    assert arns(directory, "bob") == [READ_ONLY]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("arn:aws:iam::111122223333:role/Nope",
         "dir.yaml:12: user bob grants arn:aws:iam::111122223333:role/Nope, which no account "
         "defines"),
        ("arn:aws:iam::999999999999:role/Admin",
         "dir.yaml:12: user bob grants arn:aws:iam::999999999999:role/Admin, which no account "
         "defines"),
        ("Admin", "dir.yaml:12: 'Admin' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
    ],
)
def test_loader_refuses_a_users_undefined_role_with_file_and_line(value, message):
    with pytest.raises(ConfigError) as caught:
        parse_directory(USER_ROLES % value, aws_acs=AWS_ACS, source="dir.yaml")
    assert str(caught.value) == message


def test_loader_user_roles_must_be_a_list():
    text = USER_ROLES.replace("    roles:\n      - arn:aws:iam::111122223333:role/ReadOnly\n"
                              "      - %s\n", "    roles: {a: b}\n")
    with pytest.raises(ConfigError) as caught:
        parse_directory(text, aws_acs=AWS_ACS, source="dir.yaml")
    assert str(caught.value) == "dir.yaml:10: roles of user bob must be a list"
